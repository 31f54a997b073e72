package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAlertQueuedOncePerKey(t *testing.T) {
	s, clk := newStore(t)
	queue := func(key, text string) bool {
		t.Helper()
		var queued bool
		require.NoError(t, s.Update(func(tx *Tx) (err error) {
			queued, err = tx.QueueAlert(key, text)
			return err
		}))
		return queued
	}
	pending := func() []Alert {
		t.Helper()
		var as []Alert
		require.NoError(t, s.View(func(tx *Tx) (err error) {
			as, err = tx.Alerts(0)
			return err
		}))
		return as
	}

	assert.True(t, queue("mail:a@x", "first"))
	clk.Advance(time.Second)
	assert.True(t, queue("mail:b@x", "second"))
	assert.False(t, queue("mail:a@x", "again"), "a key already waiting is not queued twice")
	got := pending()
	require.Len(t, got, 2)
	assert.Equal(t, []string{"first", "second"}, []string{got[0].Text, got[1].Text}, "oldest first")

	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ClaimAlert("mail:a@x") }))
	s = reopen(t, s, clk)
	got = pending()
	require.Len(t, got, 2)
	assert.True(t, got[0].Posting, "the claim survives a restart")

	require.NoError(t, s.Update(func(tx *Tx) error { return tx.SettleAlert("mail:a@x") }))
	assert.False(t, queue("mail:a@x", "after a restart"), "a settled key is not queued again")
	require.Len(t, pending(), 1)

	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ClaimAlert("mail:b@x") }))
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ReleaseAlert("mail:b@x") }))
	got = pending()
	require.Len(t, got, 1)
	assert.False(t, got[0].Posting, "a released claim is tried again")

	assert.ErrorIs(t, s.Update(func(tx *Tx) error { return tx.ClaimAlert("mail:none") }), ErrInvalid)

	clk.Advance(200 * 24 * time.Hour)
	st, err := s.Prune(180 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Alerts, "the settled key expires with the retention")
	assert.True(t, queue("mail:a@x", "much later"))
}
