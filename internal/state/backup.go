package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/ticketsync/ticketsync/internal/retry"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// backupStamp is the UTC time in a backup's name: fixed width, so names
// sort in time order, and without colons, which some file systems refuse.
const backupStamp = "20060102T150405Z"

// backupName matches state-<stamp>.db and state-<stamp>-<n>.db, the second
// for backups taken within the same second.
var backupName = regexp.MustCompile(`^state-(\d{8}T\d{6}Z)(?:-(\d+))?\.db$`)

// Temporary files of a backup being written. One left behind by a crash is
// deleted by PruneBackups once it is clearly abandoned.
const (
	backupTempPrefix = ".state-"
	backupTempSuffix = ".db.tmp"
	staleBackupTemp  = 24 * time.Hour
)

// Backup writes a consistent copy of the store to dir (created if needed)
// as state-<UTC time>.db and returns its path. It runs in a read
// transaction, so the daemon keeps writing meanwhile; bbolt's only wait is
// for a commit that has to grow the file's memory map, which waits for the
// copy to end. The copy is fsynced and its structure checked before it is
// renamed into place, so a file with a backup's name is always complete.
func (s *Store) Backup(dir string) (string, error) {
	return s.backup(context.Background(), dir, s.now())
}

func (s *Store) backup(ctx context.Context, dir string, at time.Time) (path string, err error) {
	if dir == "" {
		return "", fmt.Errorf("state: backup %s: empty directory: %w", s.path, ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state: backup %s: %w", s.path, err)
	}
	tmp, err := os.CreateTemp(dir, backupTempPrefix+"*"+backupTempSuffix)
	if err != nil {
		return "", fmt.Errorf("state: backup %s: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(ctxWriter{ctx, tmp})
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return "", fmt.Errorf("state: backup %s to %s: %w", s.path, tmp.Name(), err)
	}
	if err = verifyCopy(tmp.Name()); err != nil {
		return "", fmt.Errorf("state: backup %s: %w", s.path, err)
	}
	path, err = freeName(filepath.Join(dir, "state-"+at.UTC().Format(backupStamp)), ".db")
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("state: backup %s: %w", s.path, err)
	}
	return path, nil
}

// verifyCopy checks the structure of a file just written: a copy of a
// damaged store would be a backup nobody can restore, found out only when
// it is needed.
func verifyCopy(path string) error {
	l, exists, err := inspect(path)
	var problems []string
	if de := (*DamageError)(nil); errors.As(err, &de) {
		problems = de.Problems
	} else if err != nil {
		return err
	} else if !exists {
		return fmt.Errorf("the copy %s vanished", path)
	} else if problems, err = walkFile(path, l); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the copy %s fails its check, so the state file itself is probably damaged "+
			"(stop the daemon and run `ticketsync state check`): %s: %w", path, strings.Join(problems, "; "), ErrDamaged)
	}
	return nil
}

// ctxWriter ends a copy when ctx does, so a backup never holds up a
// shutdown.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// freeName returns base+ext, or base-2+ext, base-3+ext, ... whichever does
// not exist yet: a rename would silently replace an earlier backup.
func freeName(base, ext string) (string, error) {
	for n := 1; n < 1000; n++ {
		name := base + ext
		if n > 1 {
			name = base + "-" + strconv.Itoa(n) + ext
		}
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s%s", base, ext)
}

// syncDir makes a rename in dir survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

type backupFile struct {
	name string
	at   time.Time
	n    int
}

// listBackups returns the backups in dir, oldest first. Other files are
// not backups and are never touched.
func listBackups(dir string) ([]backupFile, []fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []backupFile
	for _, e := range entries {
		m := backupName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		at, err := time.Parse(backupStamp, m[1])
		if err != nil {
			continue
		}
		n := 1
		if m[2] != "" {
			n, _ = strconv.Atoi(m[2])
		}
		out = append(out, backupFile{name: e.Name(), at: at, n: n})
	}
	slices.SortFunc(out, func(a, b backupFile) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.n, b.n))
	})
	return out, entries, nil
}

