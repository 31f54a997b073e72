//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The end-to-end tests run the daemon as a real process (the test binary
// re-executed) so that SIGKILL, SIGTERM and the state file lock behave as
// they do in production, which no in-process harness can fake.
const (
	envDaemon = "TICKETSYNC_TEST_DAEMON"
	envConfig = "TICKETSYNC_TEST_CONFIG"

	testSecretKey = "test-secret-key"
	supportAddr   = "support@example.com"
)

func TestMain(m *testing.M) {
	if os.Getenv(envDaemon) == "1" {
		// Mirrors main(): the child must react to signals exactly as the
		// shipped binary does, or the shutdown tests prove nothing.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		go exitWithParent()
		code := dispatch(ctx, []string{"run", "--config", os.Getenv(envConfig)}, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// exitWithParent ends a daemon whose test binary died without its cleanup
// (a panic, -timeout): in a process group of its own, nothing else would
// stop it holding ports and running forever.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(200 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(3)
		}
	}
}

// daemonEnv is a TaskIP fake, an IMAP server and a config file for child
// daemons, all on loopback.
type daemonEnv struct {
	t      *testing.T
	dir    string
	config string
	fake   *taskipfake.Server
	imap   *mailtest.MemServer

	mu       sync.Mutex
	children []*child
}

func newDaemonEnv(t *testing.T) *daemonEnv {
	t.Helper()
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testSecretKey})
	fake.SeedExamples()
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	e := &daemonEnv{t: t, dir: t.TempDir(), fake: fake, imap: srv}
	e.config = filepath.Join(e.dir, "ticketsync.yaml")
	cfg := fmt.Sprintf(`taskip:
  base_url: %s
  secret_key: %s
  poll_schedule: "@every 1s"
state:
  path: %s
http:
  listen: "127.0.0.1:0"
log:
  level: debug
  format: json
mail:
  address: %s
  imap:
    addr: %s
    tls: none
    username: %s
    password: %s
    idle: true
    poll_schedule: "@every 1s"
  acknowledge_new: false
  send_agent_replies: false
  lookup_contacts: true
  # Conversations written side by side, so every crash test kills a
  # daemon with several TaskIP writes in flight.
  write_concurrency: 8
`, base, testSecretKey, e.statePath(), supportAddr, srv.Addr(), srv.Username(), srv.Password())
	writeFile(t, e.config, cfg)
	// Registered after the servers' cleanups, so it runs before them: the
	// children die before the servers they talk to.
	t.Cleanup(e.cleanup)
	return e
}

func (e *daemonEnv) statePath() string { return filepath.Join(e.dir, "state.db") }

func (e *daemonEnv) cleanup() {
	e.mu.Lock()
	children := slices.Clone(e.children)
	e.mu.Unlock()
	for _, c := range children {
		c.killGroup()
	}
	if !e.t.Failed() {
		return
	}
	outcomes := map[string]int{}
	for _, c := range children {
		e.t.Logf("--- stderr of daemon run %d (last 8 KiB) ---\n%s", c.n, tail(c.stderr(), 8<<10))
		for _, rec := range c.logRecords("email handled") {
			if o, ok := rec["outcome"].(string); ok {
				outcomes[o]++
			}
		}
	}
	e.t.Logf("\"email handled\" outcomes over all runs: %v", outcomes)
}

// child is one daemon process, the leader of its own process group.
type child struct {
	t       *testing.T
	n       int
	cmd     *exec.Cmd
	errPath string
	done    chan struct{}
	state   *os.ProcessState
}

// start launches a daemon on the env's config.
func (e *daemonEnv) start() *child {
	e.t.Helper()
	e.mu.Lock()
	n := len(e.children) + 1
	e.mu.Unlock()
	errPath := filepath.Join(e.dir, fmt.Sprintf("daemon-%d.stderr", n))
	errFile, err := os.Create(errPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer errFile.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDaemon+"=1", envConfig+"="+e.config)
	cmd.Stdout = errFile
	cmd.Stderr = errFile
	// A group of its own: SIGKILL must reach everything the daemon runs,
	// and ^C on `go test` must not reach the child twice.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start daemon: %v", err)
	}
	c := &child{t: e.t, n: n, cmd: cmd, errPath: errPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	e.mu.Lock()
	e.children = append(e.children, c)
	e.mu.Unlock()
	return c
}

func (c *child) signalGroup(sig syscall.Signal) {
	// ESRCH: the group is already gone, which is what the caller wants.
	if err := syscall.Kill(-c.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.t.Errorf("signal daemon run %d: %v", c.n, err)
	}
}

// kill SIGKILLs the group and reaps the child.
func (c *child) killGroup() {
	select {
	case <-c.done:
		return
	default:
	}
	c.signalGroup(syscall.SIGKILL)
	<-c.done
}

// wait returns the exit code, or false if the child still runs after d.
func (c *child) wait(d time.Duration) (int, bool) {
	select {
	case <-c.done:
		return c.state.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) stderr() string {
	b, err := os.ReadFile(c.errPath)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return string(b)
}

// logRecords returns the JSON log records with message msg.
func (c *child) logRecords(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(c.stderr()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// httpAddr waits for the "ticketsync running" record and returns its http
// address; the listener is on port 0, so the log is the only place to learn it.
func (c *child) httpAddr(d time.Duration) string {
	c.t.Helper()
	var addr string
	ok := poll(d, func() bool {
		if recs := c.logRecords("ticketsync running"); len(recs) > 0 {
			addr, _ = recs[0]["http"].(string)
		}
		return addr != "" || c.exited()
	})
	if !ok || addr == "" {
		c.t.Fatalf("daemon run %d never logged \"ticketsync running\"\n%s", c.n, tail(c.stderr(), 8<<10))
	}
	return addr
}

// poll checks cond every 50 ms until it holds or d passes.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unseen counts INBOX messages the daemon has not marked processed.
func (e *daemonEnv) unseen() (unseen, total int) {
	msgs := e.imap.Messages(e.t, "INBOX")
	for _, m := range msgs {
		if !slices.Contains(m.Flags, `\Seen`) {
			unseen++
		}
	}
	return unseen, len(msgs)
}

// hasRequest reports whether the fake has seen (at least the start of) a
// request; it logs before its latency, so this holds while one is in flight.
func hasRequest(fake *taskipfake.Server, method, path string) bool {
	for _, r := range fake.Requests() {
		if r.Method == method && r.Path == taskipfake.BasePath+path {
			return true
		}
	}
	return false
}

// requireNoIntents opens the state file the way the next daemon would; the
// child must have exited, or the lock makes this fail.
func (e *daemonEnv) requireNoIntents() {
	e.t.Helper()
	st, err := state.Open(state.Config{Path: e.statePath()})
	if err != nil {
		e.t.Fatalf("open state: %v", err)
	}
	defer st.Close()
	intents, err := st.Intents()
	if err != nil {
		e.t.Fatalf("intents: %v", err)
	}
	for _, in := range intents {
		e.t.Errorf("leftover intent %s (%s, uid %d)", in.Key, in.Kind, in.UID)
	}
}

// newTickets returns the tickets made after the seeded ones (ids 1..45).
func (e *daemonEnv) newTickets() []taskipfake.Ticket {
	var out []taskipfake.Ticket
	for _, t := range e.fake.Tickets() {
		if t.ID > 45 {
			out = append(out, t)
		}
	}
	return out
}

// mailMsg builds a plain-text customer mail; extra headers are "Name: value".
func mailMsg(id, from, subject, body string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n", from, from, supportAddr, subject)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s>\r\n", time.Now().Format(time.RFC1123Z), id)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
