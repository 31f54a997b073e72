package state

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackupUnderLoad takes a backup while a writer commits in a loop: the
// backup is a consistent file holding at least everything committed
// before it began, and the writer is not held up for its duration.
func TestBackupUnderLoad(t *testing.T) {
	s, _ := newStore(t)
	pad := strings.Repeat("x", 512)
	var committed atomic.Int64 // messages 0..committed-1 are on disk
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.RecordMessage(MessageRecord{MessageID: fmt.Sprintf("<load-%06d@example.com>", i), TicketUUID: pad, Action: "created"}); err != nil {
				writeErr = err
				return
			}
			committed.Store(i + 1)
		}
	})
	stopWriter := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopWriter) // before the store's own cleanup closes it
	// Enough in the file that the copy takes a while.
	require.Eventually(t, func() bool { return committed.Load() >= 300 }, 30*time.Second, time.Millisecond)

	before := committed.Load()
	dir := t.TempDir()
	path, err := s.Backup(dir)
	require.NoError(t, err)
	during := committed.Load() - before
	stopWriter()
	require.NoError(t, writeErr)
	t.Logf("backup of %d committed messages; %d more committed while it ran", before, during)

	assert.Equal(t, dir, filepath.Dir(path))
	assert.Regexp(t, `^state-\d{8}T\d{6}Z\.db$`, filepath.Base(path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	b, err := OpenReadOnly(Config{Path: path})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Check())
	for i := range before {
		_, ok, err := b.MessageTicket(fmt.Sprintf("<load-%06d@example.com>", i))
		require.NoError(t, err)
		require.True(t, ok, "message %d was committed before the backup began", i)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}

func TestBackupNamesAndPrune(t *testing.T) {
	s, clk := newStore(t)
	dir := filepath.Join(t.TempDir(), "backups") // created by Backup
	first, err := s.Backup(dir)
	require.NoError(t, err)
	second, err := s.Backup(dir) // same second
	require.NoError(t, err)
	clk.Advance(time.Hour)
	third, err := s.Backup(dir)
	require.NoError(t, err)
	assert.Equal(t, "state-20260301T120000Z.db", filepath.Base(first))
	assert.Equal(t, "state-20260301T120000Z-2.db", filepath.Base(second))
	assert.Equal(t, "state-20260301T130000Z.db", filepath.Base(third))

	other := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(other, []byte("mine"), 0o600))
	staleTemp := filepath.Join(dir, backupTempPrefix+"123"+backupTempSuffix)
	freshTemp := filepath.Join(dir, backupTempPrefix+"456"+backupTempSuffix)
	require.NoError(t, os.WriteFile(staleTemp, nil, 0o600))
	require.NoError(t, os.WriteFile(freshTemp, nil, 0o600))
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(staleTemp, old, old))

	require.NoError(t, PruneBackups(dir, 2))
	assert.Equal(t, []string{filepath.Base(freshTemp), "notes.txt", filepath.Base(second), filepath.Base(third)}, names(t, dir),
		"the oldest backup and the abandoned temporary file are gone; what is not a backup stays")
	assert.ErrorIs(t, PruneBackups(dir, 0), ErrInvalid)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// fakeSchedule drives a Backups runner on the test clock: each wait
// advances the clock instead of sleeping, and the run ends after rounds
// waits.
func fakeSchedule(b *Backups, clk *testClock, rounds int, cancel context.CancelFunc) {
	var n atomic.Int64
	b.sleep = func(ctx context.Context, d time.Duration) error {
		if n.Add(1) > int64(rounds) {
			cancel()
			return ctx.Err()
		}
		clk.Advance(d)
		return ctx.Err()
	}
}

