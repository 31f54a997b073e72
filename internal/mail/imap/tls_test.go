package imap_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

func TestInboxTLS(t *testing.T) {
	serverTLS, clientTLS := mailtest.SelfSignedTLS(t)
	for _, mode := range []mail.TLSMode{mail.TLSStartTLS, mail.TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			srv := mailtest.StartMemServer(t, mailtest.MemOptions{
				TLSConfig:   serverTLS,
				ImplicitTLS: mode == mail.TLSImplicit,
			})
			uid := srv.Append(t, "INBOX", msg(1))

			ib, _ := newInbox(t, srv, func(c *imap.Config) {
				c.TLS = mode
				c.TLSConfig = clientTLS
			})
			connect(t, ib)
			envs, _, err := ib.List(testCtx(t), 0, 0)
			require.NoError(t, err)
			assert.Equal(t, []uint32{uid}, uidsOf(envs))

			untrusting, _ := newInbox(t, srv, func(c *imap.Config) { c.TLS = mode })
			_, err = untrusting.Connect(testCtx(t))
			var connErr *imap.ConnError
			require.ErrorAs(t, err, &connErr, "an unknown certificate is refused")
			assert.NotErrorIs(t, err, imap.ErrAuth)
		})
	}
}

// stallServer answers the login dance, then stops answering: after the
// first SELECT (or, with greet false, from the start).
func stallServer(t *testing.T, greet bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
			go serveStall(conn, greet)
		}
	}()
	return ln.Addr().String()
}

func serveStall(conn net.Conn, greet bool) {
	if !greet {
		return
	}
	w := func(s string) { _, _ = conn.Write([]byte(s + "\r\n")) }
	w("* OK [CAPABILITY IMAP4rev1 IDLE] stall ready")
	r := bufio.NewReader(conn)
	selects := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		verb, _, _ := strings.Cut(strings.ToUpper(rest), " ")
		switch {
		case verb == "CAPABILITY":
			w("* CAPABILITY IMAP4rev1 IDLE")
			w(tag + " OK done")
		case verb == "LOGIN":
			w(tag + " OK [CAPABILITY IMAP4rev1 IDLE] in")
		case verb == "SELECT" && selects == 0:
			selects++
			w("* 0 EXISTS")
			w("* OK [UIDVALIDITY 7] ok")
			w("* OK [UIDNEXT 1] ok")
			w(tag + " OK [READ-WRITE] done")
		default: // say nothing, keep the connection open
		}
	}
}

func TestInboxCommandTimeout(t *testing.T) {
	cfg := func(addr string) imap.Config {
		logger, _ := newLog(t)
		return imap.Config{
			Addr: addr, TLS: mail.TLSNone, Username: "u", Password: "p",
			CommandTimeout: 300 * time.Millisecond, Logger: logger,
		}
	}

	t.Run("command", func(t *testing.T) {
		ib := imap.NewInbox(cfg(stallServer(t, true)))
		t.Cleanup(func() { _ = ib.Close() })
		_, err := ib.Connect(testCtx(t))
		require.NoError(t, err)
		start := time.Now()
		_, _, err = ib.List(testCtx(t), 0, 0)
		var connErr *imap.ConnError
		require.ErrorAs(t, err, &connErr)
		assert.Less(t, time.Since(start), 3*time.Second)
		assert.False(t, ib.Connected())
	})
	t.Run("cancel", func(t *testing.T) {
		c := cfg(stallServer(t, true))
		c.CommandTimeout = time.Minute
		logger, logs := newLog(t)
		c.Logger = logger
		ib := imap.NewInbox(c)
		t.Cleanup(func() { _ = ib.Close() })
		_, err := ib.Connect(testCtx(t))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
		defer cancel()
		_, _, err = ib.List(ctx, 0, 0)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.False(t, ib.Connected(), "the interrupted session is gone")
		time.Sleep(100 * time.Millisecond) // let the watcher see the close
		assert.NotContains(t, logs.String(), "level=WARN", "cancellation is silent")
	})
	t.Run("greeting", func(t *testing.T) {
		ib := imap.NewInbox(cfg(stallServer(t, false)))
		start := time.Now()
		_, err := ib.Connect(testCtx(t))
		var connErr *imap.ConnError
		require.ErrorAs(t, err, &connErr)
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}
