package testkit

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/state"
)

// StoredThread reads a ticket's thread record.
func StoredThread(t testing.TB, st *state.Store, ticketID int) (th state.Thread, ok bool) {
	t.Helper()
	require.NoError(t, st.View(func(tx *state.Tx) (err error) {
		th, ok, err = tx.Thread(int64(ticketID))
		return err
	}))
	return th, ok
}
