package bridge

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/state"
)

// storedSnapshot reads the watch's view of a ticket into v.
func storedSnapshot(t testing.TB, st *state.Store, ticketID int, v any) (ok bool) {
	t.Helper()
	require.NoError(t, st.View(func(tx *state.Tx) (err error) {
		ok, err = tx.Snapshot(int64(ticketID), v)
		return err
	}))
	return ok
}

// linkThread records a thread for a ticket, as the watch does.
func linkThread(t testing.TB, st *state.Store, tt threadTicket, th thread) {
	t.Helper()
	require.NoError(t, st.Update(func(tx *state.Tx) error { return tx.SetThread(tt, th) }))
}

// snapshotCount counts the watch's ticket views.
func snapshotCount(t testing.TB, st *state.Store) int {
	t.Helper()
	var ids []int64
	require.NoError(t, st.View(func(tx *state.Tx) (err error) {
		ids, err = tx.SnapshotIDs()
		return err
	}))
	return len(ids)
}