// PruneBackups deletes the oldest backups in dir beyond the keep newest,
// and temporary files of backups abandoned by a crash more than a day ago.
// The directory must belong to one state file: backups of another would be
// counted and deleted as well.
func PruneBackups(dir string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("state: prune backups in %s: keep %d: %w", dir, keep, ErrInvalid)
	}
	backups, entries, err := listBackups(dir)
	if err != nil {
		return fmt.Errorf("state: prune backups: %w", err)
	}
	var errs []error
	for _, b := range backups[:max(0, len(backups)-keep)] {
		if err := os.Remove(filepath.Join(dir, b.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), backupTempPrefix) || !strings.HasSuffix(e.Name(), backupTempSuffix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleBackupTemp {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state: prune backups in %s: %w", dir, err)
	}
	return nil
}

// BackupsConfig configures the daemon's scheduled backups (state.backup_dir,
// state.backup_schedule, state.backup_keep).
type BackupsConfig struct {
	Store    *Store
	Dir      string
	Schedule string // cron spec, e.g. "@every 6h"
	Keep     int    // backups kept; at least 1
	Logger   *slog.Logger
	// Now is the clock of the schedule and of the backups' names; nil
	// means time.Now.
	Now func() time.Time
}

// Backups writes a backup on a schedule and deletes the oldest beyond
// Keep.
type Backups struct {
	cfg      BackupsConfig
	log      *slog.Logger
	schedule cron.Schedule
	// sleep waits for d or until ctx ends; tests replace it to drive the
	// schedule without waiting.
	sleep func(ctx context.Context, d time.Duration) error
}

// backupRecheck bounds one wait. Timers run on the monotonic clock, which
// stands still while a host is suspended; reading the wall clock again
// every minute keeps a "0 3 * * *" backup at 03:00.
const backupRecheck = time.Minute

// NewBackups validates the configuration and the schedule.
func NewBackups(cfg BackupsConfig) (*Backups, error) {
	if cfg.Store == nil || cfg.Dir == "" {
		return nil, errors.New("state: backups: store and directory are required")
	}
	if cfg.Keep < 1 {
		return nil, fmt.Errorf("state: backups: keep %d: must be at least 1", cfg.Keep)
	}
	sched, err := parseSchedule(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf(`state: backups: schedule %q is not a cron spec such as "@every 6h": %w`, cfg.Schedule, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// cron gives up after five years without a match ("0 3 30 2 *").
	if sched.Next(cfg.Now()).IsZero() {
		return nil, fmt.Errorf("state: backups: schedule %q never fires", cfg.Schedule)
	}
	return &Backups{cfg: cfg, log: cfg.Logger.With("flow", "backup"), schedule: sched, sleep: retry.Sleep}, nil
}

// parseSchedule is cron.ParseStandard, which panics on some malformed
// specs instead of returning an error.
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return cron.ParseStandard(spec)
}

// Run writes a backup at every scheduled time until ctx ends, and at once
// when the newest backup in Dir is older than one interval of the
// schedule: an "@every 6h" schedule restarts its count with the process,
// and a daemon restarted more often than that would otherwise never back
// up. A failed backup is logged at error level and tried again at the next
// scheduled time; Run returns only when ctx ends, and its owner waits for
// that before closing the Store.
func (b *Backups) Run(ctx context.Context) error {
	if b.due() {
		b.once(ctx)
	}
	var last time.Time
	for {
		from := b.cfg.Now()
		// A wall clock read just after waking can still be a hair before
		// the time that fired; never fire the same time twice.
		if from.Before(last) {
			from = last
		}
		next := b.schedule.Next(from)
		if next.IsZero() {
			b.log.Error("backup schedule has no further time; no more backups will be written", "schedule", b.cfg.Schedule)
			<-ctx.Done()
			return nil
		}
		if err := b.waitUntil(ctx, next); err != nil {
			return nil // cancelled: shutting down is not a failure
		}
		last = next
		b.once(ctx)
	}
}

// due reports whether the newest backup is at least one interval old.
func (b *Backups) due() bool {
	now := b.cfg.Now()
	next := b.schedule.Next(now)
	interval := b.schedule.Next(next).Sub(next)
	backups, _, err := listBackups(b.cfg.Dir)
	if err != nil || len(backups) == 0 {
		return true
	}
	return now.Sub(backups[len(backups)-1].at) >= interval
}

func (b *Backups) once(ctx context.Context) {
	start := time.Now()
	path, err := b.cfg.Store.backup(ctx, b.cfg.Dir, b.cfg.Now())
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		b.log.Error("state backup failed; the next scheduled time tries again",
			"state", b.cfg.Store.Path(), "dir", b.cfg.Dir, "err", err, "next", b.schedule.Next(b.cfg.Now()))
		return
	}
	attrs := []any{"path", path, "took", time.Since(start).Round(time.Millisecond)}
	if info, err := os.Stat(path); err == nil {
		attrs = append(attrs, "bytes", info.Size())
	}
	b.log.Info("state backed up", attrs...)
	// Only after a backup that worked: failing backups must not rotate
	// out the good ones.
	if err := PruneBackups(b.cfg.Dir, b.cfg.Keep); err != nil {
		b.log.Error("deleting old state backups failed", "dir", b.cfg.Dir, "err", err)
	}
}

func (b *Backups) waitUntil(ctx context.Context, at time.Time) error {
	for {
		left := at.Sub(b.cfg.Now())
		if left <= 0 {
			return ctx.Err()
		}
		if err := b.sleep(ctx, min(left, backupRecheck)); err != nil {
			return err
		}
	}
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Path string // the state file, now a copy of the backup
	// Kept is where the state file that was replaced now lies; "" when
	// there was none.
	Kept string
	// Rewound is what was settled so that nothing done since the backup
	// is done again (rewind.go).
	Rewound RewindResult
}

// Restore replaces the state file target.Path with a copy of the backup
// at from, for `ticketsync state restore`. The backup must pass the full
// Check. The state file must not be in use: Restore fails with ErrLocked
// when a process holds its lock (within target.LockTimeout), and holds the
// lock itself while it swaps the files, so that a daemon starting
// meanwhile fails rather than opens the file being replaced. The old file
// is kept as <path>.before-restore-<UTC time>; the copy is written and
// fsynced beside the state file and renamed over it, so the path holds
// either the old file or the whole backup, never a part.
func Restore(from string, target Config) (RestoreResult, error) {
	to := target.Path
	if from == "" || to == "" {
		return RestoreResult{}, fmt.Errorf("state: restore: backup and state file are required: %w", ErrInvalid)
	}
	now := target.Now
	if now == nil {
		now = time.Now
	}
	if fi, err := os.Stat(from); err != nil {
		return RestoreResult{}, fmt.Errorf("state: restore: %w", err)
	} else if ti, err := os.Stat(to); err == nil && os.SameFile(fi, ti) {
		return RestoreResult{}, fmt.Errorf("state: restore: %s is the state file itself: %w", from, ErrInvalid)
	}

	// The backup first: a bad one must leave everything as it was.
	dir := filepath.Dir(to)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return RestoreResult{}, fmt.Errorf("state: restore: create directory for %s: %w", to, err)
	}
	tmp, err := checkedCopy(from, dir, target.LockTimeout)
	if err != nil {
		return RestoreResult{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	rewound, err := rewind(tmp, backupTime(from), now())
	if err != nil {
		return RestoreResult{}, fmt.Errorf("state: restore: prepare the copy of %s: %w", from, err)
	}

	unlock, err := lockForRestore(to, target.LockTimeout)
	if err != nil {
		return RestoreResult{}, err
	}
	defer unlock()

	res := RestoreResult{Path: to, Rewound: rewound}
	if _, err := os.Lstat(to); err == nil {
		kept, err := freeName(to+".before-restore-"+now().UTC().Format(backupStamp), "")
		if err == nil {
			err = keepFile(to, kept)
		}
		if err != nil {
			return RestoreResult{}, fmt.Errorf("state: restore: keep %s: %w", to, err)
		}
		res.Kept = kept
	} else if !errors.Is(err, fs.ErrNotExist) {
		return RestoreResult{}, fmt.Errorf("state: restore: %w", err)
	}
	if err := os.Rename(tmp, to); err != nil {
		return RestoreResult{}, fmt.Errorf("state: restore %s: %w", to, err)
	}
	if err := syncDir(dir); err != nil {
		return RestoreResult{}, fmt.Errorf("state: restore %s: %w", to, err)
	}
	return res, nil
}

// checkedCopy runs the full check on the backup at from and copies it to
// a temporary file in dir while still holding it open, so that what is
// copied is what was checked.
func checkedCopy(from, dir string, lockTimeout time.Duration) (tmp string, err error) {
	st, err := OpenReadOnly(Config{Path: from, LockTimeout: lockTimeout})
	if err == nil {
		defer st.Close()
		err = st.Check()
	}
	if de := (*DamageError)(nil); errors.As(err, &de) {
		return "", fmt.Errorf("state: restore: the backup %s is damaged, choose another: %s: %w",
			from, strings.Join(de.Problems, "; "), ErrDamaged)
	}
	if err != nil {
		return "", fmt.Errorf("state: restore: check the backup: %w", err)
	}
	src, err := os.Open(from)
	if err != nil {
		return "", fmt.Errorf("state: restore: %w", err)
	}
	defer src.Close()
	f, err := os.CreateTemp(dir, ".state-restore-*.tmp")
	if err != nil {
		return "", fmt.Errorf("state: restore: %w", err)
	}
	_, err = io.Copy(f, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("state: restore: copy %s to %s: %w", from, f.Name(), err)
	}
	return f.Name(), nil
}

// lockForRestore takes a shared lock on the state file, if there is one,
// and returns its release. It goes to bbolt directly, without the checks
// of Open: the file being replaced is often the damaged one. A read-only
// bbolt open reads only the two meta pages, which its own size check keeps
// within the file.
func lockForRestore(path string, timeout time.Duration) (func(), error) {
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	var db *bolt.DB
	err := guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("state: restore: %s: another ticketsync instance is probably running "+
			"(no lock after %s; stop it and retry): %w", path, timeout, ErrLocked)
	case err != nil:
		return func() {}, nil // missing or unreadable: nothing holds it either
	}
	return func() { _ = db.Close() }, nil
}

// keepFile preserves the state file under kept before it is replaced: a
// hard link, which is instant and leaves the path in place until the
// rename, else a copy on file systems without links.
func keepFile(path, kept string) error {
	if err := os.Link(path, kept); err == nil {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(kept, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(kept)
	}
	return err
}
