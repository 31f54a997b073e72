// Package state is ticketsync's only persistent memory: one bbolt file that
// holds the IMAP cursors, the Message-ID <-> ticket links, the intents that
// make ticket creation crash-safe, learned senders, the loop-guard rate
// window and a small typed key-value facility for the Slack and outbox flows.
//
// Links live here rather than in memory so that they survive restarts (a lost
// link means a duplicate ticket or a reply threaded nowhere). The store never
// holds secrets: tokens and passwords stay in the configuration, which is why
// Dump can print everything.
//
// Every write is a bbolt Update, never Batch: Batch may run its function more
// than once, and most writes here (intent attempts, rate counting) are not
// idempotent.
package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout is how long Open waits for another process to release
// the file. A running daemon never releases it, so waiting longer only delays
// the error an operator needs to see.
const DefaultLockTimeout = time.Second

var (
	// ErrLocked means another process holds the state file; almost always a
	// second ticketsync instance (or `state dump` while the daemon runs).
	ErrLocked = errors.New("state file is locked")
	// ErrSchemaTooNew means the file was written by a newer ticketsync.
	// Running old code on it could silently drop data it does not understand.
	ErrSchemaTooNew = errors.New("state file schema is newer than this build")
	// ErrReadOnly is returned by writes on a store opened with OpenReadOnly.
	ErrReadOnly = errors.New("state store is read-only")
	// ErrInvalid marks an argument the store refuses to key on (an empty
	// Message-ID, email or mailbox, a zero UIDVALIDITY, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrUnknownBucket is returned by the generic helpers for a bucket that is
	// not one of the generic Bucket constants.
	ErrUnknownBucket = errors.New("unknown bucket")
)

// Config says where the store lives and how it behaves.
type Config struct {
	Path string
	// LockTimeout bounds the wait for the file lock; zero or negative means
	// DefaultLockTimeout. bbolt itself would wait forever.
	LockTimeout time.Duration
	// Now is the clock used for timestamps the caller leaves zero and for
	// retention; nil means time.Now. It must be safe for concurrent use.
	Now func() time.Time
	// NoSync skips fsync on commit. A crash may then lose or corrupt the
	// file: for tests and benchmarks only.
	NoSync bool
	// BeforeCommit, when set, runs before each commit; an error fails the
	// commit as a full disk would. For tests of what a failing disk does.
	BeforeCommit func() error
}

// Store is an open state file. It is safe for concurrent use; bbolt runs one
// writer at a time and any number of readers alongside it.
type Store struct {
	db       *bolt.DB
	path     string
	now      func() time.Time
	readOnly bool
	// pruneBatch caps deletions per transaction; a field rather than a
	// constant so tests can prove batching with a handful of records.
	pruneBatch int
	// writes tracks commits that failed (commit_health.go).
	writes       writeHealth
	beforeCommit func() error
}

// Open opens (creating if needed) the state file for the daemon, migrating an
// older schema forward. It takes an exclusive lock on the file for as long as
// the Store is open; if another process holds it, Open fails after
// cfg.LockTimeout with an error matching ErrLocked. A truncated, damaged or
// foreign file fails with a *DamageError (matching ErrDamaged) that names
// the file and the remedy: every page's structure is checked here, bbolt's
// own check and the values only by Check.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("state: open: empty path: %w", ErrInvalid)
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		// 0700: the file reveals customers' addresses and ticket ids.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state: create directory for %s: %w", cfg.Path, err)
		}
	}
	s, err := open(cfg, false)
	if err != nil {
		return nil, err
	}
	if err := guard(cfg.Path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error { return upgrade(tx, cfg.Path) })
	}); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens an existing state file for inspection (`ticketsync state
// dump`). It takes a shared lock, which conflicts with the daemon's exclusive
// one: while the daemon runs it fails after cfg.LockTimeout with ErrLocked,
// so the operator has to stop the daemon first. Copying the file instead is
// not safe while the daemon writes, hence no attempt to work around the lock.
//
// An older schema is not migrated (that would be a write); Dump still shows
// it as it is, and typed reads of buckets that do not exist yet find nothing.
func OpenReadOnly(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("state: open read-only: empty path: %w", ErrInvalid)
	}
	s, err := open(cfg, true)
	if err != nil {
		return nil, err
	}
	if err := guard(cfg.Path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			_, err := checkVersion(tx, cfg.Path)
			return err
		})
	}); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

func open(cfg Config, readOnly bool) (*Store, error) {
	timeout := cfg.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	db, err := openBolt(cfg.Path, &bolt.Options{
		Timeout:  timeout,
		ReadOnly: readOnly,
		NoSync:   cfg.NoSync,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("state: %s: another ticketsync instance is probably running "+
			"(no lock after %s; stop it and retry): %w", cfg.Path, timeout, ErrLocked)
	}
	var damage *DamageError
	if errors.As(err, &damage) {
		return nil, err
	}
	if err != nil {
		mode := "open"
		if readOnly {
			mode = "open read-only"
		}
		return nil, fmt.Errorf("state: %s %s: %w", mode, cfg.Path, err)
	}
	// Under the lock now, so no writer changes the file while it is read.
	if err := verifyStructure(cfg.Path); err != nil {
		_ = db.Close()
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, path: cfg.Path, now: now, readOnly: readOnly, pruneBatch: defaultPruneBatch, beforeCommit: cfg.BeforeCommit}, nil
}

// Close releases the file and its lock. In-flight transactions finish first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", s.path, err)
	}
	return nil
}

// Path is the file the store was opened from, for log lines.
func (s *Store) Path() string { return s.path }

// Update runs fn in one read-write transaction: everything fn writes commits
// together (and is fsynced) or not at all. An error from fn rolls back and is
// returned unchanged. The Tx must not be used after fn returns.
func (s *Store) Update(fn func(tx *Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("state: update %s: %w", s.path, ErrReadOnly)
	}
	var fnErr error
	err := s.db.Update(func(btx *bolt.Tx) error {
		if fnErr = fn(&Tx{tx: btx, s: s}); fnErr != nil {
			return fnErr
		}
		if s.beforeCommit != nil {
			return s.beforeCommit()
		}
		return nil
	})
	if err != nil && fnErr == nil {
		s.writes.failed()
		return fmt.Errorf("state: commit %s: %w: %w", s.path, ErrCommit, err)
	}
	if err == nil {
		s.writes.succeeded()
	}
	return err
}

// View runs fn in a read-only transaction that sees one consistent snapshot.
// An error from fn is returned unchanged.
func (s *Store) View(fn func(tx *Tx) error) error {
	var fnErr error
	err := s.db.View(func(btx *bolt.Tx) error {
		fnErr = fn(&Tx{tx: btx, s: s})
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("state: read %s: %w", s.path, err)
	}
	return err
}
