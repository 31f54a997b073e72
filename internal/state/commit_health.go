package state

import (
	"errors"
	"sync/atomic"
)

// ErrCommit matches an Update whose writes could not be committed (a full
// disk, an I/O error): nothing of that transaction was written. Whatever
// the caller did outside before it must be held and recorded again, never
// done twice (docs/architecture.md, "A failed commit").
var ErrCommit = errors.New("state write failed")

// writeHealth counts failed commits and remembers whether the last one
// failed, for /readyz and the metrics.
type writeHealth struct {
	failures atomic.Uint64
	failing  atomic.Bool
}

func (w *writeHealth) failed() {
	w.failures.Add(1)
	w.failing.Store(true)
}

func (w *writeHealth) succeeded() { w.failing.Store(false) }

// CommitFailures is how many commits have failed since the store opened.
func (s *Store) CommitFailures() uint64 { return s.writes.failures.Load() }

// WritesFailing reports whether the last commit failed: state writes are
// not being saved until one succeeds again.
func (s *Store) WritesFailing() bool { return s.writes.failing.Load() }
