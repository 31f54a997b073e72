package imap

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

func cleartextInbox(t *testing.T, srv *mailtest.MemServer, addr string, allow bool) (*Inbox, *mailtest.Wire) {
	t.Helper()
	ib := NewInbox(Config{
		Addr: addr, TLS: mail.TLSNone, Username: srv.Username(), Password: srv.Password(),
		AllowInsecure: allow, CommandTimeout: 10 * time.Second,
	})
	w := &mailtest.Wire{To: srv.Addr()}
	ib.dialContext = w.Dial
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
			dialled, written := w.Seen()
			assert.Empty(t, dialled, "refused before any connection")
			assert.NotContains(t, written, srv.Password())
			assert.False(t, ib.Connected())

			_, err = ib.Check(t.Context())
			var ce *mail.CheckError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.Equal(t, mail.StepConfig, ce.Step)
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
		dialled, written := w.Seen()
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
