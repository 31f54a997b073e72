package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPutIntentCountsAttempts(t *testing.T) {
	s, clk := newStore(t)
	first := clk.Now()
	require.NoError(t, s.PutIntent(Intent{
		Key: "<m1@x>", Kind: "create", Mailbox: "INBOX", UID: 4, UIDValidity: 9,
		Subject: "Printer on fire", Sender: "john@acme.com", Attempts: 99, Payload: []byte("opaque\x00bytes"),
	}))
	in, ok, err := s.Intent("m1@x")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Intent{
		Key: "m1@x", Kind: "create", Mailbox: "INBOX", UID: 4, UIDValidity: 9,
		Subject: "Printer on fire", Sender: "john@acme.com", CreatedAt: first, Attempts: 1,
		Payload: []byte("opaque\x00bytes"),
	}, in, "Attempts is the store's, not the caller's")

	clk.Advance(time.Minute)
	require.NoError(t, s.PutIntent(Intent{Key: "m1@x", Kind: "create", TicketUUID: "u-1", TicketID: 5}))
	in, ok, err = s.Intent("<m1@x>")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 2, in.Attempts)
	assert.Equal(t, first, in.CreatedAt, "CreatedAt is kept from the first attempt")
	assert.Equal(t, "u-1", in.TicketUUID)
	assert.Empty(t, in.Subject, "other fields are replaced")

	_, ok, err = s.Intent("other@x")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.ErrorIs(t, s.PutIntent(Intent{}), ErrInvalid)
}

func TestIntentsOrder(t *testing.T) {
	s, _ := newStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []Intent{
		{Key: "c@x", CreatedAt: t0.Add(2 * time.Second)},
		{Key: "b@x", CreatedAt: t0},
		{Key: "a@x", CreatedAt: t0.Add(time.Second)},
		{Key: "0@x", CreatedAt: t0.Add(time.Second)},
	} {
		require.NoError(t, s.PutIntent(in))
	}
	all, err := s.Intents()
	require.NoError(t, err)
	var keys []string
	for _, in := range all {
		keys = append(keys, in.Key)
	}
	assert.Equal(t, []string{"b@x", "0@x", "a@x", "c@x"}, keys)
}

func TestCompleteIntent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     MessageRecord
		wantMsg string
	}{
		{"message id defaults to the key", MessageRecord{TicketUUID: "u-1", TicketID: 5, Action: "created"}, "m1@x"},
		{"explicit message id", MessageRecord{MessageID: "<other@x>", TicketUUID: "u-1", TicketID: 5, Action: "created"}, "other@x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t)
			require.NoError(t, s.PutIntent(Intent{Key: "m1@x", Kind: "create"}))
			require.NoError(t, s.CompleteIntent("<m1@x>", tc.rec))

			s = reopen(t, s, clk)
			_, ok, err := s.Intent("m1@x")
			require.NoError(t, err)
			assert.False(t, ok, "intent gone")
			rec, ok, err := s.MessageTicket(tc.wantMsg)
			require.NoError(t, err)
			require.True(t, ok, "record present")
			assert.Equal(t, "u-1", rec.TicketUUID)
			assert.Equal(t, clk.Now(), rec.At)

			// Completing again (a retried completion) is harmless.
			require.NoError(t, s.CompleteIntent("m1@x", tc.rec))
		})
	}
}

// The two halves of CompleteIntent commit together: when the surrounding
// transaction fails, neither the record nor the deletion happens.
func TestCompleteIntentRollsBackAsOne(t *testing.T) {
	s, _ := newStore(t)
	require.NoError(t, s.PutIntent(Intent{Key: "m1@x", Kind: "create"}))
	errBoom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		require.NoError(t, tx.CompleteIntent("m1@x", MessageRecord{TicketUUID: "u-1"}))
		require.NoError(t, tx.SetCursor("INBOX", Cursor{UIDValidity: 1, LastUID: 4}))
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)

	_, ok, err := s.Intent("m1@x")
	require.NoError(t, err)
	assert.True(t, ok, "intent still pending")
	_, ok, err = s.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.False(t, ok, "no record")
	c, err := s.Cursor("INBOX")
	require.NoError(t, err)
	assert.Equal(t, Cursor{}, c)
}

const crashEnv = "TICKETSYNC_STATE_CRASH_AFTER_INTENT"

// TestHelperCrashAfterIntent is the child of TestCrashBeforeCompleteLeavesIntent:
// it writes an intent and dies without closing the store or completing it,
// as the daemon would if killed during the TaskIP call.
func TestHelperCrashAfterIntent(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashBeforeCompleteLeavesIntent")
	}
	s, err := Open(Config{Path: path})
	if err == nil {
		err = s.PutIntent(Intent{Key: "m1@x", Kind: "create", Subject: "Printer on fire", Sender: "john@acme.com"})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(3)
}

func TestCrashBeforeCompleteLeavesIntent(t *testing.T) {
	clk := newClock()
	cfg := testConfig(t, clk)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashAfterIntent$")
	cmd.Env = append(os.Environ(), crashEnv+"="+cfg.Path)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 3, exit.ExitCode())

	s := openStore(t, cfg)
	all, err := s.Intents()
	require.NoError(t, err)
	require.Len(t, all, 1, "the unfinished intent survives for reconciliation")
	assert.Equal(t, "Printer on fire", all[0].Subject)
	assert.Equal(t, "john@acme.com", all[0].Sender)
	_, ok, err := s.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.False(t, ok)

	// Reconcile-then-retry bumps the attempt count.
	require.NoError(t, s.PutIntent(all[0]))
	in, _, err := s.Intent("m1@x")
	require.NoError(t, err)
	assert.Equal(t, 2, in.Attempts)
}

func TestDropIntent(t *testing.T) {
	s, _ := newStore(t)
	require.NoError(t, s.PutIntent(Intent{Key: "m1@x"}))
	require.NoError(t, s.DropIntent("<m1@x>"))
	require.NoError(t, s.DropIntent("m1@x"), "dropping a missing intent is fine")
	_, ok, err := s.Intent("m1@x")
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = s.MessageTicket("m1@x")
	require.NoError(t, err)
	assert.False(t, ok, "nothing recorded")
	assert.ErrorIs(t, s.DropIntent(""), ErrInvalid)
}
