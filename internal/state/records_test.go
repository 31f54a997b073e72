package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each record keeps what it was given, under its own key, across a
// restart; the others are untouched.
func TestRecordsRoundTrip(t *testing.T) {
	s, clk := newStore(t)
	at := clk.Now()
	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.NoteCustomerMail("U-1", Conversation{Name: "Jane", Email: "jane@x", MessageID: "m1@x"}.Opening()); err != nil {
			return err
		}
		if err := tx.NoteCustomerMail("u-1", Conversation{Email: "jane.other@x", MessageID: "m2@x", References: []string{"m1@x"}}); err != nil {
			return err
		}
		if err := tx.SetTicketID("U-1", 46); err != nil {
			return err
		}
		if err := tx.SetThread(ThreadTicket{ID: 46, UUID: "u-1"}, Thread{Channel: "C1", TS: "1.2"}); err != nil {
			return err
		}
		if err := tx.SetSnapshot(46, map[string]int{"status": 1}); err != nil {
			return err
		}
		if err := tx.SetWatchCursor(WatchCursor{UpdatedAt: at, Baseline: true}); err != nil {
			return err
		}
		if err := tx.SetCountedTicket("m1@x", 3); err != nil {
			return err
		}
		if err := tx.SetAcknowledged("Jane@X", at); err != nil {
			return err
		}
		if err := tx.SetTeamMemberByEmail("Sarah@Company.com", MemberCache{MemberID: 7, At: at}); err != nil {
			return err
		}
		return tx.SetTeamMemberBySlackUser("U7", MemberCache{MemberID: 7, At: at})
	}))
	s = reopen(t, s, clk)
	require.NoError(t, s.View(func(tx *Tx) error {
		c, ok, err := tx.Conversation("u-1")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "jane.other@x", c.Email, "the latest mail")
		name, email := c.Requester()
		assert.Equal(t, []string{"Jane", "jane@x"}, []string{name, email}, "the opener stays")
		in, refs := c.Thread()
		assert.Equal(t, "m2@x", in)
		assert.Equal(t, []string{"m1@x", "m2@x"}, refs)

		id, ok, err := tx.TicketID("u-1")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, int64(46), id)
		th, ok, err := tx.Thread(46)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, Thread{Channel: "C1", TS: "1.2"}, th)
		tt, ok, err := tx.ThreadTicket("C1", "1.2")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, ThreadTicket{ID: 46, UUID: "u-1"}, tt)
		var snap map[string]int
		ok, err = tx.Snapshot(46, &snap)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 1, snap["status"])
		wc, err := tx.WatchCursor()
		require.NoError(t, err)
		assert.True(t, wc.Baseline)
		n, ok, err := tx.CountedTicket("m1@x")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 3, n)
		last, ok, err := tx.LastAcknowledged("jane@x")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.True(t, last.Equal(at))
		m, ok, err := tx.TeamMemberByEmail("sarah@company.com")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, int64(7), m.MemberID)
		return nil
	}))
}

// A Slack event id is new once; a repeat is not.
func TestFirstSlackEvent(t *testing.T) {
	s, clk := newStore(t)
	first := func(id string) bool {
		var fresh bool
		require.NoError(t, s.Update(func(tx *Tx) (err error) {
			fresh, err = tx.FirstSlackEvent(id, clk.Now())
			return err
		}))
		return fresh
	}
	assert.True(t, first("Ev1"))
	assert.False(t, first("Ev1"))
	assert.True(t, first("Ev2"))
	assert.ErrorIs(t, s.Update(func(tx *Tx) error { _, err := tx.FirstSlackEvent("", clk.Now()); return err }), ErrInvalid)
}

// The records that only matter for a while go with the daily prune:
// acknowledgement times after a day, team-member answers after a week,
// Slack event ids after a week. Conversations, threads and ids stay.
func TestPruneDropsExpiredRecords(t *testing.T) {
	s, clk := newStore(t)
	old := clk.Now()
	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.SetAcknowledged("old@x", old); err != nil {
			return err
		}
		if err := tx.SetTeamMemberByEmail("old@x", MemberCache{At: old}); err != nil {
			return err
		}
		if _, err := tx.FirstSlackEvent("EvOld", old); err != nil {
			return err
		}
		if err := tx.SetTicketID("u-1", 46); err != nil {
			return err
		}
		return tx.NoteCustomerMail("u-1", Conversation{Email: "a@x"})
	}))
	clk.Advance(8 * 24 * time.Hour)
	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.SetAcknowledged("new@x", clk.Now()); err != nil {
			return err
		}
		_, err := tx.FirstSlackEvent("EvNew", clk.Now())
		return err
	}))
	st, err := s.Prune(180 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Caches)
	assert.Equal(t, 1, st.SlackEvents)
	require.NoError(t, s.View(func(tx *Tx) error {
		_, ok, _ := tx.LastAcknowledged("old@x")
		assert.False(t, ok)
		_, ok, _ = tx.LastAcknowledged("new@x")
		assert.True(t, ok)
		_, ok, _ = tx.TicketID("u-1")
		assert.True(t, ok, "ids stay")
		_, ok, _ = tx.Conversation("u-1")
		assert.True(t, ok, "conversations stay")
		return nil
	}))
	require.NoError(t, s.Update(func(tx *Tx) error {
		fresh, err := tx.FirstSlackEvent("EvOld", clk.Now())
		assert.True(t, fresh, "a pruned id is forgotten")
		return err
	}))
}

func TestParentClaimSettledByThread(t *testing.T) {
	s, _ := newStore(t)
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, s.Update(func(tx *Tx) error {
		if err := tx.ClaimParent(ParentClaim{TicketID: 7, TicketUUID: "u-7", Channel: "C1", At: first}); err != nil {
			return err
		}
		// A second attempt keeps the first one's time: the history search
		// must reach back to the earliest post.
		return tx.ClaimParent(ParentClaim{TicketID: 7, TicketUUID: "u-7", Channel: "C1", At: first.Add(time.Hour)})
	}))
	require.NoError(t, s.View(func(tx *Tx) error {
		c, ok, err := tx.ParentClaim(7)
		require.True(t, ok)
		assert.True(t, c.At.Equal(first), "at %v", c.At)
		return err
	}))
	require.NoError(t, s.Update(func(tx *Tx) error {
		return tx.SetThread(ThreadTicket{ID: 7, UUID: "u-7"}, Thread{Channel: "C1", TS: "1.000100"})
	}))
	require.NoError(t, s.View(func(tx *Tx) error {
		_, ok, err := tx.ParentClaim(7)
		assert.False(t, ok, "recording the thread settles the claim")
		return err
	}))
	require.ErrorIs(t, s.Update(func(tx *Tx) error { return tx.ClaimParent(ParentClaim{TicketID: 8}) }), ErrInvalid)
}
