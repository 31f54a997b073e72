package imap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// eachServer runs f against the in-process memserver and a real Dovecot
// (skipped when Dovecot is not installed, fatal under CI=true). Not in
// parallel: TestInboxFetch measures the process's allocations.
func eachServer(t *testing.T, f func(t *testing.T, srv mailtest.Server)) {
	t.Helper()
	t.Run("mem", func(t *testing.T) {
		f(t, mailtest.StartMemServer(t, mailtest.MemOptions{}))
	})
	t.Run("dovecot", func(t *testing.T) {
		f(t, mailtest.StartDovecot(t))
	})
}

// logBuf collects the Inbox's log for the test log and for secret checks;
// it goes quiet once the test is over (t.Log would panic).
type logBuf struct {
	mu   sync.Mutex
	t    testing.TB
	buf  bytes.Buffer
	done bool
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog(t testing.TB) (*slog.Logger, *logBuf) {
	lb := &logBuf{t: t}
	t.Cleanup(func() { // registered first, so it runs after every Close
		lb.mu.Lock()
		lb.done = true
		lb.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func newInbox(t testing.TB, srv mailtest.Server, edit func(*imap.Config)) (*imap.Inbox, *logBuf) {
	t.Helper()
	logger, lb := newLog(t)
	cfg := imap.Config{
		Addr:           srv.Addr(),
		TLS:            mail.TLSNone,
		Username:       srv.Username(),
		Password:       srv.Password(),
		IDLE:           true,
		CommandTimeout: 10 * time.Second,
		Logger:         logger,
	}
	if edit != nil {
		edit(&cfg)
	}
	ib := imap.NewInbox(cfg)
	t.Cleanup(func() { _ = ib.Close() })
	return ib, lb
}

func connect(t testing.TB, ib *imap.Inbox) imap.MailboxStatus {
	t.Helper()
	st, err := ib.Connect(testCtx(t))
	require.NoError(t, err)
	return st
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func msg(n int) []byte {
	return mailtest.Message("customer@example.net", "support@example.com",
		fmt.Sprintf("Help %d", n), fmt.Sprintf("Body %d\n", n),
		fmt.Sprintf("Message-ID: <m%d@example.net>", n))
}

func uidsOf(envs []imap.Envelope) []uint32 {
	out := []uint32{}
	for _, e := range envs {
		out = append(out, e.UID)
	}
	return out
}

func TestInboxConnect(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		ib, _ := newInbox(t, srv, nil)
		assert.False(t, ib.Connected())
		st := connect(t, ib)
		assert.NotZero(t, st.UIDValidity)
		assert.Equal(t, srv.UIDValidity(t, "INBOX"), st.UIDValidity)
		assert.True(t, ib.Connected())

		const secret = "wrong-Secret-pw-4711"
		bad, logs := newInbox(t, srv, func(c *imap.Config) { c.Password = secret })
		_, err := bad.Connect(testCtx(t))
		require.ErrorIs(t, err, imap.ErrAuth)
		assert.NotErrorIs(t, err, imap.ErrNotConnected, "a refused login is not worth a reconnect")
		assert.False(t, bad.Connected())
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, logs.String(), srv.Password())
	})
}

func TestInboxList(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		var uids []uint32
		var raws [][]byte
		for i := 1; i <= 3; i++ {
			raws = append(raws, msg(i))
			uids = append(uids, srv.Append(t, "INBOX", raws[i-1]))
		}
		srv.AddFlags(t, "INBOX", uids[0], `\Seen`)
		ib, _ := newInbox(t, srv, nil)
		connect(t, ib)
		ctx := testCtx(t)

		all, st, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, uids, uidsOf(all), "\\Seen is not filtered: the cursor decides")
		assert.Equal(t, uids[2]+1, st.UIDNext)
		assert.EqualValues(t, 3, st.Messages)
		for i, e := range all {
			assert.Equal(t, fmt.Sprintf("m%d@example.net", i+1), e.MessageID)
			assert.EqualValues(t, len(raws[i]), e.Size)
		}
		assert.Contains(t, all[0].Flags, `\Seen`)

		after, _, err := ib.List(ctx, uids[0], 0)
		require.NoError(t, err)
		assert.Equal(t, uids[1:], uidsOf(after))

		limited, _, err := ib.List(ctx, 0, 2)
		require.NoError(t, err)
		assert.Equal(t, uids[:2], uidsOf(limited))

		// "UID n:*" matches the highest UID even when it is below n.
		none, _, err := ib.List(ctx, uids[2], 0)
		require.NoError(t, err)
		assert.Empty(t, none)
		none, _, err = ib.List(ctx, uids[2]+10, 0)
		require.NoError(t, err)
		assert.Empty(t, none)

		// New mail is seen by the next List without reconnecting.
		u4 := srv.Append(t, "INBOX", msg(4))
		more, _, err := ib.List(ctx, uids[2], 0)
		require.NoError(t, err)
		assert.Equal(t, []uint32{u4}, uidsOf(more))
	})
}

