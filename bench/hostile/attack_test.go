package hostile_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// attack is the hostile traffic: body holders and idle connections, each
// a goroutine that connects, does its thing, and when the server closes
// the connection waits redial and connects again, until stop.
type attack struct {
	target  string
	redial  time.Duration
	srcBase int // first source address: 127.0.0.srcBase

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Idle connections.
	idleDialed  atomic.Int64 // connections made
	idleOpen    atomic.Int64 // open now, as the attacker sees it
	idleMaxOpen atomic.Int64
	idleClosed  atomic.Int64 // closed by the server
	idleDialErr atomic.Int64

	// Body holders.
	bodyDialed  atomic.Int64
	body401     atomic.Int64 // answered 401
	bodyOther   atomic.Int64 // answered something else
	bodyNoReply atomic.Int64 // closed or reset without a readable answer
	bodyDialErr atomic.Int64
	bodyAnswer  latencies // head sent → answer read
	errMu       sync.Mutex
	bodyErrors  map[string]int // why answers were missing, by error text
}

// attackStats is an attack's counters at one moment, as a child process
// reports them to the harness.
type attackStats struct {
	IdleDialed, IdleOpen, IdleMaxOpen, IdleClosed, IdleDialErr int64
	BodyDialed, Body401, BodyOther, BodyNoReply, BodyDialErr   int64
	BodyAnswer                                                 []time.Duration `json:",omitempty"`
	BodyErrors                                                 map[string]int  `json:",omitempty"`
}

// errKind is an error's text without addresses, to count alike errors
// together.
func errKind(err error) string {
	return addrRE.ReplaceAllString(err.Error(), "ADDR")
}

var addrRE = regexp.MustCompile(`[0-9.]+:[0-9]+`)

func (a *attack) stats(final bool) attackStats {
	s := attackStats{
		IdleDialed: a.idleDialed.Load(), IdleOpen: a.idleOpen.Load(), IdleMaxOpen: a.idleMaxOpen.Load(),
		IdleClosed: a.idleClosed.Load(), IdleDialErr: a.idleDialErr.Load(),
		BodyDialed: a.bodyDialed.Load(), Body401: a.body401.Load(), BodyOther: a.bodyOther.Load(),
		BodyNoReply: a.bodyNoReply.Load(), BodyDialErr: a.bodyDialErr.Load(),
	}
	if final {
		a.errMu.Lock()
		s.BodyErrors = maps.Clone(a.bodyErrors)
		a.errMu.Unlock()
		a.bodyAnswer.mu.Lock()
		s.BodyAnswer = append([]time.Duration(nil), a.bodyAnswer.ds...)
		a.bodyAnswer.mu.Unlock()
	}
	return s
}

// bodySize is what each holder declares: the largest body the daemon
// accepts, unsigned.
const bodySize = 1 << 20

// startAttack starts holders body holders and idle idle connections, the
// idle ones ramped evenly over ramp. Source addresses are spread over 50
// addresses from 127.0.0.srcBase so that tens of thousands of connections
// do not run out of ephemeral ports on one address.
func startAttack(target string, holders, idle int, ramp, redial time.Duration, srcBase int) *attack {
	ctx, cancel := context.WithCancel(context.Background())
	a := &attack{target: target, redial: redial, cancel: cancel, srcBase: srcBase}
	for i := range holders {
		a.wg.Go(func() { a.holdBody(ctx, i) })
	}
	for i := range idle {
		delay := time.Duration(int64(ramp) * int64(i) / int64(max(idle, 1)))
		a.wg.Go(func() {
			if !sleep(ctx, delay) {
				return
			}
			a.holdIdle(ctx, i)
		})
	}
	return a
}

// stop ends every attacking connection and waits for the goroutines.
func (a *attack) stop() {
	a.cancel()
	a.wg.Wait()
}

// pause is redial give or take half: connections the server closed
// together do not all come back together, so the attack is a steady rate
// of about (idle + holders) / redial connections a second, not waves.
func (a *attack) pause() time.Duration {
	return a.redial/2 + rand.N(a.redial+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (a *attack) dial(ctx context.Context, i int) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(a.srcBase+i%50))}}
	return d.DialContext(ctx, "tcp", a.target)
}

// holdIdle keeps one connection open and silent; every other one first
// makes a request it would keep alive, where the listener answers one
// without closing (health on the public listener). A connection the
// server closes is made again after redial.
func (a *attack) holdIdle(ctx context.Context, i int) {
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		c, err := a.dial(ctx, i)
		if err != nil {
			if ctx.Err() == nil {
				a.idleDialErr.Add(1)
			}
			sleep(ctx, a.pause())
			continue
		}
		a.idleDialed.Add(1)
		open := a.idleOpen.Add(1)
		for {
			m := a.idleMaxOpen.Load()
			if open <= m || a.idleMaxOpen.CompareAndSwap(m, open) {
				break
			}
		}
		stopClose := context.AfterFunc(ctx, func() { _ = c.Close() })
		if i%2 == 1 {
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
		}
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if stopClose() {
			a.idleClosed.Add(1) // the server's doing, not stop's
		}
		_ = c.Close()
		a.idleOpen.Add(-1)
		sleep(ctx, a.pause())
	}
}

