package watch_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	secretKey = "bench-watch-secret"
	channel   = "C0TICKETS"
	// childEnv makes the test binary serve the fakes instead of testing.
	childEnv = "BENCH_WATCH_CHILD"
	// ticketsEnv is how many tickets are seeded; default 10,000.
	ticketsEnv = "BENCH_TICKETS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "fakes" {
		os.Exit(runChild())
	}
	code := m.Run()
	removeTemplates()
	os.Exit(code)
}

func ticketCount() int { return envInt(ticketsEnv, 10000) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// seedBase is long before any run, so changes made with the real clock are
// always newer than every seeded ticket.
var seedBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var seedStatuses = []int{
	taskipfake.StatusClosed, taskipfake.StatusResolved, taskipfake.StatusClosed, taskipfake.StatusOpen,
	taskipfake.StatusInProgress, taskipfake.StatusPending, taskipfake.StatusClosed, taskipfake.StatusResolved,
	taskipfake.StatusClosed, taskipfake.StatusOpen,
}

// seedTickets fills s with tickets 1..n. Everything is deterministic (ids,
// UUIDs, times), so a state file recorded against one seeded fake is valid
// for another: the benchmarks copy one baseline instead of recording it in
// every round. updated_at is spread over about two weeks and is not in id
// order, as on a real helpdesk. It returns the newest updated_at.
func seedTickets(s *taskipfake.Server, n int) time.Time {
	agents := []string{"David Chen", "Maria Lopez", "Sam Okafor", "Priya Nair"}
	for i, name := range agents {
		s.SeedTeamMember(taskipfake.TeamMember{ID: 8 + i, Name: name,
			Email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"})
	}
	var newest time.Time
	for i := 1; i <= n; i++ {
		created := seedBase.Add(time.Duration(i) * 2 * time.Minute)
		updated := created.Add(time.Duration((i*7919)%n) * 2 * time.Minute)
		assigned := 0
		if i%3 != 0 {
			assigned = 8 + i%len(agents)
		}
		t := s.SeedTicket(taskipfake.Ticket{
			ID:          i,
			UUID:        fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Subject:     fmt.Sprintf("Cannot export invoice batch %d to PDF", i),
			Description: "After the last update the export button spins forever. Steps: open Billing, select the batch, Export.",
			User:        &taskipfake.Person{ID: 1000 + i%700, Name: fmt.Sprintf("Customer %d", i%700), Email: fmt.Sprintf("customer%d@acme.example", i%700)},
			Priority:    i % 5,
			Status:      seedStatuses[i%len(seedStatuses)],
			Category:    "billing",
			AssignedTo:  assigned,
			CreatedAt:   created,
			UpdatedAt:   updated,
		})
		if t.UpdatedAt.After(newest) {
			newest = t.UpdatedAt
		}
	}
	return newest
}

// flip is the status a benchmark change sets: open <-> pending, so every
// change is one status line in the thread.
func flip(status int) int {
	if status == taskipfake.StatusPending {
		return taskipfake.StatusOpen
	}
	return taskipfake.StatusPending
}

// fakes is taskipfake + slackfake as a benchmark drives them, in this
// process or in a child.
type fakes interface {
	TaskIPURL() string
	SlackURL() string
	// Mutate flips ticket id's status (open <-> pending) and sets its
	// updated_at to at, or to the server's clock when at is zero.
	Mutate(id int, at time.Time) error
	// Counts are TaskIP requests served and Slack calls received so far.
	Counts() (taskip, slack int)
	// ServerCPU is the fakes' own CPU time when they run in a child, else 0.
	ServerCPU() time.Duration
}

// inProc runs both fakes on loopback httptest servers in this process.
type inProc struct {
	tk    *taskipfake.Server
	tkURL string
	sf    *slackfake.Server
}

func newInProc(tb testing.TB, n int) *inProc {
	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(tk, n)
	srv := httptest.NewServer(tk.Handler())
	tb.Cleanup(srv.Close)
	sf := slackfake.New(tb)
	sf.SetChannels(channel)
	return &inProc{tk: tk, tkURL: srv.URL + taskipfake.BasePath, sf: sf}
}

func (p *inProc) TaskIPURL() string { return p.tkURL }
func (p *inProc) SlackURL() string  { return p.sf.URL() }
func (p *inProc) Mutate(id int, at time.Time) error {
	return p.tk.Mutate(id, func(t *taskipfake.Ticket) {
		t.Status = flip(t.Status)
		if !at.IsZero() {
			t.UpdatedAt = at
		}
	})
}
func (p *inProc) Counts() (int, int)       { return p.tk.RequestCount(), len(p.sf.Calls()) }
func (p *inProc) ServerCPU() time.Duration { return 0 }

// child runs both fakes in a re-executed test binary (runChild) and drives
// them over its stdin/stdout, a pipe round trip of a few microseconds.
type child struct {
	cmd          *exec.Cmd
	in           io.WriteCloser
	out          *bufio.Reader
	tkURL, slack string
	mu           sync.Mutex
}

func newChild(tb testing.TB, n int) *child {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=fakes", ticketsEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	tb.Cleanup(func() {
		_ = in.Close() // EOF on stdin ends the child
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			tb.Fatalf("child fakes: %v", err)
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "taskip":
			c.tkURL = v
		case "slack":
			c.slack = v
		case "ready":
			return c
		}
	}
}

func (c *child) ask(cmd string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return "", err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "err "); ok {
		return "", fmt.Errorf("child: %s", rest)
	}
	return line, nil
}

