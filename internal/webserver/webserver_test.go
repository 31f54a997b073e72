package webserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/logtest"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no handler accepted")
	}
	if _, err := New(Config{Handler: okHandler(), MaxConnections: -1}); err == nil {
		t.Error("negative cap accepted")
	}
}

func TestDefaults(t *testing.T) {
	s, err := New(Config{Handler: okHandler()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.srv
	if h.ReadHeaderTimeout != DefaultReadHeaderTimeout || h.ReadTimeout != DefaultReadTimeout ||
		h.WriteTimeout != DefaultWriteTimeout || h.IdleTimeout != DefaultIdleTimeout || h.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("timeouts %v %v %v %v, header bytes %d", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}
}

// At the cap, the connection idle longest is closed to make room for a new
// one; the others stay.
func TestCapEvictsLongestIdle(t *testing.T) {
	ts := start(t, Config{Handler: okHandler(), MaxConnections: 3})
	var idle []net.Conn
	for range 3 {
		idle = append(idle, dial(t, ts.addr))
		time.Sleep(20 * time.Millisecond) // distinct ages
	}
	if !eventually(time.Second, func() bool { return ts.Open() == 3 }) {
		t.Fatalf("open = %d, want 3", ts.Open())
	}
	fresh := dial(t, ts.addr)
	if closed, took := closedWithin(idle[0], time.Second); !closed {
		t.Fatal("the oldest idle connection was not closed")
	} else {
		t.Logf("oldest closed after %v", took)
	}
	for i, c := range idle[1:] {
		if !stillOpen(c, 50*time.Millisecond) {
			t.Errorf("idle connection %d closed too", i+1)
		}
	}
	resp, body, err := get(fresh, "/")
	if err != nil || resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("new connection: %v %v %q", resp, err, body)
	}
	if n := ts.count(ReasonEvicted); n != 1 {
		t.Errorf("evicted = %d, want 1", n)
	}
	if ts.Open() > 3 {
		t.Errorf("open = %d over the cap", ts.Open())
	}
}

// A kept-alive connection that has been idle longest goes before a newer
// silent one; a connection whose request is in flight is never closed, and
// when all have one the new connection is refused.
func TestCapNeverEvictsRequestInFlight(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	ts := start(t, Config{Handler: h, MaxConnections: 2})

	kept := dial(t, ts.addr)
	if resp, _, err := get(kept, "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v %v", resp, err)
	}
	busy := dial(t, ts.addr)
	if _, err := io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the request reaches the handler

	second := dial(t, ts.addr) // the kept-alive one makes room
	if closed, _ := closedWithin(kept, time.Second); !closed {
		t.Fatal("the idle kept-alive connection was not closed")
	}
	if _, err := io.WriteString(second, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	refused := dial(t, ts.addr) // both remaining have a request in flight
	if closed, took := closedWithin(refused, time.Second); !closed {
		t.Fatal("a connection beyond the cap was kept while every slot was busy")
	} else if took > 500*time.Millisecond {
		t.Errorf("refused after %v, want at once", took)
	}
	if ts.count(ReasonRefused) != 1 {
		t.Errorf("refused = %d, want 1", ts.count(ReasonRefused))
	}
	once.Do(func() { close(release) })
	for i, c := range []net.Conn{busy, second} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("request in flight %d: %v %v", i, resp, err)
		}
	}
}