// holdBody sends an unsigned request declaring a 1 MiB body and then the
// body, all but its last byte, and holds the connection: what, before the
// headers were checked first, kept 1 MiB per connection in the daemon.
func (a *attack) holdBody(ctx context.Context, i int) {
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'a'
	}
	for ctx.Err() == nil {
		c, err := a.dial(ctx, i+100)
		if err != nil {
			if ctx.Err() == nil {
				a.bodyDialErr.Add(1)
			}
			sleep(ctx, a.pause())
			continue
		}
		a.bodyDialed.Add(1)
		stopClose := context.AfterFunc(ctx, func() { _ = c.Close() })
		start := time.Now()
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := fmt.Fprintf(c, "POST /slack/commands HTTP/1.1\r\nHost: bridge\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", bodySize); err != nil {
				return
			}
			for left := bodySize - 1; left > 0; left -= len(chunk) {
				if _, err := c.Write(chunk[:min(len(chunk), left)]); err != nil {
					return
				}
			}
		})
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.bodyNoReply.Add(1)
				a.errMu.Lock()
				if a.bodyErrors == nil {
					a.bodyErrors = map[string]int{}
				}
				a.bodyErrors[errKind(err)]++
				a.errMu.Unlock()
			}
		case resp.StatusCode == http.StatusUnauthorized:
			a.body401.Add(1)
			a.bodyAnswer.add(time.Since(start))
		default:
			a.bodyOther.Add(1)
		}
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // until the server closes
		}
		stopClose()
		_ = c.Close()
		wg.Wait()
		sleep(ctx, a.pause())
	}
}

// The attack runs in child processes (this test binary again, as
// TestAttackerChild): a process may hold no more than the machine's 20,000
// file descriptors, and without CAP_SYS_RESOURCE the limit cannot be
// raised, so 20,000 idle connections and the holders are split between
// several attackers. Each reports its counters on stdout every 200 ms and
// stops when its stdin closes.

const childEnv = "BENCH_ATTACK_CHILD"

// TestAttackerChild is one attacking process; it skips unless the harness
// started it.
func TestAttackerChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("started by TestHostileTraffic")
	}
	env := func(name string) int {
		n, err := strconv.Atoi(os.Getenv(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	ramp, err1 := time.ParseDuration(os.Getenv("BENCH_CHILD_RAMP"))
	redial, err2 := time.ParseDuration(os.Getenv("BENCH_CHILD_REDIAL"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	a := startAttack(os.Getenv("BENCH_CHILD_TARGET"), env("BENCH_CHILD_HOLDERS"), env("BENCH_CHILD_IDLE"),
		ramp, redial, env("BENCH_CHILD_SRC"))
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	out := json.NewEncoder(os.Stdout)
	report := func(final bool) {
		_ = out.Encode(struct {
			Final bool
			attackStats
		}{final, a.stats(final)})
	}
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ticker.C:
			report(false)
		case <-stdinClosed:
			break loop
		}
	}
	a.stop()
	report(true)
}

// attackers are the child processes of one attack, seen from the harness.
type attackers struct {
	mu      sync.Mutex
	procs   []*attackerProc
	maxOpen int64 // most idle connections open at once, summed over the children's reports
}

type attackerProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
	last  attackStats // guarded by attackers.mu
	final bool
}

// startAttackers splits holders and idle over n child processes.
func startAttackers(t *testing.T, n int, target string, holders, idle int, ramp, redial time.Duration) *attackers {
	t.Helper()
	as := &attackers{}
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAttackerChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1",
			"BENCH_CHILD_TARGET="+target,
			fmt.Sprintf("BENCH_CHILD_HOLDERS=%d", share(holders, n, i)),
			fmt.Sprintf("BENCH_CHILD_IDLE=%d", share(idle, n, i)),
			"BENCH_CHILD_RAMP="+ramp.String(), "BENCH_CHILD_REDIAL="+redial.String(),
			fmt.Sprintf("BENCH_CHILD_SRC=%d", 2+(i%5)*50))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start attacker %d: %v", i, err)
		}
		p := &attackerProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
		as.procs = append(as.procs, p)
		go func() {
			defer close(p.done)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var line struct {
					Final bool
					attackStats
				}
				if json.Unmarshal(sc.Bytes(), &line) != nil {
					continue // go test's own lines
				}
				as.mu.Lock()
				p.last, p.final = line.attackStats, line.Final
				var open int64
				for _, q := range as.procs {
					open += q.last.IdleOpen
				}
				as.maxOpen = max(as.maxOpen, open)
				as.mu.Unlock()
			}
			_ = cmd.Wait()
		}()
	}
	t.Cleanup(func() { as.stop() })
	return as
}

func share(total, n, i int) int { return total/n + btoi(i < total%n) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sum adds up the children's latest counters.
func (as *attackers) sum() attackStats {
	as.mu.Lock()
	defer as.mu.Unlock()
	var s attackStats
	for _, p := range as.procs {
		l := p.last
		s.IdleDialed += l.IdleDialed
		s.IdleOpen += l.IdleOpen
		s.IdleClosed += l.IdleClosed
		s.IdleDialErr += l.IdleDialErr
		s.BodyDialed += l.BodyDialed
		s.Body401 += l.Body401
		s.BodyOther += l.BodyOther
		s.BodyNoReply += l.BodyNoReply
		s.BodyDialErr += l.BodyDialErr
		s.BodyAnswer = append(s.BodyAnswer, l.BodyAnswer...)
		for k, v := range l.BodyErrors {
			if s.BodyErrors == nil {
				s.BodyErrors = map[string]int{}
			}
			s.BodyErrors[k] += v
		}
	}
	s.IdleMaxOpen = as.maxOpen
	return s
}

// stop closes every child's stdin and waits for its final report.
func (as *attackers) stop() {
	for _, p := range as.procs {
		_ = p.stdin.Close()
	}
	for _, p := range as.procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}
