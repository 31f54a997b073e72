package intake

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildDaemon builds the binary the benchmark runs as a child process:
// cmd/ticketsync, or with BENCH_PROFILE_DIR the profiling wrapper
// bench/intake/profrun (the same wiring with a CPU profiler around it).
// BENCH_BIN names a prebuilt binary instead.
func buildDaemon(t testing.TB, profile bool) string {
	t.Helper()
	if bin := os.Getenv("BENCH_BIN"); bin != "" && !profile {
		return bin
	}
	pkg := "github.com/ticketsync/ticketsync/cmd/ticketsync"
	if profile {
		pkg = "github.com/ticketsync/ticketsync/bench/intake/profrun"
	}
	bin := filepath.Join(t.TempDir(), "ticketsync")
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

type daemonConfig struct {
	APIBase, StatePath, Listen string
	IMAPAddr, User, Pass       string
	MaxMessageBytes            int64
}

const configTemplate = `# written by bench/intake
taskip:
  base_url: %q
  secret_key: %q
  timeout: 30s
  poll_schedule: "@every 1h"   # the ticket watch is not measured here
state:
  path: %q
http:
  listen: %q
log:
  level: warn
  format: text
mail:
  address: %s
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
    idle: true
    poll_schedule: "@every 5s"
  max_message_bytes: %d
  lookup_contacts: true
  create_contacts: false
  acknowledge_new: false
  send_agent_replies: false
`

func writeConfig(t testing.TB, dir string, c daemonConfig) string {
	t.Helper()
	path := filepath.Join(dir, "ticketsync.yaml")
	body := fmt.Sprintf(configTemplate, c.APIBase, secretKey, c.StatePath, c.Listen, supportAddr,
		c.IMAPAddr, c.User, c.Pass, c.MaxMessageBytes)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr returns a loopback address nobody listens on (for the daemon's
// /metrics, read at the end of a run).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is `ticketsync run` as a child process.
type daemon struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	state  *os.ProcessState
}

func startDaemon(t testing.TB, bin, config string, env ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, "run", "--config", config), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.stderr, d.stderr
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		d.state = d.cmd.ProcessState
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

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// memory reads VmHWM (peak resident set) and VmRSS from /proc, in bytes.
// Not getrusage's ru_maxrss of the exited child: Go starts children with
// vfork semantics (CLONE_VM), and exec records the parent's high-water mark
// as the child's, so that figure is the bench process's peak, not the
// daemon's.
func (d *daemon) memory() (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.pid()))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmHWM":
			hwm = n << 10
		case "VmRSS":
			rss = n << 10
		}
	}
	return hwm, rss
}

// cpu is the child's user+system CPU time so far (/proc/PID/stat, in clock
// ticks of 10 ms).
func (d *daemon) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.pid()))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (d *daemon) signal(sig syscall.Signal) { _ = d.cmd.Process.Signal(sig) }

// stop sends SIGTERM and waits for the exit (SPEC 7: within 10 s).
func (d *daemon) stop(t testing.TB) (took time.Duration, code int) {
	t.Helper()
	start := time.Now()
	d.signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("daemon did not exit within 15 s of SIGTERM")
	}
	return time.Since(start), d.state.ExitCode()
}

func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