func (c *child) TaskIPURL() string { return c.tkURL }
func (c *child) SlackURL() string  { return c.slack }
func (c *child) Mutate(id int, at time.Time) error {
	var unix int64
	if !at.IsZero() {
		unix = at.Unix()
	}
	_, err := c.ask(fmt.Sprintf("mutate %d %d", id, unix))
	return err
}
func (c *child) Counts() (int, int) {
	line, err := c.ask("counts")
	if err != nil {
		panic(err)
	}
	var tk, sl int
	_, _ = fmt.Sscan(line, &tk, &sl)
	return tk, sl
}
func (c *child) ServerCPU() time.Duration {
	line, err := c.ask("cpu")
	if err != nil {
		panic(err)
	}
	ns, _ := strconv.ParseInt(line, 10, 64)
	return time.Duration(ns)
}

// childTB is the one testing.TB method slackfake.New calls (Cleanup); the
// embedded nil interface is never reached.
type childTB struct {
	testing.TB
	cleanups []func()
}

func (c *childTB) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

// runChild serves seeded fakes on 127.0.0.1 and answers commands on stdin
// until EOF: "mutate ID UNIX" (0 = server clock), "counts", "cpu".
func runChild() int {
	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(tk, ticketCount())
	tb := &childTB{}
	sf := slackfake.New(tb)
	sf.SetChannels(channel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = tk.ServeListener(ctx, ln); close(served) }()
	fmt.Printf("taskip http://%s%s\nslack %s\nready\n", ln.Addr(), taskipfake.BasePath, sf.URL())
	p := &inProc{tk: tk, sf: sf}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "mutate":
			id, _ := strconv.Atoi(f[1])
			unix, _ := strconv.ParseInt(f[2], 10, 64)
			var at time.Time
			if unix != 0 {
				at = time.Unix(unix, 0)
			}
			if err := p.Mutate(id, at); err != nil {
				fmt.Printf("err %v\n", err)
				continue
			}
			fmt.Println("ok")
		case "counts":
			fmt.Println(tk.RequestCount(), len(sf.Calls()))
		case "cpu":
			fmt.Println(int64(processCPU()))
		default:
			fmt.Printf("err unknown command %q\n", f[0])
		}
	}
	cancel()
	<-served
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	return 0
}

// processCPU is this process's user + system CPU time so far, all threads
// (the Go runtime's GC workers included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
