package state

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCursorMovesForwardAndResetsOnUIDValidity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start *Cursor
		set   Cursor
		want  Cursor
	}{
		{"first cursor", nil, Cursor{UIDValidity: 7, LastUID: 10}, Cursor{7, 10}},
		{"forward", &Cursor{7, 10}, Cursor{7, 11}, Cursor{7, 11}},
		{"backward ignored", &Cursor{7, 10}, Cursor{7, 3}, Cursor{7, 10}},
		{"same is a no-op", &Cursor{7, 10}, Cursor{7, 10}, Cursor{7, 10}},
		{"new UIDVALIDITY resets even lower", &Cursor{7, 10}, Cursor{8, 2}, Cursor{8, 2}},
		{"new UIDVALIDITY resets to zero", &Cursor{7, 10}, Cursor{6, 0}, Cursor{6, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			if tc.start != nil {
				require.NoError(t, s.SetCursor("INBOX", *tc.start))
			}
			require.NoError(t, s.SetCursor("INBOX", tc.set))
			got, err := s.Cursor("INBOX")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCursorPerMailbox(t *testing.T) {
	s, clk := newStore(t)

	c, err := s.Cursor("INBOX")
	require.NoError(t, err)
	assert.Equal(t, Cursor{}, c, "zero cursor when nothing was read")

	require.NoError(t, s.SetCursor("inbox", Cursor{UIDValidity: 1, LastUID: 5}))
	require.NoError(t, s.SetCursor("Support/Archive", Cursor{UIDValidity: 2, LastUID: 9}))

	s = reopen(t, s, clk)
	c, err = s.Cursor("INBOX")
	require.NoError(t, err)
	assert.Equal(t, Cursor{1, 5}, c, "INBOX is case-insensitive")
	c, err = s.Cursor("Support/Archive")
	require.NoError(t, err)
	assert.Equal(t, Cursor{2, 9}, c)
	c, err = s.Cursor("support/archive")
	require.NoError(t, err)
	assert.Equal(t, Cursor{}, c, "other mailbox names keep their case")
}

func TestCursorInvalid(t *testing.T) {
	s, _ := newStore(t)
	assert.ErrorIs(t, s.SetCursor("", Cursor{UIDValidity: 1}), ErrInvalid)
	assert.ErrorIs(t, s.SetCursor("INBOX", Cursor{LastUID: 3}), ErrInvalid)
	_, err := s.Cursor("")
	assert.ErrorIs(t, err, ErrInvalid)
}
