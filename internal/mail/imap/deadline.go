package imap

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail"
)

// deadlineConn lets the Inbox put a deadline over a whole command while
// go-imap keeps setting its own per-read and per-write ones: go-imap clears
// its read deadline between responses, so a server that stops answering
// would block a command forever. The effective deadline is the earlier of
// the two.
type deadlineConn struct {
	net.Conn

	mu          sync.Mutex
	read, write time.Time // as go-imap last set them
	limit       time.Time // ours; zero when no command is running

	// cancelled: a context ended mid-command and broke the connection on
	// purpose, which is not worth a warning.
	cancelled atomic.Bool
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero(), a.Before(b):
		return a
	}
	return b
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read, c.write = t, t
	return c.Conn.SetDeadline(earliest(t, c.limit))
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = t
	return c.Conn.SetReadDeadline(earliest(t, c.limit))
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write = t
	return c.Conn.SetWriteDeadline(earliest(t, c.limit))
}

// setLimit sets (zero: clears) the command deadline.
func (c *deadlineConn) setLimit(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = t
	_ = c.Conn.SetReadDeadline(earliest(c.read, t))
	_ = c.Conn.SetWriteDeadline(earliest(c.write, t))
}

// cmdGuard is the deadline of one running command.
type cmdGuard struct {
	conn    *deadlineConn
	timeout time.Duration
	stop    func() bool

	mu       sync.Mutex
	finished bool // released, or ctx ended: the deadline is final
	last     time.Time
}

// guard puts a command under timeout and makes the end of ctx (cancel or
// deadline) fail the connection's I/O at once. ctx's deadline is left to
// the AfterFunc rather than put on the socket, so ctx is already done (and
// the break marked as cancelled) when the connection fails because of it.
// release must be called when the command is over.
func (c *deadlineConn) guard(ctx context.Context, timeout time.Duration) *cmdGuard {
	g := &cmdGuard{conn: c, timeout: timeout, last: time.Now()}
	c.setLimit(g.last.Add(timeout))
	g.stop = context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.finished {
			g.finished = true
			c.cancelled.Store(true)
			c.setLimit(mail.PastDeadline)
		}
	})
	return g
}

// extend pushes the deadline out while a long literal is still flowing, so
// a large message is bounded by stalls rather than by its size. It touches
// the socket at most once a second.
func (g *cmdGuard) extend() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.finished || now.Sub(g.last) < time.Second {
		return
	}
	g.last = now
	g.conn.setLimit(now.Add(g.timeout))
}

func (g *cmdGuard) release() {
	g.stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.finished = true
	g.conn.setLimit(time.Time{})
}

// progressReader extends the command deadline as the caller consumes a
// literal.
type progressReader struct {
	r io.Reader
	g *cmdGuard
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.g.extend()
	return p.r.Read(b)
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
