package state

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a backup had in flight is settled by the restore so that the daemon
// started on it repeats nothing: waiting mail is closed as possibly sent,
// replies being saved are never mailed, each with a line for the agents,
// and the watch takes a new baseline and relinks threads from before the
// backup on.
func TestRestoreRewindsWhatWasInFlight(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.SetWatchCursor(WatchCursor{UpdatedAt: clk.Now().Add(-time.Minute), Baseline: true}); err != nil {
			return err
		}
		for _, id := range []string{"ack@x", "reply@x"} {
			if _, err := tx.Enqueue(OutboxEntry{MessageID: id, Kind: "reply", TicketID: 42, Message: []byte(`{}`)}); err != nil {
				return err
			}
		}
		if _, err := tx.ClaimReply(ReplyClaim{TicketID: 42, TicketUUID: "u", Origin: ReplyFromSlack, TextSum: TextSum("hi")}); err != nil {
			return err
		}
		if _, err := tx.ClaimReply(ReplyClaim{TicketID: 43, TicketUUID: "v", Origin: ReplyFromEmail, TextSum: TextSum("by mail")}); err != nil {
			return err
		}
		if _, err := tx.QueueAlert("quarantined:q@x", "A mail from q@x about ticket #42 could not be imported."); err != nil {
			return err
		}
		return tx.PutIntent(Intent{Key: "<in-flight@x>", Kind: "create"})
	}))
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.MarkSending(2) }))
	backup, err := s.Backup(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, s.Close())

	target := filepath.Join(t.TempDir(), "state.db")
	clk.Advance(3 * time.Hour)
	res, err := Restore(backup, Config{Path: target, Now: clk.Now})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Rewound.Mail)
	assert.Equal(t, 1, res.Rewound.Replies, "the agent's own mail is nobody's to send")
	assert.Equal(t, 1, res.Rewound.Imports)
	assert.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), res.Rewound.BackupAt, "the time in the backup's name")

	r := openStore(t, Config{Path: target, LockTimeout: 200 * time.Millisecond, Now: clk.Now})
	require.NoError(t, r.View(func(tx *Tx) error {
		c, err := tx.WatchCursor()
		require.NoError(t, err)
		assert.False(t, c.Baseline, "a new baseline instead of posting every change since the backup")
		assert.Equal(t, res.Rewound.BackupAt.Add(-time.Hour), c.RelinkSince)
		assert.Zero(t, tx.OutboxDepth(), "nothing left to send again")
		for seq := uint64(1); seq <= 2; seq++ {
			e, ok, err := tx.OutboxClosed(seq)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, OutboxUnknown, e.Status)
			assert.Contains(t, e.LastError, "restored from a backup")
		}
		claims, err := tx.ReplyClaims()
		require.NoError(t, err)
		assert.Empty(t, claims)
		in, ok, err := tx.Intent("in-flight@x")
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, in.Restored, "finished without its acknowledgement")
		alerts, err := tx.Alerts(0)
		require.NoError(t, err)
		require.Len(t, alerts, 4)
		for _, a := range alerts {
			assert.True(t, strings.Contains(a.Text, "ticket #42"), a.Text)
			assert.Equal(t, a.Key == "quarantined:q@x", strings.HasPrefix(a.Text, "(Queued before the backup"),
				"only an alert waiting at the backup says it may repeat: %q", a.Text)
		}
		return nil
	}))
}

// A backup made before the watch's first run has no baseline to redo.
func TestRestoreOfAFreshBackupLeavesTheWatchAlone(t *testing.T) {
	s, clk := newStore(t)
	backup, err := s.Backup(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	target := filepath.Join(t.TempDir(), "state.db")
	res, err := Restore(backup, Config{Path: target, Now: clk.Now})
	require.NoError(t, err)
	assert.Zero(t, res.Rewound.Mail)
	r := openStore(t, Config{Path: target, LockTimeout: 200 * time.Millisecond, Now: clk.Now})
	require.NoError(t, r.View(func(tx *Tx) error {
		c, err := tx.WatchCursor()
		assert.Equal(t, WatchCursor{}, c)
		return err
	}))
}
