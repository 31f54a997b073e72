package state

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A claim owns its reply by id once TaskIP answered, by text before that;
// equal texts, and the same text on two tickets, are separate claims.
func TestReplyClaims(t *testing.T) {
	s, clk := newStore(t)
	claim := func(ticket int64, text string) ReplyClaim {
		t.Helper()
		var c ReplyClaim
		require.NoError(t, s.Update(func(tx *Tx) (err error) {
			c, err = tx.ClaimReply(ReplyClaim{TicketID: ticket, TicketUUID: "u", Origin: ReplyFromSlack, TextSum: TextSum(text)})
			return err
		}))
		return c
	}
	claimed := func(ticket, replyID int64, text string) *ReplyClaim {
		t.Helper()
		var c *ReplyClaim
		require.NoError(t, s.View(func(tx *Tx) (err error) {
			c, err = tx.ReplyClaimed(ticket, replyID, text)
			return err
		}))
		return c
	}

	a := claim(7, "Thanks!")
	b := claim(7, "Thanks!")
	other := claim(8, "Thanks!")
	assert.NotEqual(t, a.ID, b.ID)
	require.NotNil(t, claimed(7, 100, " Thanks! "), "before TaskIP answered, the text names it")
	assert.Equal(t, a.ID, claimed(7, 100, "Thanks!").ID, "the oldest open claim first")
	assert.Nil(t, claimed(7, 100, "Something else"))

	require.NoError(t, s.Update(func(tx *Tx) error { return tx.SetClaimedReplyID(7, a.ID, 100) }))
	assert.Equal(t, a.ID, claimed(7, 100, "Thanks!").ID, "by id now")
	assert.Equal(t, b.ID, claimed(7, 101, "Thanks!").ID, "the second equal reply is the second claim's")
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.SettleReplyClaim(7, a.ID) }))
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.SettleReplyClaim(7, b.ID) }))
	assert.Nil(t, claimed(7, 101, "Thanks!"), "settled: nobody owns it any more")
	assert.Equal(t, other.ID, claimed(8, 5, "Thanks!").ID, "the other ticket's claim is untouched")

	s = reopen(t, s, clk)
	var left []ReplyClaim
	require.NoError(t, s.View(func(tx *Tx) (err error) {
		left, err = tx.ReplyClaims()
		return err
	}))
	require.Len(t, left, 1, "a claim outlives a restart")
	assert.Equal(t, other.ID, left[0].ID)
	assert.ErrorIs(t, s.Update(func(tx *Tx) error {
		_, err := tx.ClaimReply(ReplyClaim{TicketID: 7, Origin: "web"})
		return err
	}), ErrInvalid)
}