// A listing asks for UID windows; messages moved away leave gaps wider than
// a window, and the listing reaches past them.
func TestInboxListAcrossUIDGaps(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		var uids []uint32
		for i := 1; i <= 12; i++ {
			uids = append(uids, srv.Append(t, "INBOX", msg(i)))
		}
		ib, _ := newInbox(t, srv, func(c *imap.Config) { c.ProcessedMailbox = "Done" })
		connect(t, ib)
		ctx := testCtx(t)
		require.NoError(t, ib.MarkProcessedSet(ctx, uids[1:9]))

		first, _, err := ib.List(ctx, 0, 2)
		require.NoError(t, err)
		assert.Equal(t, []uint32{uids[0], uids[9]}, uidsOf(first), "past a gap of eight")
		rest, _, err := ib.List(ctx, uids[0], 3)
		require.NoError(t, err)
		assert.Equal(t, uids[9:], uidsOf(rest))
		none, _, err := ib.List(ctx, uids[11], 3)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

// bigMessage is about size bytes of 76-column text.
func bigMessage(size int) []byte {
	line := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 2) + "ABCD\n"
	body := strings.Repeat(line, size/len(line)+1)
	return mailtest.Message("customer@example.net", "support@example.com", "Big", body,
		"Message-ID: <big@example.net>")
}

func TestInboxFetch(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		raw := bigMessage(5 << 20)
		uid := srv.Append(t, "INBOX", raw)
		ib, _ := newInbox(t, srv, nil)
		connect(t, ib)
		ctx := testCtx(t)

		var (
			reads, total int
			sum          = sha256.New()
			before, now  runtime.MemStats
		)
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := ib.Fetch(ctx, uid, func(r io.Reader) error {
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					reads++
					total += n
					sum.Write(buf[:n])
				}
				if err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
			}
		})
		runtime.ReadMemStats(&now)
		require.NoError(t, err)
		assert.Equal(t, len(raw), total)
		assert.Equal(t, sha256.Sum256(raw), [32]byte(sum.Sum(nil)))
		assert.Greater(t, reads, 100, "the literal arrives in pieces, not as one buffer")
		allocated := now.TotalAlloc - before.TotalAlloc
		t.Logf("allocated %d KiB while fetching %d KiB", allocated>>10, len(raw)>>10)
		if _, inProcess := srv.(*mailtest.MemServer); !inProcess {
			// The memserver's own copy would count too; Dovecot's does not.
			assert.Less(t, allocated, uint64(2<<20), "fetch must not buffer the message")
		}

		var header bytes.Buffer
		require.NoError(t, ib.FetchHeader(ctx, uid, func(r io.Reader) error {
			_, err := io.Copy(&header, r)
			return err
		}))
		end := bytes.Index(raw, []byte("\r\n\r\n")) + 4
		assert.Equal(t, string(raw[:end]), header.String())

		err = ib.Fetch(ctx, uid+100, func(io.Reader) error { return nil })
		assert.ErrorIs(t, err, imap.ErrGone)

		// The caller's error comes back as is and the session survives,
		// even though most of the literal was never read.
		boom := errors.New("disk full")
		err = ib.Fetch(ctx, uid, func(io.Reader) error { return boom })
		assert.ErrorIs(t, err, boom)
		assert.True(t, ib.Connected())
		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, []uint32{uid}, uidsOf(envs))
	})
}
