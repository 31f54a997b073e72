package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestLearnSender(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.LearnSender(" John@Acme.COM ", 15))
	s = reopen(t, s, clk)

	for _, lookup := range []string{"john@acme.com", "<JOHN@ACME.COM>"} {
		id, ok, err := s.SenderUser(lookup)
		require.NoError(t, err)
		assert.True(t, ok, lookup)
		assert.Equal(t, int64(15), id, lookup)
	}

	require.NoError(t, s.LearnSender("john@acme.com", 16))
	id, _, err := s.SenderUser("john@acme.com")
	require.NoError(t, err)
	assert.Equal(t, int64(16), id, "latest wins")

	_, ok, err := s.SenderUser("jane@acme.com")
	require.NoError(t, err)
	assert.False(t, ok)

	assert.ErrorIs(t, s.LearnSender("", 1), ErrInvalid)
	assert.ErrorIs(t, s.LearnSender("a@b", 0), ErrInvalid)

	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ForgetSender("<John@acme.com>") }))
	_, ok, err = s.SenderUser("john@acme.com")
	require.NoError(t, err)
	assert.False(t, ok, "forgotten")
	require.NoError(t, s.Update(func(tx *Tx) error { return tx.ForgetSender("john@acme.com") }), "forgetting twice is fine")
}

func TestCountSenderTicket(t *testing.T) {
	s, clk := newStore(t)
	t0 := clk.Now()
	steps := []struct {
		name  string
		email string
		at    time.Time
		want  int
	}{
		{"first", "john@acme.com", t0, 1},
		{"second, case folded", "John@Acme.com", t0.Add(10 * time.Minute), 2},
		{"same instant is still counted", "john@acme.com", t0.Add(10 * time.Minute), 3},
		{"other sender is separate", "jane@acme.com", t0.Add(11 * time.Minute), 1},
		{"exactly an hour after the first drops it", "john@acme.com", t0.Add(time.Hour), 3},
		{"later: the two at +10m fall out", "john@acme.com", t0.Add(71 * time.Minute), 2},
		{"gap: window empty", "john@acme.com", t0.Add(5 * time.Hour), 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.CountSenderTicket(st.email, st.at)
			require.NoError(t, err)
			assert.Equal(t, st.want, n)
		})
	}
	// Everything older than an hour before the last event was pruned.
	assert.Equal(t, 1, rateEntries(t, s, "john@acme.com"))

	clk.Advance(24 * time.Hour)
	n, err := s.CountSenderTicket("jane@acme.com", time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "zero at means now")

	_, err = s.CountSenderTicket("", t0)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestCountSenderTicketIgnoresLaterEvents(t *testing.T) {
	s, clk := newStore(t)
	t0 := clk.Now()
	_, err := s.CountSenderTicket("a@b", t0.Add(30*time.Minute))
	require.NoError(t, err)
	n, err := s.CountSenderTicket("a@b", t0)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "an event after at is outside (at-1h, at]")
	assert.Equal(t, 2, rateEntries(t, s, "a@b"), "and is kept")
}

func rateEntries(t *testing.T, s *Store, email string) int {
	t.Helper()
	n := 0
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucketSenderRate)).Bucket([]byte(email)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}))
	return n
}