// Many more silent connections than the cap: a real request on a new
// connection is still answered at once, and the server holds no more than
// the cap.
func TestIdleFloodDoesNotLockOut(t *testing.T) {
	const max, flood = 16, 400
	ts := start(t, Config{Handler: okHandler(), MaxConnections: max})
	for range flood {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	if !eventually(2*time.Second, func() bool { return ts.count(ReasonEvicted) >= flood-max }) {
		t.Fatalf("evicted %d of %d", ts.count(ReasonEvicted), flood)
	}
	for range 20 {
		start := time.Now()
		resp, body, err := get(dial(t, ts.addr), "/")
		if err != nil || resp.StatusCode != http.StatusOK || body != "ok" {
			t.Fatalf("request during the flood: %v %v %q", resp, err, body)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("request took %v", took)
		}
	}
	if ts.Open() > max {
		t.Errorf("open = %d, cap %d", ts.Open(), max)
	}
}

// Silent, slow-header, slow-body and idle kept-alive connections are each
// closed by their timeout.
func TestTimeoutsCloseConnections(t *testing.T) {
	timeouts := Timeouts{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond,
		Write: 2 * time.Second, Idle: 400 * time.Millisecond}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "slow", http.StatusRequestTimeout)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	ts := start(t, Config{Handler: h, Timeouts: timeouts, MaxConnections: 64})
	const slack = 700 * time.Millisecond // scheduling on a busy machine

	drip := func(c net.Conn, s string, stop <-chan struct{}) {
		for i := range len(s) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}
	cases := []struct {
		name  string
		limit time.Duration
		run   func(c net.Conn, stop <-chan struct{})
	}{
		{"silent", timeouts.ReadHeader, func(net.Conn, <-chan struct{}) {}},
		{"slow header", timeouts.ReadHeader, func(c net.Conn, stop <-chan struct{}) {
			go drip(c, "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: "+strings.Repeat("a", 100), stop)
		}},
		{"slow body", timeouts.Read, func(c net.Conn, stop <-chan struct{}) {
			_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n")
			go drip(c, strings.Repeat("b", 100), stop)
		}},
		{"idle kept alive", timeouts.Idle, func(c net.Conn, _ <-chan struct{}) {
			resp, _, err := get(c, "/")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("first request: %v %v", resp, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			stop := make(chan struct{})
			defer close(stop)
			start := time.Now()
			tc.run(c, stop)
			closed, _ := closedWithin(c, tc.limit+slack-time.Since(start))
			if !closed {
				t.Fatalf("still open after %v (timeout %v)", time.Since(start), tc.limit)
			}
			t.Logf("closed after %v (timeout %v)", time.Since(start), tc.limit)
		})
	}
	if n := ts.count(ReasonHeaderTimeout); n != 2 {
		t.Errorf("header timeouts counted = %d, want 2 (silent, slow header)", n)
	}
}

// Refuse answers without reading the declared body and closes the
// connection at once, leaving nothing open on the server.
func TestRefuseDoesNotReadBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		Refuse(w, http.StatusServiceUnavailable)
	})
	ts := start(t, Config{Handler: h, MaxConnections: 8})
	c := dial(t, ts.addr)
	start := time.Now()
	_, err := fmt.Fprintf(c, "POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\nfirst bytes", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!resp.Close || string(body) != "Service Unavailable\n" {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if closed, _ := closedWithin(c, time.Second); !closed {
		t.Error("connection left open")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v", took)
	}
	if !eventually(time.Second, func() bool { return ts.Open() == 0 }) {
		t.Errorf("open = %d after the refusal", ts.Open())
	}
}

// A client still writing a large body when it is refused reads the answer
// rather than a connection reset: Go's client reports a failed write over
// a response that arrived, so this is what a reset would break.
func TestRefusedClientStillWritingReadsAnswer(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { Refuse(w, http.StatusRequestEntityTooLarge) })
	ts := start(t, Config{Handler: h, MaxConnections: 8})
	client := &http.Client{Timeout: 5 * time.Second}
	for range 20 {
		resp, err := client.Post("http://"+ts.addr+"/", "text/plain", bytes.NewReader(make([]byte, 4<<20)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if !eventually(2*time.Second, func() bool { return ts.Open() == 0 }) {
		t.Errorf("open = %d after the refusals", ts.Open())
	}
}

// A route without a body refuses one; the catch-all refuses everything.
func TestNoBodyAndNotFound(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", NoBody(okHandler()))
	mux.Handle("/", NotFound())
	ts := start(t, Config{Handler: mux})
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		method, path string
		body         io.Reader
		want         int
	}{
		{"GET", "/healthz", nil, http.StatusOK},
		{"GET", "/healthz", strings.NewReader("x"), http.StatusRequestEntityTooLarge},
		{"POST", "/healthz", nil, http.StatusNotFound},
		{"GET", "/other", nil, http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+ts.addr+tc.path, tc.body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

// A connection net/http has answered and is closing (here after a header
// over MaxHeaderBytes) is the first to go when room is needed.
func TestCapEvictsLingeringFirst(t *testing.T) {
	ts := start(t, Config{Handler: okHandler(), MaxConnections: 2, MaxHeaderBytes: 1024})
	idle := dial(t, ts.addr)
	time.Sleep(20 * time.Millisecond)
	big := dial(t, ts.addr)
	_, _ = fmt.Fprintf(big, "GET / HTTP/1.1\r\nHost: test\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 8<<10))
	_ = big.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(big), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big header: %v %v", resp, err)
	}
	// Its half-close arrives before the half second it lingers is over.
	if closed, _ := closedWithin(big, 300*time.Millisecond); !closed {
		t.Fatal("no half-close after the answer")
	}
	dial(t, ts.addr)
	if !stillOpen(idle, 100*time.Millisecond) {
		t.Error("the idle connection was closed instead of the lingering one")
	}
	if ts.count(ReasonEvicted) != 0 {
		t.Errorf("closing a lingering connection counted as an eviction")
	}
}

func TestLogLimiter(t *testing.T) {
	var buf logtest.Buffer
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &LogLimiter{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now }}
	for range 1000 {
		l.Warn("a", "refused", "reason", "a")
		l.Warn("b", "refused", "reason", "b")
	}
	now = now.Add(61 * time.Second)
	l.Warn("a", "refused", "reason", "a")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "reason=a") || !strings.Contains(lines[2], "suppressed=999") {
		t.Errorf("third line %q", lines[2])
	}
}

// net/http's own error lines go to the logger, limited per kind.
func TestErrorLogLimited(t *testing.T) {
	var buf logtest.Buffer
	lg := errorLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 100 {
		lg.Printf("http: Accept error: too many open files; retrying in 5ms")
	}
	lg.Printf("http: panic serving 127.0.0.1:1: boom")
	if n := bytes.Count([]byte(buf.String()), []byte("\n")); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, buf.String())
	}
}

// The eviction order, on the tracker alone: lingering, then waiting for a
// byte, then a header arriving, then not read yet; oldest first in each,
// and never one whose client has sent bytes nobody has read.
func TestEvictionOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var reasons []string
	tr := newTracker(5, func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() })
	// admit accepts a connection; its client sends send. No goroutine
	// reads the server side: the tracker's phases are set by hand.
	admit := func(send string) (*conn, bool) {
		client := dial(t, ln.Addr().String())
		if send != "" {
			if _, err := io.WriteString(client, send); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // on the server's side of loopback
		}
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close(); _ = client.Close() })
		c := newConn(nc, tr)
		return c, tr.admit(c)
	}
	must := func(c *conn, ok bool) *conn {
		if !ok {
			t.Fatal("refused")
		}
		return c
	}
	waiting := must(admit("GET / HTTP/1.1\r\n")) // looks quiet, has sent a request line
	unread := must(admit(""))
	silent := must(admit(""))
	header := must(admit(""))
	lingering := must(admit(""))
	tr.readStarted(waiting)
	tr.readStarted(silent)
	tr.readStarted(header)
	tr.headerStarted(header)
	tr.lingering(lingering)
	for i, want := range []*conn{lingering, silent, header, unread} {
		must(admit(""))
		if want.phase != phaseGone {
			t.Fatalf("round %d: expected %p evicted; phases waiting %d unread %d silent %d header %d lingering %d",
				i, want, waiting.phase, unread.phase, silent.phase, header.phase, lingering.phase)
		}
	}
	if waiting.phase == phaseGone {
		t.Error("the connection with a request waiting in its socket was closed")
	}
	if tr.open() != 5 {
		t.Errorf("open = %d", tr.open())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(reasons, ",") != "connection_evicted,connection_evicted,connection_evicted" {
		t.Errorf("reasons %v: the lingering one is no refusal", reasons)
	}
}

// A refused connection whose client keeps sending lingers, but no longer
// than Shutdown.
func TestShutdownEndsLingering(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { Refuse(w, http.StatusUnauthorized) })
	ts := start(t, Config{Handler: h, MaxConnections: 8})
	c := dial(t, ts.addr)
	go func() {
		_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 8<<20)
		_, _ = c.Write(make([]byte, 8<<20)) // fails once the server closes
	}()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("answer: %v %v", resp, err)
	}
	if ts.Open() != 1 {
		t.Fatalf("open = %d, want the lingering one", ts.Open())
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !eventually(time.Second, func() bool { return ts.Open() == 0 }) {
		t.Fatalf("open = %d after Shutdown", ts.Open())
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("lingering connection closed %v after Shutdown", took)
	}
}
