package imap_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

type waitResult struct {
	got bool
	err error
	at  time.Time
}

func waitAsync(ctx context.Context, ib *imap.Inbox, maxWait time.Duration) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		got, err := ib.WaitForMail(ctx, maxWait)
		ch <- waitResult{got, err, time.Now()}
	}()
	return ch
}

func TestInboxWaitForMail(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		for _, idle := range []bool{true, false} {
			name := map[bool]string{true: "idle", false: "noop"}[idle]
			t.Run(name, func(t *testing.T) {
				ib, _ := newInbox(t, srv, func(c *imap.Config) { c.IDLE = idle })
				connect(t, ib)
				ctx := testCtx(t)
				envs, st, err := ib.List(ctx, 0, 0)
				require.NoError(t, err)
				cursor := st.UIDNext - 1
				if len(envs) > 0 {
					cursor = envs[len(envs)-1].UID
				}

				start := time.Now()
				got, err := ib.WaitForMail(ctx, 400*time.Millisecond)
				require.NoError(t, err)
				assert.False(t, got, "nothing arrived")
				assert.GreaterOrEqual(t, time.Since(start), 350*time.Millisecond)

				maxWait := 20 * time.Second
				if !idle {
					maxWait = time.Second // one NOOP after a second
				}
				res := waitAsync(ctx, ib, maxWait)
				time.Sleep(200 * time.Millisecond) // let IDLE start
				uid := srv.Append(t, "INBOX", msg(1))
				appended := time.Now()
				select {
				case r := <-res:
					require.NoError(t, r.err)
					assert.True(t, r.got)
					if idle {
						assert.Less(t, r.at.Sub(appended), 1500*time.Millisecond, "IDLE wakes at once")
					}
				case <-time.After(10 * time.Second):
					t.Fatal("WaitForMail did not return")
				}

				envs, _, err = ib.List(ctx, cursor, 0)
				require.NoError(t, err)
				assert.Equal(t, []uint32{uid}, uidsOf(envs))
			})
		}
	})
}

func TestInboxWaitForMailCancel(t *testing.T) {
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	ib, _ := newInbox(t, srv, nil)
	connect(t, ib)

	ctx, cancel := context.WithCancel(testCtx(t))
	res := waitAsync(ctx, ib, time.Minute)
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case r := <-res:
		assert.ErrorIs(t, r.err, context.Canceled)
		assert.False(t, r.got)
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not end WaitForMail")
	}
	// DONE went out: the session is still usable.
	assert.True(t, ib.Connected())
	_, _, err := ib.List(testCtx(t), 0, 0)
	require.NoError(t, err)
}

func TestInboxUIDValidityChange(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		srv.Append(t, "INBOX", msg(1))
		ib, _ := newInbox(t, srv, nil)
		first := connect(t, ib)
		ctx := testCtx(t)

		srv.RecreateMailbox(t, "INBOX")
		srv.Append(t, "INBOX", msg(2))
		envs, st, err := ib.List(ctx, 0, 0)
		if errors.Is(err, imap.ErrNotConnected) {
			// A server may drop sessions of a mailbox whose UIDVALIDITY
			// changed; the caller reconnects.
			connect(t, ib)
			envs, st, err = ib.List(ctx, 0, 0)
		}
		require.NoError(t, err)
		assert.NotEqual(t, first.UIDValidity, st.UIDValidity)
		assert.Equal(t, srv.UIDValidity(t, "INBOX"), st.UIDValidity)
		require.Len(t, envs, 1)
		assert.Equal(t, "m2@example.net", envs[0].MessageID)
	})
}

func TestInboxServerRestart(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		uid := srv.Append(t, "INBOX", msg(1))
		ib, _ := newInbox(t, srv, nil)
		connect(t, ib)
		ctx := testCtx(t)

		srv.Stop()
		_, _, err := ib.List(ctx, 0, 0)
		require.ErrorIs(t, err, imap.ErrNotConnected)
		assert.False(t, ib.Connected())
		_, _, err = ib.List(ctx, 0, 0)
		require.ErrorIs(t, err, imap.ErrNotConnected)
		_, err = ib.WaitForMail(ctx, time.Second)
		require.ErrorIs(t, err, imap.ErrNotConnected)
		_, err = ib.Connect(ctx)
		var connErr *imap.ConnError
		require.ErrorAs(t, err, &connErr, "a refused dial is a connection error")
		assert.NotErrorIs(t, err, imap.ErrAuth)

		srv.Restart(t)
		connect(t, ib)
		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, []uint32{uid}, uidsOf(envs))
	})
}

func TestInboxServerDropsIdleSession(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		ib, _ := newInbox(t, srv, nil)
		connect(t, ib)
		res := waitAsync(testCtx(t), ib, time.Minute)
		time.Sleep(200 * time.Millisecond)
		srv.Stop()
		select {
		case r := <-res:
			assert.ErrorIs(t, r.err, imap.ErrNotConnected)
		case <-time.After(10 * time.Second):
			t.Fatal("a dropped connection did not end IDLE")
		}
		assert.False(t, ib.Connected())
	})
}

func TestInboxClose(t *testing.T) {
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	ib, _ := newInbox(t, srv, nil)
	require.NoError(t, ib.Close(), "closing a never connected Inbox")
	connect(t, ib)

	res := waitAsync(testCtx(t), ib, time.Minute)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	require.NoError(t, ib.Close())
	require.NoError(t, ib.Close(), "idempotent")
	assert.Less(t, time.Since(start), time.Second, "no LOGOUT wait while idling")
	select {
	case r := <-res:
		assert.ErrorIs(t, r.err, imap.ErrNotConnected)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end IDLE")
	}
	assert.False(t, ib.Connected())
	_, _, err := ib.List(testCtx(t), 0, 0)
	assert.ErrorIs(t, err, imap.ErrNotConnected)

	connect(t, ib) // usable again
	_, _, err = ib.List(testCtx(t), 0, 0)
	assert.NoError(t, err)
}

// Mail that arrives between the caller's last command and IDLE is reported
// at once, also by a server that tells an idling client only what happens
// after IDLE starts (go-imap's own).
func TestInboxWaitForMailSeesMailFromBeforeIdle(t *testing.T) {
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{IdleSkipsPending: true})
	ib, _ := newInbox(t, srv, func(c *imap.Config) { c.IDLE = true })
	connect(t, ib)
	ctx := testCtx(t)
	_, _, err := ib.List(ctx, 0, 0)
	require.NoError(t, err)
	srv.Append(t, "INBOX", msg(1)) // while no command runs
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	got, err := ib.WaitForMail(ctx, 5*time.Second)
	require.NoError(t, err)
	assert.True(t, got)
	assert.Less(t, time.Since(start), 2*time.Second, "not left for the next poll")
}
