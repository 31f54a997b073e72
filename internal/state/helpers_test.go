package state

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is a settable Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig points at a fresh file under t.TempDir(). NoSync is off so that
// the tests exercise the same commit path as production.
func testConfig(t testing.TB, clk *testClock) Config {
	t.Helper()
	return Config{
		Path:        filepath.Join(t.TempDir(), "state.db"),
		LockTimeout: 200 * time.Millisecond,
		Now:         clk.Now,
	}
}

func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a fresh store with a test clock.
func newStore(t testing.TB) (*Store, *testClock) {
	t.Helper()
	clk := newClock()
	return openStore(t, testConfig(t, clk)), clk
}

// reopen closes s and opens its file again, proving what was committed is
// on disk rather than in the open handle.
func reopen(t testing.TB, s *Store, clk *testClock) *Store {
	t.Helper()
	require.NoError(t, s.Close())
	return openStore(t, Config{Path: s.Path(), LockTimeout: 200 * time.Millisecond, Now: clk.Now})
}

// put and get reach a bucket directly, for tests that need a record of
// another shape than the typed methods write.
func (s *Store) put(bucket, key string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.putJSON(bucket, key, v) })
}

func (s *Store) get(bucket, key string, v any) (ok bool, err error) {
	err = s.View(func(tx *Tx) (err error) {
		ok, err = tx.getJSON(bucket, key, v)
		return err
	})
	return ok, err
}
