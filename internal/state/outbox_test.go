package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func entry(id string) OutboxEntry {
	return OutboxEntry{MessageID: id, Kind: "reply", TicketUUID: "u-" + id, TicketID: 7, Message: json.RawMessage(`{"to":"a@b"}`)}
}

func TestOutboxLifecycleSurvivesReopen(t *testing.T) {
	s, clk := newStore(t)
	a, err := s.Enqueue(entry("a@x"))
	require.NoError(t, err)
	b, err := s.Enqueue(entry("b@x"))
	require.NoError(t, err)
	assert.Less(t, a.Seq, b.Seq)
	assert.Equal(t, OutboxQueued, a.Status)
	assert.Equal(t, 2, s.OutboxDepth())

	// The Message-ID is ours from the moment it is queued.
	uuid, id, ok, err := s.OutboundTicket("<a@x>")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "u-a@x", uuid)
	assert.Equal(t, int64(7), id)

	s = reopen(t, s, clk)
	require.NoError(t, s.View(func(tx *Tx) error {
		due, next, err := tx.OutboxDue(clk.Now(), 10)
		require.NoError(t, err)
		require.Len(t, due, 2)
		assert.Equal(t, "a@x", due[0].MessageID, "oldest first")
		assert.True(t, next.IsZero())
		return nil
	}))

	// a: transient failure, retried later.
	retry := clk.Now().Add(time.Minute)
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.Reschedule(a.Seq, retry, "451 try later") }))
	// b: sending, then sent.
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.MarkSending(b.Seq) }))
	require.Error(t, s.Update(func(tx *Tx) error { return tx.MarkSending(b.Seq) }), "an entry is sent by one attempt at a time")
	require.NoError(t, s.Update(func(tx *Tx) error {
		due, next, err := tx.OutboxDue(clk.Now(), 10)
		require.NoError(t, err)
		assert.Empty(t, due, "a waits, b is in flight")
		assert.Equal(t, retry.UTC(), next.UTC())
		_, err = tx.CloseOutbox(b.Seq, OutboxSent, "")
		return err
	}))
	assert.Equal(t, 1, s.OutboxDepth())
	require.Error(t, s.Update(func(tx *Tx) error { return tx.MarkSending(b.Seq) }), "a closed entry never goes out again")

	clk.Advance(time.Minute)
	require.NoError(t, s.View(func(tx *Tx) error {
		due, _, err := tx.OutboxDue(clk.Now(), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		assert.Equal(t, 1, due[0].Attempts)
		assert.Equal(t, "451 try later", due[0].LastError)
		done, ok, err := tx.OutboxClosed(b.Seq)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, OutboxSent, done.Status)
		assert.Equal(t, 1, done.Attempts)
		return nil
	}))

	_, err = s.Enqueue(OutboxEntry{MessageID: "c@x"})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorIs(t, s.Update(func(tx *Tx) error { _, err := tx.CloseOutbox(a.Seq, OutboxQueued, ""); return err }), ErrInvalid)
}

func TestOutboxSendingIsVisibleAfterACrash(t *testing.T) {
	s, clk := newStore(t)
	a, err := s.Enqueue(entry("a@x"))
	require.NoError(t, err)
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.MarkSending(a.Seq) }))
	s = reopen(t, s, clk)
	require.NoError(t, s.View(func(tx *Tx) error {
		open, err := tx.OutboxOpen()
		require.NoError(t, err)
		require.Len(t, open, 1)
		assert.Equal(t, OutboxSending, open[0].Status)
		due, _, err := tx.OutboxDue(clk.Now(), 10)
		require.NoError(t, err)
		assert.Empty(t, due, "a message that may have been accepted is not due again")
		return nil
	}))
}

func TestMailedRepliesAndPrune(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.MarkReplyMailed(7, 70, "slack") }))
	a, err := s.Enqueue(entry("a@x"))
	require.NoError(t, err)
	require.NoError(t, s.Update(func(tx *Tx) error { _, err := tx.CloseOutbox(a.Seq, OutboxFailed, "550 no such user"); return err }))
	open, err := s.Enqueue(entry("b@x"))
	require.NoError(t, err)

	require.NoError(t, s.View(func(tx *Tx) error {
		ok, err := tx.ReplyMailed(7, 70)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = tx.ReplyMailed(7, 71)
		require.NoError(t, err)
		assert.False(t, ok)
		return nil
	}))
	require.ErrorIs(t, s.Update(func(tx *Tx) error { return tx.MarkReplyMailed(7, 0, "x") }), ErrInvalid)

	clk.Advance(40 * 24 * time.Hour)
	st, err := s.Prune(30 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, st.OutboxDone)
	assert.Equal(t, 1, st.Mailed)
	assert.Equal(t, 1, s.OutboxDepth(), "open mail is never pruned")
	require.NoError(t, s.View(func(tx *Tx) error {
		_, ok, err := tx.OutboxClosed(a.Seq)
		require.NoError(t, err)
		assert.False(t, ok)
		due, _, err := tx.OutboxDue(clk.Now(), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		assert.Equal(t, open.Seq, due[0].Seq)
		return nil
	}))
}

// A ticket's later mail waits while an earlier one of the same ticket
// waits for its retry; other tickets' mail does not.
func TestOutboxDueKeepsEachTicketsOrder(t *testing.T) {
	s, clk := newStore(t)
	first := entry("first@x")
	first.TicketUUID = "u-1"
	second := entry("second@x")
	second.TicketUUID = "u-1"
	other := entry("other@x")
	other.TicketUUID = "u-2"
	var seqs []uint64
	for _, e := range []OutboxEntry{first, second, other} {
		stored, err := s.Enqueue(e)
		require.NoError(t, err)
		seqs = append(seqs, stored.Seq)
	}
	retry := clk.Now().Add(time.Minute)
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.Reschedule(seqs[0], retry, "451 try later") }))

	ids := func() []string {
		var out []string
		require.NoError(t, s.View(func(tx *Tx) error {
			due, _, err := tx.OutboxDue(clk.Now(), 10)
			for _, e := range due {
				out = append(out, e.MessageID)
			}
			return err
		}))
		return out
	}
	assert.Equal(t, []string{"other@x"}, ids(), "second waits for first; the other ticket does not")
	clk.Advance(time.Minute)
	assert.Equal(t, []string{"first@x", "second@x", "other@x"}, ids())
}
