package idle_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is `ticketsync run` as a child process with log format json, so
// its memory and CPU are its own and readable from /proc.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}

	mu      sync.Mutex
	entries []map[string]any
	notes   []string // lines above info
	changed chan struct{}
}

func startDaemon(t *testing.T, bin, config string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, "run", "--config", config), exited: make(chan struct{}), changed: make(chan struct{}, 1)}
	// The daemon needs nothing from the environment here; an empty one also
	// proves the distroless image's situation.
	d.cmd.Env = []string{}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.started = time.Now()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				e = map[string]any{"msg": line, "level": "RAW"}
			}
			d.mu.Lock()
			d.entries = append(d.entries, e)
			if lvl, _ := e["level"].(string); lvl != "INFO" && lvl != "DEBUG" {
				d.notes = append(d.notes, line)
			}
			d.mu.Unlock()
			select {
			case d.changed <- struct{}{}:
			default:
			}
		}
		_ = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

// await waits for a log entry with message msg.
func (d *daemon) await(t *testing.T, msg string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for _, e := range d.entries {
			if e["msg"] == msg {
				d.mu.Unlock()
				return
			}
		}
		d.mu.Unlock()
		select {
		case <-d.changed:
		case <-d.exited:
			t.Fatalf("daemon exited before %q; log:\n%s", msg, d.problems())
		case <-deadline:
			t.Fatalf("no %q within %s; log:\n%s", msg, timeout, d.problems())
		}
	}
}

// awaitReady polls url until it answers 200 and returns the time since the
// process was started. The poll is tight (1 ms) because the figure is a
// start-up time of tens of milliseconds.
func (d *daemon) awaitReady(t *testing.T, url string, timeout time.Duration) time.Duration {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(d.started)
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("daemon exited before ready; log:\n%s", d.problems())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within %s (last: %v); log:\n%s", url, timeout, err, d.problems())
		}
		time.Sleep(time.Millisecond)
	}
}

func (d *daemon) problems() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.notes) > 40 {
		return strings.Join(d.notes[:40], "\n") + fmt.Sprintf("\n... %d more", len(d.notes)-40)
	}
	return strings.Join(d.notes, "\n")
}

// stop sends SIGTERM and returns the exit code; the lock on the state file
// is released when this returns, so the next start does not race it.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("daemon did not exit within 15 s of SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

// cpu is the daemon's user+system CPU so far (/proc/PID/stat, 10 ms ticks).
func (d *daemon) cpu(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name in parentheses may contain spaces; fields count
	// from the closing one.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		t.Fatalf("/proc/PID/stat: %q", s)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// status reads the kB fields (VmRSS, VmHWM, ...) and Threads of
// /proc/PID/status.
func (d *daemon) status(t *testing.T) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}
