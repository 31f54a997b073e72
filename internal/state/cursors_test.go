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
		{"first cursor", nil, Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 7, LastUID: 10}},
		{"forward", &Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 7, LastUID: 11}, Cursor{UIDValidity: 7, LastUID: 11}},
		{"backward ignored", &Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 7, LastUID: 3}, Cursor{UIDValidity: 7, LastUID: 10}},
		{"same is a no-op", &Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 7, LastUID: 10}},
		{"new UIDVALIDITY resets even lower", &Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 8, LastUID: 2}, Cursor{UIDValidity: 8, LastUID: 2}},
		{"new UIDVALIDITY resets to zero", &Cursor{UIDValidity: 7, LastUID: 10}, Cursor{UIDValidity: 6, LastUID: 0}, Cursor{UIDValidity: 6, LastUID: 0}},
		{"a first cursor keeps its pending imports",
			nil, Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 80, 899}},
			Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 80, 899}}},
		{"a new UIDVALIDITY replaces pending imports",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5}}, Cursor{UIDValidity: 8, LastUID: 40, Pending: []uint32{39}},
			Cursor{UIDValidity: 8, LastUID: 40, Pending: []uint32{39}}},
		{"handling a pending import settles it and those before it",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 80, 899}}, Cursor{UIDValidity: 7, LastUID: 80},
			Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{899}}},
		{"a UID between pending imports settles the earlier ones",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 80, 899}}, Cursor{UIDValidity: 7, LastUID: 81},
			Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{899}}},
		{"the last pending import leaves a plain cursor",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 899}}, Cursor{UIDValidity: 7, LastUID: 899},
			Cursor{UIDValidity: 7, LastUID: 900}},
		{"moving past the top settles every pending import",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 899}}, Cursor{UIDValidity: 7, LastUID: 905},
			Cursor{UIDValidity: 7, LastUID: 905}},
		{"pending imports cannot be added to a running cursor",
			&Cursor{UIDValidity: 7, LastUID: 900}, Cursor{UIDValidity: 7, LastUID: 3, Pending: []uint32{3}},
			Cursor{UIDValidity: 7, LastUID: 900}},
		{"a UID before every pending import changes nothing",
			&Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 899}}, Cursor{UIDValidity: 7, LastUID: 4},
			Cursor{UIDValidity: 7, LastUID: 900, Pending: []uint32{5, 899}}},
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
	assert.Equal(t, Cursor{UIDValidity: 1, LastUID: 5}, c, "INBOX is case-insensitive")
	c, err = s.Cursor("Support/Archive")
	require.NoError(t, err)
	assert.Equal(t, Cursor{UIDValidity: 2, LastUID: 9}, c)
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
