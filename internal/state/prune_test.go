package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestPruneKeepsIntentsCursorsSendersAndGeneric(t *testing.T) {
	s, clk := newStore(t)
	old := clk.Now()

	// Everything written "old"...
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "old-in@x", TicketUUID: "u-1"}))
	require.NoError(t, s.RecordOutbound("old-out@x", "u-1", 1))
	_, err := s.CountSenderTicket("john@acme.com", old)
	require.NoError(t, err)
	require.NoError(t, s.PutIntent(Intent{Key: "old-intent@x", Kind: "create"}))
	require.NoError(t, s.SetCursor("INBOX", Cursor{UIDValidity: 1, LastUID: 10}))
	require.NoError(t, s.LearnSender("john@acme.com", 15))
	require.NoError(t, s.put(bucketSnapshots, "u-1", map[string]any{"status": 0}))
	require.NoError(t, s.Update(func(tx *Tx) error {
		return tx.ClaimParent(ParentClaim{TicketID: 9, TicketUUID: "u-9", Channel: "C1"})
	}))
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ClaimThreadPosts(8, map[string]any{"status": 1}) }))

	// ...and a little new.
	clk.Advance(40 * 24 * time.Hour)
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "new-in@x", TicketUUID: "u-2"}))
	require.NoError(t, s.RecordOutbound("new-out@x", "u-2", 2))
	_, err = s.CountSenderTicket("jane@acme.com", time.Time{})
	require.NoError(t, err)

	st, err := s.Prune(30 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Messages)
	assert.Equal(t, 1, st.Outbound)
	assert.Equal(t, 1, st.SenderRate)
	assert.Equal(t, 1, st.ParentClaims, "a claim whose ticket never got a thread")
	assert.Equal(t, 1, st.ThreadPostClaims, "a claim of thread posts whose snapshot was never recorded")
	assert.Equal(t, 8, st.Transactions, "one small batch per bucket")

	exists := func(name string, ok bool, err error) {
		t.Helper()
		require.NoError(t, err)
		assert.True(t, ok, name)
	}
	_, ok, err := s.MessageTicket("old-in@x")
	require.NoError(t, err)
	assert.False(t, ok, "old inbound record pruned")
	_, _, ok, err = s.OutboundTicket("old-out@x")
	require.NoError(t, err)
	assert.False(t, ok, "old outbound id pruned")
	assert.Equal(t, 0, rateEntries(t, s, "john@acme.com"))
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		assert.Nil(t, tx.Bucket([]byte(bucketSenderRate)).Bucket([]byte("john@acme.com")), "empty sender bucket removed")
		return nil
	}))

	_, ok, err = s.MessageTicket("new-in@x")
	exists("new inbound", ok, err)
	_, _, ok, err = s.OutboundTicket("new-out@x")
	exists("new outbound", ok, err)
	assert.Equal(t, 1, rateEntries(t, s, "jane@acme.com"))
	_, ok, err = s.Intent("old-intent@x")
	exists("intent", ok, err)
	_, ok, err = s.SenderUser("john@acme.com")
	exists("learned sender", ok, err)
	ok, err = s.get(bucketSnapshots, "u-1", &map[string]any{})
	exists("snapshot", ok, err)
	c, err := s.Cursor("INBOX")
	require.NoError(t, err)
	assert.Equal(t, Cursor{UIDValidity: 1, LastUID: 10}, c, "cursor kept")
}

func TestPruneBatches(t *testing.T) {
	s, clk := newStore(t)
	s.pruneBatch = 3
	t0 := clk.Now()

	// 100 records, every third one old, so transactions end both on the
	// deletion budget and on the scan budget.
	wantGone := map[string]bool{}
	require.NoError(t, s.Update(func(tx *Tx) error {
		for i := range 100 {
			id := fmt.Sprintf("m%03d@x", i)
			at := t0.Add(-time.Hour)
			if i%3 == 0 {
				at = t0.Add(-100 * 24 * time.Hour)
				wantGone[id] = true
			}
			if err := tx.RecordMessage(MessageRecord{MessageID: id, At: at}); err != nil {
				return err
			}
		}
		// Two senders with 7 old events each, within one hour so that
		// counting itself does not prune them.
		for _, email := range []string{"a@x", "b@x"} {
			for i := range 7 {
				if _, err := tx.CountSenderTicket(email, t0.Add(-50*24*time.Hour+time.Duration(i)*time.Minute)); err != nil {
					return err
				}
			}
		}
		return nil
	}))

	st, err := s.Prune(30 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, len(wantGone), st.Messages)
	assert.Equal(t, 14, st.SenderRate)
	assert.Greater(t, st.Transactions, len(wantGone)/3+14/3, "at most 3 deletions per transaction")

	for i := range 100 {
		id := fmt.Sprintf("m%03d@x", i)
		_, ok, err := s.MessageTicket(id)
		require.NoError(t, err)
		assert.Equal(t, !wantGone[id], ok, id)
	}
	assert.Equal(t, 0, rateEntries(t, s, "a@x"))
	assert.Equal(t, 0, rateEntries(t, s, "b@x"))

	st, err = s.Prune(30 * 24 * time.Hour)
	require.NoError(t, err)
	st.Transactions = 0 // 66 survivors at 30 scanned per transaction: a few
	assert.Equal(t, PruneStats{}, st, "nothing left to prune")
}

func TestPruneRefusesNonPositiveRetention(t *testing.T) {
	s, _ := newStore(t)
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "m@x"}))
	for _, d := range []time.Duration{0, -time.Hour} {
		_, err := s.Prune(d)
		assert.ErrorIs(t, err, ErrInvalid)
	}
	_, ok, err := s.MessageTicket("m@x")
	require.NoError(t, err)
	assert.True(t, ok)
}
