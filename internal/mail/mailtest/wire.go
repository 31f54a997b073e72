package mailtest

import (
	"bytes"
	"context"
	"net"
	"sync"
)

// Wire dials the server at To whatever host name the client was given,
// and keeps every dial and every byte the client wrote: what a network
// between the daemon and a remote mail server would see. The cleartext
// guards of the IMAP and SMTP clients are judged by it, since only a host
// other than loopback triggers them and tests have no DNS.
type Wire struct {
	To string

	mu      sync.Mutex
	dialled []string
	written bytes.Buffer
}

// Dial has the signature of net.Dialer.DialContext.
func (w *Wire) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dialled = append(w.dialled, addr)
	w.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, w.To)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, w: w}, nil
}

// Seen is the addresses dialled and everything written so far.
func (w *Wire) Seen() (dialled []string, written string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dialled...), w.written.String()
}

type tappedConn struct {
	net.Conn
	w *Wire
}

func (c *tappedConn) Write(b []byte) (int, error) {
	c.w.mu.Lock()
	c.w.written.Write(b)
	c.w.mu.Unlock()
	return c.Conn.Write(b)
}
