package mail

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// wire dials a loopback server whatever host name the client was given,
// and keeps every dial and every byte the client wrote: what a network
// between the daemon and a remote mail server would see.
type wire struct {
	to string

	mu      sync.Mutex
	dialled []string
	written bytes.Buffer
}

func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dialled = append(w.dialled, addr)
	w.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, w.to)
	if err != nil {
		return nil, err
	}
	return &tappedConn{Conn: c, w: w}, nil
}

func (w *wire) seen() (dialled []string, written string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.dialled...), w.written.String()
}

type tappedConn struct {
	net.Conn
	w *wire
}

func (c *tappedConn) Write(b []byte) (int, error) {
	c.w.mu.Lock()
	c.w.written.Write(b)
	c.w.mu.Unlock()
	return c.Conn.Write(b)
}

func cleartextInbox(t *testing.T, srv *mailtest.MemServer, addr string, allow bool) (*Inbox, *wire) {
	t.Helper()
	ib := NewInbox(IMAPConfig{
		Addr: addr, TLS: TLSNone, Username: srv.Username(), Password: srv.Password(),
		AllowInsecure: allow, CommandTimeout: 10 * time.Second,
	})
	w := &wire{to: srv.Addr()}
	ib.dialContext = w.dial
	t.Cleanup(func() { _ = ib.Close() })
	return ib, w
}

func TestIMAPRefusesCleartextLoginOffLoopback(t *testing.T) {
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{Password: "imap-Pa55word!"})

	for _, addr := range []string{"imap.example.test:143", "192.0.2.7:143", "[2001:db8::7]:143"} {
		t.Run(addr, func(t *testing.T) {
			ib, w := cleartextInbox(t, srv, addr, false)
			_, err := ib.Connect(t.Context())
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrCleartextLogin)
			assert.NotErrorIs(t, err, ErrAuth, "the server refused nothing: the configuration is what must change")
			assert.NotContains(t, err.Error(), srv.Password())
			dialled, written := w.seen()
			assert.Empty(t, dialled, "refused before any connection")
			assert.NotContains(t, written, srv.Password())
			assert.False(t, ib.Connected())

			_, err = ib.Check(t.Context())
			var ce *CheckError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.Equal(t, StepConfig, ce.Step)
			assert.ErrorIs(t, err, ErrCleartextLogin)
		})
	}
}

func TestIMAPCleartextLoginWhenAllowed(t *testing.T) {
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{Password: "imap-Pa55word!"})

	t.Run("allow_insecure", func(t *testing.T) {
		ib, w := cleartextInbox(t, srv, "imap.example.test:143", true)
		_, err := ib.Connect(t.Context())
		require.NoError(t, err)
		dialled, written := w.seen()
		assert.Equal(t, []string{"imap.example.test:143"}, dialled)
		assert.Contains(t, written, srv.Password(), "the operator asked for exactly this")
	})
	for _, addr := range []string{"127.0.0.1:143", "localhost:143", "[::1]:143"} {
		t.Run("loopback "+addr, func(t *testing.T) {
			ib, _ := cleartextInbox(t, srv, addr, false)
			_, err := ib.Connect(t.Context())
			require.NoError(t, err)
		})
	}
}

func TestSMTPAllowInsecureLiftsTheCleartextGuard(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{Username: "agent", Password: testPassword, AllowInsecureAuth: true})
	sender := func(allow bool) (*Sender, *wire) {
		s := NewSender(SMTPConfig{
			Addr: "smtp.example.test:587", TLS: TLSNone, Username: "agent", Password: testPassword,
			AllowInsecure: allow, Timeout: 5 * time.Second, LocalName: "test.example",
		})
		w := &wire{to: srv.Addr()}
		s.dialContext = w.dial
		t.Cleanup(func() { _ = s.Close() })
		return s, w
	}

	t.Run("refused by default", func(t *testing.T) {
		s, w := sender(false)
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrPermanent)
		assert.Equal(t, "connect", se.Op)
		assert.Contains(t, se.Error(), "cleartext")
		assert.NotContains(t, se.Error(), testPassword)
		dialled, written := w.seen()
		assert.Empty(t, dialled)
		assert.NotContains(t, written, testPassword)
		assert.Empty(t, srv.Messages())
	})
	t.Run("allowed", func(t *testing.T) {
		s, w := sender(true)
		sendOK(t, s, testMessage(2))
		require.Len(t, srv.Messages(), 1)
		assert.Equal(t, "agent", srv.Messages()[0].Username)
		dialled, _ := w.seen()
		assert.Equal(t, []string{"smtp.example.test:587"}, dialled)
	})
}