func TestBackupsRunnerKeepsOnlyKeep(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "<kept@example.com>", Action: "created"}))
	dir := t.TempDir()
	var logs bytes.Buffer
	b, err := NewBackups(BackupsConfig{
		Store: s, Dir: dir, Schedule: "@every 1s", Keep: 3, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakeSchedule(b, clk, 6, cancel)
	require.NoError(t, b.Run(ctx))

	// One at once (no backup yet), then one a second for six seconds.
	assert.Equal(t, 7, strings.Count(logs.String(), `msg="state backed up"`), logs.String())
	assert.Equal(t, []string{"state-20260301T120004Z.db", "state-20260301T120005Z.db", "state-20260301T120006Z.db"}, names(t, dir))
	newest, err := OpenReadOnly(Config{Path: filepath.Join(dir, "state-20260301T120006Z.db")})
	require.NoError(t, err)
	defer newest.Close()
	require.NoError(t, newest.Check())
	_, ok, err := newest.MessageTicket("<kept@example.com>")
	require.NoError(t, err)
	assert.True(t, ok)
}

// TestBackupsRunnerCatchUp: a daemon restarted more often than the
// schedule's interval still backs up, and one restarted soon after a
// backup does not write another at once.
func TestBackupsRunnerCatchUp(t *testing.T) {
	s, clk := newStore(t)
	dir := t.TempDir()
	_, err := s.backup(context.Background(), dir, clk.Now().Add(-time.Hour))
	require.NoError(t, err)
	b, err := NewBackups(BackupsConfig{Store: s, Dir: dir, Schedule: "@every 6h", Keep: 7, Now: clk.Now})
	require.NoError(t, err)
	assert.False(t, b.due(), "the newest backup is an hour old")
	clk.Advance(5*time.Hour + time.Minute)
	assert.True(t, b.due(), "the newest backup is more than six hours old")
	require.NoError(t, os.RemoveAll(dir))
	assert.True(t, b.due(), "there is no backup at all")
}

func TestBackupsRunnerFailureIsLoggedAndRetried(t *testing.T) {
	s, clk := newStore(t)
	// A file where the directory should be: every backup fails.
	dir := filepath.Join(t.TempDir(), "backups")
	require.NoError(t, os.WriteFile(dir, nil, 0o600))
	var logs bytes.Buffer
	b, err := NewBackups(BackupsConfig{
		Store: s, Dir: dir, Schedule: "@every 1m", Keep: 2, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakeSchedule(b, clk, 2, cancel)
	require.NoError(t, b.Run(ctx), "a failed backup never stops the daemon")
	lines := strings.Count(logs.String(), `level=ERROR msg="state backup failed; the next scheduled time tries again"`)
	assert.Equal(t, 3, lines, "at start and at both scheduled times:\n%s", logs.String())
	assert.Contains(t, logs.String(), "not a directory", "the reason is logged")
	assert.Contains(t, logs.String(), "state.db", "the state file is named")

	// Fixed: the next scheduled time works.
	require.NoError(t, os.Remove(dir))
	logs.Reset()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	fakeSchedule(b, clk, 1, cancel)
	require.NoError(t, b.Run(ctx))
	assert.Contains(t, logs.String(), `msg="state backed up"`)
}

func TestNewBackupsValidates(t *testing.T) {
	s, _ := newStore(t)
	for _, tc := range []struct {
		name string
		cfg  BackupsConfig
		want string
	}{
		{"no store", BackupsConfig{Dir: "/b", Schedule: "@every 1h", Keep: 1}, "required"},
		{"no dir", BackupsConfig{Store: s, Schedule: "@every 1h", Keep: 1}, "required"},
		{"keep 0", BackupsConfig{Store: s, Dir: "/b", Schedule: "@every 1h"}, "at least 1"},
		{"bad schedule", BackupsConfig{Store: s, Dir: "/b", Schedule: "every day", Keep: 1}, "not a cron spec"},
		{"never fires", BackupsConfig{Store: s, Dir: "/b", Schedule: "0 3 30 2 *", Keep: 1}, "never fires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBackups(tc.cfg)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestRestoreRefusesADamagedBackup: nothing changes when the backup fails
// its check.
func TestRestoreRefusesADamagedBackup(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "<live@example.com>", Action: "created"}))
	backup, err := s.Backup(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	info, err := os.Stat(backup)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(backup, info.Size()/2))

	_, err = Restore(backup, Config{Path: s.Path(), Now: clk.Now})
	require.ErrorIs(t, err, ErrDamaged)
	assert.Contains(t, err.Error(), backup)
	assert.Contains(t, err.Error(), "choose another")
	assert.Equal(t, []string{"state.db"}, names(t, filepath.Dir(s.Path())), "no copy, nothing kept")
	_, err = Restore(s.Path(), Config{Path: s.Path()})
	assert.ErrorIs(t, err, ErrInvalid, "a file restored over itself")
}
