package webserver

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

// phase is where a connection is in its life, as far as eviction cares.
type phase uint8

const (
	phaseUnread  phase = iota // accepted, its serving goroutine has not read yet
	phaseNew                  // waiting for the first byte
	phaseIdle                 // kept alive, not a byte since the last answer
	phaseHeader               // part of a request header has arrived
	phaseActive               // a request is in flight: never evicted
	phaseClosing              // answered and half-closed, lingering before the close
	phaseGone                 // closed or evicted: no longer counted
)

// conn notes its first read, the first byte read after the connection
// became quiet (moments net/http does not report), and net/http's
// half-close.
type conn struct {
	net.Conn
	t *tracker
	// quiet is phase Unread, New or Idle, and started that a read has
	// begun; both readable without the lock, as Read checks them on every
	// call.
	quiet, started atomic.Bool
	// done is closed by the first Close: a lingering Refuse waits on it.
	done      chan struct{}
	closeOnce sync.Once

	// Guarded by t.mu.
	phase      phase
	list       *connList
	prev, next *conn
}

// newConn wraps nc, not counted until admitted.
func newConn(nc net.Conn, t *tracker) *conn {
	return &conn{Conn: nc, t: t, phase: phaseGone, done: make(chan struct{})}
}

func (c *conn) Read(p []byte) (int, error) {
	if !c.started.Load() {
		c.started.Store(true)
		c.t.readStarted(c)
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.quiet.Load() {
		c.t.headerStarted(c)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.readTimedOut(c)
	}
	return n, err
}

// CloseWrite is how net/http ends a connection whose answer the client
// must still read (it then waits half a second before closing). The
// connection has no request in flight any more, so it becomes the first to
// be closed when room is needed.
func (c *conn) CloseWrite() error {
	c.t.lingering(c)
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Close() error {
	c.t.forget(c)
	c.closeOnce.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// closed is closed once c is: by its handler, by eviction or by Shutdown.
func (c *conn) closed() <-chan struct{} { return c.done }

// connList is a list of connections, the one longest in it first.
type connList struct{ head, tail *conn }

func (l *connList) push(c *conn) {
	c.list, c.prev, c.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.list, c.prev, c.next = nil, nil, nil
}

// tracker counts the open connections and keeps the evictable ones in
// eviction order. Every operation is O(1) under one mutex, so a flood of
// connections costs the accepting goroutine nothing per open connection.
type tracker struct {
	max      int // 0: no cap
	rejected func(reason string)

	mu      sync.Mutex
	n       int
	closing connList // answered, lingering: close these first
	quiet   connList // waited for a byte since accepted, or since the last answer
	header  connList // a header is arriving
	// Accepted, not read yet: under a burst of connections the serving
	// goroutines run late, and a request may be waiting unread in the
	// socket. Closed last, so a burst of new connections does not close
	// each other before they had a chance.
	unread connList
}

func newTracker(max int, rejected func(string)) *tracker {
	return &tracker{max: max, rejected: rejected}
}

// setPhase moves c to p and to the list of p; t.mu is held.
func (t *tracker) setPhase(c *conn, p phase) {
	if c.list != nil {
		c.list.remove(c)
	}
	if c.phase != phaseGone && p == phaseGone {
		t.n--
	}
	c.phase = p
	c.quiet.Store(p == phaseUnread || p == phaseNew || p == phaseIdle)
	switch p {
	case phaseUnread:
		t.unread.push(c)
	case phaseNew, phaseIdle:
		t.quiet.push(c)
	case phaseHeader:
		t.header.push(c)
	case phaseClosing:
		t.closing.push(c)
	}
}

// admit counts a newly accepted connection, closing another to make room
// at the cap. It reports false, having closed c, when there was no room to
// make.
func (t *tracker) admit(c *conn) bool {
	t.mu.Lock()
	var victim *conn
	report := false
	if t.max > 0 && t.n >= t.max {
		if victim = t.victim(); victim == nil {
			t.mu.Unlock()
			_ = c.Conn.Close()
			t.rejected(ReasonRefused)
			return false
		}
		// A lingering connection has had its answer: closing it early
		// refuses nothing.
		report = victim.phase != phaseClosing
		t.setPhase(victim, phaseGone)
	}
	t.n++
	t.setPhase(c, phaseUnread)
	t.mu.Unlock()
	if victim != nil {
		// Its serving goroutine's read fails and it ends; net/http then
		// reports StateClosed, which finds the phase gone.
		_ = victim.Close()
		if report {
			t.rejected(ReasonEvicted)
		}
	}
	return true
}

// maxPeeks bounds the sockets victim looks into for one new connection,
// so that a flood of connections that each sent a byte costs a bounded
// number of system calls per accept.
const maxPeeks = 32

// victim picks the connection to close for a new one, or nil when every
// connection has a request in flight or bytes waiting to be read; t.mu is
// held. A quiet or unread connection whose client has sent bytes its
// serving goroutine has not read yet (under load it runs late) is not
// idle: it moves to the header list, behind the slow ones.
func (t *tracker) victim() *conn {
	if t.closing.head != nil {
		return t.closing.head
	}
	peeks := 0
	silent := func(l *connList, moveTo phase) *conn {
		var first *conn // the first one moved: met again, l has gone round
		for c := l.head; c != nil && c != first && peeks < maxPeeks; c = l.head {
			peeks++
			if !hasInput(c.Conn) {
				return c
			}
			if first == nil {
				first = c
			}
			t.setPhase(c, moveTo)
		}
		return nil
	}
	if c := silent(&t.quiet, phaseHeader); c != nil {
		return c
	}
	// A header that is arriving slowly: its goroutine has read what came
	// and waits for more. One with bytes waiting goes to the back.
	if c := silent(&t.header, phaseHeader); c != nil {
		return c
	}
	return silent(&t.unread, phaseHeader)
}

// connState follows net/http's view of each connection.
func (t *tracker) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	var p phase
	switch state {
	case http.StateActive:
		p = phaseActive
	case http.StateIdle:
		p = phaseIdle
	case http.StateHijacked:
		// In use by its handler until it closes it (Refuse lingers
		// there), so still counted and never evicted before CloseWrite.
		p = phaseActive
	case http.StateClosed:
		p = phaseGone
	default: // StateNew: admit has counted it
		return
	}
	t.mu.Lock()
	if c.phase != phaseGone {
		t.setPhase(c, p)
	}
	t.mu.Unlock()
}

// readStarted: c's serving goroutine reads for the first time; from now
// on, nothing arriving means the client is sending nothing.
func (t *tracker) readStarted(c *conn) {
	t.mu.Lock()
	if c.phase == phaseUnread {
		t.setPhase(c, phaseNew)
	}
	t.mu.Unlock()
}

// headerStarted: the first byte since c became quiet has arrived.
func (t *tracker) headerStarted(c *conn) {
	t.mu.Lock()
	if c.phase == phaseUnread || c.phase == phaseNew || c.phase == phaseIdle {
		t.setPhase(c, phaseHeader)
	}
	t.mu.Unlock()
}

// readTimedOut: a read deadline passed. Before a request is complete that
// is ReadHeaderTimeout (or IdleTimeout on a kept-alive connection, which is
// no refusal); during one, net/http's ReadTimeout or its own way of
// stopping a background read, which the handler reports if it matters.
func (t *tracker) readTimedOut(c *conn) {
	t.mu.Lock()
	p := c.phase
	t.mu.Unlock()
	if p == phaseUnread || p == phaseNew || p == phaseHeader {
		t.rejected(ReasonHeaderTimeout)
	}
}

func (t *tracker) lingering(c *conn) {
	t.mu.Lock()
	if c.phase != phaseGone {
		t.setPhase(c, phaseClosing)
	}
	t.mu.Unlock()
}

func (t *tracker) forget(c *conn) {
	t.mu.Lock()
	if c.phase != phaseGone {
		t.setPhase(c, phaseGone)
	}
	t.mu.Unlock()
}

// closeLingering closes the connections still lingering after their
// answer: net/http's Shutdown does not know the ones Refuse hijacked.
func (t *tracker) closeLingering() {
	t.mu.Lock()
	var all []*conn
	for c := t.closing.head; c != nil; c = c.next {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
}

func (t *tracker) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// listener admits each accepted connection through the tracker. Accept
// never waits for room: it closes a connection to make it, or the new one.
type listener struct {
	net.Listener
	t *tracker
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := newConn(nc, l.t)
		if l.t.admit(c) {
			return c, nil
		}
	}
}
