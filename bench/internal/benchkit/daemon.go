package benchkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Daemon is `ticketsync run --config FILE` as a child process, so its
// memory and CPU are its own and readable from /proc (measure.go). Its
// stdout and stderr are kept whole (Log) and read line by line: a JSON
// line (log format json) is an entry Await can wait for, and a line above
// INFO, or one that is not JSON, is kept for Problems.
type Daemon struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	out     *output
}

// StartDaemon starts bin as `run --config config`, with env as the child's
// environment the way exec.Cmd.Env takes it: nil inherits this process's,
// an empty slice gives none. The daemon is killed at the end of the test
// if it is still running.
func StartDaemon(tb testing.TB, bin, config string, env []string) *Daemon {
	tb.Helper()
	d := &Daemon{cmd: exec.Command(bin, "run", "--config", config), exited: make(chan struct{}),
		out: &output{changed: make(chan struct{}, 1)}}
	d.cmd.Env = env
	// One writer for both: exec copies them through one pipe, one Write at a
	// time.
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start daemon: %v", err)
	}
	d.started = time.Now()
	go func() {
		_ = d.cmd.Wait() // returns once the output is copied
		d.out.flush()
		close(d.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Alive reports whether the daemon has not exited yet.
func (d *Daemon) Alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) { _ = d.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits for the exit (within the 10 s a container runtime allows; the test
// fails after 15 s and the daemon is killed). It returns how long that
// took and the exit code. The state file's lock is released when it
// returns, so a next start does not race it.
func (d *Daemon) Stop(tb testing.TB) (took time.Duration, code int) {
	tb.Helper()
	start := time.Now()
	d.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		tb.Errorf("daemon did not exit within 15 s of SIGTERM")
	}
	return time.Since(start), d.cmd.ProcessState.ExitCode()
}

// Await waits for the log entry with message msg (log format json) and
// returns it; the test fails if the daemon exits first or timeout passes.
func (d *Daemon) Await(tb testing.TB, msg string, timeout time.Duration) map[string]any {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		if e := d.out.find(msg); e != nil {
			return e
		}
		select {
		case <-d.out.changed:
		case <-d.exited:
			tb.Fatalf("daemon exited before %q; log:\n%s", msg, d.Problems())
		case <-deadline:
			tb.Fatalf("no %q within %s; log:\n%s", msg, timeout, d.Problems())
		}
	}
}

// AwaitReady polls url (the daemon's /readyz) until it answers 200 and
// returns the time since the process was started. The poll is tight
// (1 ms), so the figure can serve as a start-up time of tens of
// milliseconds.
func (d *Daemon) AwaitReady(tb testing.TB, url string, timeout time.Duration) time.Duration {
	tb.Helper()
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
		if !d.Alive() {
			tb.Fatalf("daemon exited before ready; log:\n%s", d.Problems())
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not 200 within %s (last: %v); log:\n%s", url, timeout, err, d.Problems())
		}
		time.Sleep(time.Millisecond)
	}
}

// Log is everything the daemon wrote so far, stdout and stderr.
func (d *Daemon) Log() string {
	d.out.mu.Lock()
	defer d.out.mu.Unlock()
	return d.out.all.String()
}

// Problems is the lines above INFO (and those that are not JSON), the first
// 40 of them: what a failure message shows.
func (d *Daemon) Problems() string {
	d.out.mu.Lock()
	defer d.out.mu.Unlock()
	if n := len(d.out.notes); n > 40 {
		return strings.Join(d.out.notes[:40], "\n") + fmt.Sprintf("\n... %d more", n-40)
	}
	return strings.Join(d.out.notes, "\n")
}

// output is the daemon's stdout and stderr, split into lines as they come.
type output struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte // the line being written
	entries []map[string]any
	notes   []string // lines above INFO, and lines that are not JSON
	changed chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.all.Write(p)
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(string(bytes.TrimSuffix(o.partial[:i], []byte("\r"))))
		o.partial = o.partial[i+1:]
	}
	o.partial = append([]byte(nil), o.partial...)
	o.mu.Unlock()
	o.notify()
	return len(p), nil
}

// flush takes a last line that did not end in a newline.
func (o *output) flush() {
	o.mu.Lock()
	if len(o.partial) > 0 {
		o.line(string(o.partial))
		o.partial = nil
	}
	o.mu.Unlock()
	o.notify()
}

// line records one line; o.mu is held.
func (o *output) line(line string) {
	var e map[string]any
	if json.Unmarshal([]byte(line), &e) != nil {
		e = map[string]any{"msg": line, "level": "RAW"}
	}
	o.entries = append(o.entries, e)
	if lvl, _ := e["level"].(string); lvl != "INFO" && lvl != "DEBUG" {
		o.notes = append(o.notes, line)
	}
}

func (o *output) notify() {
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *output) find(msg string) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.entries {
		if e["msg"] == msg {
			return e
		}
	}
	return nil
}
