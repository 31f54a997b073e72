package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// envDamageChild names the file a re-executed test binary opens. A SIGBUS
// or a fault in bbolt's own goroutines cannot be recovered, so the opens
// that could crash run in a child, whose death fails the test instead of
// ending the run.
const envDamageChild = "TICKETSYNC_STATE_DAMAGE_CHILD"

// childResult is what the child saw, opening the file as the daemon does
// and as `ticketsync state check` does.
type childResult struct {
	Open         string // "ok" or the error
	OpenDamaged  bool
	Check        string // "ok" or the error from OpenReadOnly or Check
	CheckDamaged bool
	Problems     []string
}

const childMarker = "DAMAGE-CHILD-RESULT "

func TestDamageChild(t *testing.T) {
	path := os.Getenv(envDamageChild)
	if path == "" {
		t.Skip("helper of the damage tests, run by them in a child process")
	}
	var res childResult
	// The daemon's Open writes (schema upgrade), so it gets its own copy.
	daemonCopy := path + ".daemon"
	copyFile(t, path, daemonCopy)
	s, err := Open(Config{Path: daemonCopy, LockTimeout: 200 * time.Millisecond})
	res.Open, res.OpenDamaged = outcome(err)
	if err == nil {
		require.NoError(t, s.Close())
	}
	ro, err := OpenReadOnly(Config{Path: path, LockTimeout: 200 * time.Millisecond})
	if err == nil {
		err = ro.Check()
		require.NoError(t, ro.Close())
	}
	res.Check, res.CheckDamaged = outcome(err)
	var de *DamageError
	if errors.As(err, &de) {
		res.Problems = de.Problems
	}
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	fmt.Println(childMarker + string(raw))
}

func outcome(err error) (string, bool) {
	if err == nil {
		return "ok", false
	}
	return err.Error(), errors.Is(err, ErrDamaged)
}

// openInChild opens path in a re-executed test binary and fails the test
// if that process dies of a signal or a panic.
func openInChild(t *testing.T, path string) childResult {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestDamageChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), envDamageChild+"="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "opening %s crashed the process:\n%s", path, out)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), childMarker); ok {
			var res childResult
			require.NoError(t, json.Unmarshal([]byte(line), &res))
			return res
		}
	}
	t.Fatalf("the child printed no result:\n%s", out)
	return childResult{}
}

// populatedFile writes a closed state file with data in every bucket:
// typed records, a thousand filler records per bucket, nested rate
// buckets, a value large enough for overflow pages, and freed pages from a
// delete, so that random damage lands on every kind of page.
func populatedFile(t *testing.T) string {
	t.Helper()
	clk := newClock()
	cfg := testConfig(t, clk)
	cfg.NoSync = true // the content is what matters here, not the commits
	s, err := Open(cfg)
	require.NoError(t, err)
	_, err = s.ReplyKey()
	require.NoError(t, err)
	require.NoError(t, s.Update(func(tx *Tx) error {
		for i := range 500 {
			if err := tx.RecordMessage(MessageRecord{
				MessageID: fmt.Sprintf("<m%05d@example.com>", i), TicketUUID: fmt.Sprintf("uuid-%05d", i),
				TicketID: int64(i), Action: "created",
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	pad := strings.Repeat("p", 200)
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			b := tx.Bucket([]byte(name))
			for i := range 300 {
				raw, _ := json.Marshal(map[string]any{"n": i, "pad": pad})
				if err := b.Put(fmt.Appendf(nil, "fill-%05d", i), raw); err != nil {
					return err
				}
			}
		}
		rate := tx.Bucket([]byte(bucketSenderRate))
		for i := range 20 {
			sub, err := rate.CreateBucket(fmt.Appendf(nil, "sender%02d@example.com", i))
			if err != nil {
				return err
			}
			// Most stay inline in their parent's page; every fifth grows
			// pages of its own.
			n := 3
			if i%5 == 0 {
				n = 200
			}
			for j := range n {
				if err := sub.Put(fmt.Appendf(nil, "2026-03-01T12:00:%02d#%016x", j%60, j), []byte(`"2026-03-01T12:00:00Z"`)); err != nil {
					return err
				}
			}
		}
		big, _ := json.Marshal(map[string]string{"body": strings.Repeat("b", 40<<10)})
		return tx.Bucket([]byte(bucketOutbox)).Put([]byte("big"), big)
	}))
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketMessages, bucketThreads, bucketSenders, bucketAlertsDone} {
			b := tx.Bucket([]byte(name))
			for i := range 280 {
				if err := b.Delete(fmt.Appendf(nil, "fill-%05d", i)); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	require.NoError(t, s.Close())
	return cfg.Path
}

// usedPages returns the file's page size and high-water mark and which
// pages hold something: meta, freelist, and every page of every tree.
func usedPages(t *testing.T, path string) (pageSize, hwm uint64, used []bool) {
	t.Helper()
	l, exists, err := inspect(path)
	require.NoError(t, err)
	require.True(t, exists)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	w := &walker{f: f, pageSize: l.pageSize, hwm: l.meta.pgid, seen: make([]bool, l.meta.pgid)}
	w.seen[0], w.seen[1] = true, true
	for i := range l.freelistPages {
		w.seen[l.meta.freelist+i] = true
	}
	require.NoError(t, w.tree(l.meta.root, ""))
	require.Empty(t, w.problems)
	return l.pageSize, l.meta.pgid, w.seen
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// assertCleanDamageError checks the message an operator would read.
func assertCleanDamageError(t *testing.T, msg, path string) {
	t.Helper()
	assert.Contains(t, msg, path, "the error names the file")
	assert.Contains(t, msg, "ticketsync state restore", "the error names the remedy")
	assert.Contains(t, msg, "move the file away")
	assert.Contains(t, msg, "Backing up the state file")
}

func TestPopulatedFileIsClean(t *testing.T) {
	path := populatedFile(t)
	ro, err := OpenReadOnly(Config{Path: path})
	require.NoError(t, err)
	defer ro.Close()
	require.NoError(t, ro.Check())
	var buckets []string
	require.NoError(t, ro.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if k, _ := b.Cursor().First(); k != nil {
				buckets = append(buckets, string(name))
			}
			return nil
		})
	}))
	assert.ElementsMatch(t, allBuckets, buckets, "data in every bucket")
	ps, hwm, used := usedPages(t, path)
	free := 0
	for _, u := range used {
		if !u {
			free++
		}
	}
	t.Logf("%d pages of %d bytes, %d of them free", hwm, ps, free)
	assert.Positive(t, free, "the fixture has free pages, so that damage to them is tried too")
}

func TestOpenTruncated(t *testing.T) {
	orig := populatedFile(t)
	ps, _, _ := usedPages(t, orig)
	info, err := os.Stat(orig)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"half", info.Size() / 2},
		{"one page", int64(ps)},
		{"empty", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			copyFile(t, orig, path)
			require.NoError(t, os.Truncate(path, tc.size))
			res := openInChild(t, path)
			assert.True(t, res.OpenDamaged, "Open: %s", res.Open)
			assert.True(t, res.CheckDamaged, "check: %s", res.Check)
			assertCleanDamageError(t, res.Open, path+".daemon")
			assertCleanDamageError(t, res.Check, path)
			t.Logf("%s", res.Check)
		})
	}
}

func TestOpenNotBbolt(t *testing.T) {
	random := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"random bytes", random},
		{"text", []byte(strings.Repeat("state:\n  path: /var/lib/ticketsync/state.db\n", 200))},
		{"shorter than a meta page", []byte("bolt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			res := openInChild(t, path)
			assert.True(t, res.OpenDamaged, "Open: %s", res.Open)
			assert.True(t, res.CheckDamaged, "check: %s", res.Check)
			assertCleanDamageError(t, res.Check, path)
			t.Logf("%s", res.Problems)
		})
	}
}

// TestOpenRandomPageDamage overwrites whole pages with random bytes. A copy
// whose damage hit only free pages has lost nothing and must open and
// check clean; any other must be refused, by Open or at the latest by the
// full check, and no open may crash. The seeds are fixed, the fixture's
// page numbers not quite: bbolt writes sibling buckets in map order.
func TestOpenRandomPageDamage(t *testing.T) {
	orig := populatedFile(t)
	ps, hwm, used := usedPages(t, orig)
	var caughtAtOpen, caughtByCheck, harmless atomic.Int64
	t.Cleanup(func() { // after the parallel subtests
		t.Logf("of 20 damaged copies: %d refused at open, %d opened but failed the full check, %d hit only free pages",
			caughtAtOpen.Load(), caughtByCheck.Load(), harmless.Load())
	})
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			path := filepath.Join(t.TempDir(), "state.db")
			copyFile(t, orig, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			hitUsed := false
			var hit []uint64
			for range 1 + rng.IntN(3) {
				id := 2 + rng.Uint64N(hwm-2)
				page := make([]byte, ps)
				for i := range page {
					page[i] = byte(rng.Uint32())
				}
				_, err := f.WriteAt(page, int64(id*ps))
				require.NoError(t, err)
				hit = append(hit, id)
				hitUsed = hitUsed || used[id]
			}
			require.NoError(t, f.Close())

			res := openInChild(t, path)
			t.Logf("pages %v (in use: %v): open: %.120s; check: %s", hit, hitUsed, res.Open, strings.Join(res.Problems, " | "))
			if res.Open != "ok" {
				assert.True(t, res.OpenDamaged, "Open fails only with a damage error: %s", res.Open)
				assertCleanDamageError(t, res.Open, path+".daemon")
			}
			if !hitUsed {
				harmless.Add(1)
				assert.Equal(t, "ok", res.Open, "only free pages were hit")
				assert.Equal(t, "ok", res.Check, "only free pages were hit")
				return
			}
			require.True(t, res.CheckDamaged, "damage to pages in use must fail the check: %s", res.Check)
			assertCleanDamageError(t, res.Check, path)
			if res.Open != "ok" {
				caughtAtOpen.Add(1)
			} else {
				caughtByCheck.Add(1)
			}
		})
	}
}

// TestOpenFreePageDamage: a free page holds nothing, so overwriting one
// loses nothing and must not be reported.
func TestOpenFreePageDamage(t *testing.T) {
	path := populatedFile(t)
	ps, _, used := usedPages(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	n := 0
	for id, u := range used {
		if !u {
			_, err := f.WriteAt(bytes.Repeat([]byte{0x5A}, int(ps)), int64(id)*int64(ps))
			require.NoError(t, err)
			n++
		}
	}
	require.NoError(t, f.Close())
	require.Positive(t, n)
	res := openInChild(t, path)
	assert.Equal(t, "ok", res.Open)
	assert.Equal(t, "ok", res.Check)
}

func TestOpenMetaPageDamage(t *testing.T) {
	orig := populatedFile(t)
	ps, _, _ := usedPages(t, orig)
	overwrite := func(t *testing.T, path string, ids ...int64) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		require.NoError(t, err)
		for _, id := range ids {
			_, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, int(ps)), id*int64(ps))
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
	}
	for _, id := range []int64{0, 1} {
		t.Run(fmt.Sprintf("meta page %d", id), func(t *testing.T) {
			// bbolt falls back to the other meta page, the previous
			// commit, whose pages are all still there: a torn meta write
			// in a crash looks exactly like this, so the daemon opens it.
			// The check cannot tell a crash from damage and reports it.
			path := filepath.Join(t.TempDir(), "state.db")
			copyFile(t, orig, path)
			overwrite(t, path, id)
			res := openInChild(t, path)
			assert.Equal(t, "ok", res.Open)
			assert.True(t, res.CheckDamaged, res.Check)
			require.Len(t, res.Problems, 1)
			assert.Contains(t, res.Problems[0], fmt.Sprintf("meta page %d is invalid", id))
		})
	}
	t.Run("both meta pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		copyFile(t, orig, path)
		overwrite(t, path, 0, 1)
		res := openInChild(t, path)
		assert.True(t, res.OpenDamaged, res.Open)
		assert.True(t, res.CheckDamaged, res.Check)
		assertCleanDamageError(t, res.Check, path)
	})
}

// TestOpenBadPageNumber points a branch at pages past the end of the file,
// one of them so far that bbolt's own Tx.Check dies of a fault in its
// goroutine (the process exits: "unexpected fault address"). The walk
// finds the bad number before bbolt follows it.
func TestOpenBadPageNumber(t *testing.T) {
	orig := populatedFile(t)
	ps, hwm, used := usedPages(t, orig)
	for _, target := range []uint64{hwm + 10, 1 << 30} {
		t.Run(fmt.Sprint(target), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			copyFile(t, orig, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			hdr := make([]byte, pageHeaderSize)
			branch := uint64(0)
			for id := uint64(2); id < hwm && branch == 0; id++ {
				_, err := f.ReadAt(hdr, int64(id*ps))
				require.NoError(t, err)
				if used[id] && native.Uint64(hdr) == id && native.Uint16(hdr[8:]) == flagBranch {
					branch = id
				}
			}
			require.NotZero(t, branch, "the fixture has a branch page")
			pgid := make([]byte, 8)
			native.PutUint64(pgid, target)
			// The first element's page number.
			_, err = f.WriteAt(pgid, int64(branch*ps)+pageHeaderSize+8)
			require.NoError(t, err)
			require.NoError(t, f.Close())

			res := openInChild(t, path)
			assert.True(t, res.OpenDamaged, res.Open)
			assert.True(t, res.CheckDamaged, res.Check)
			assert.Contains(t, res.Check, fmt.Sprintf("page %d is outside pages 2 to %d", target, hwm-1))
		})
	}
}

// TestCheckFindsDamageInsideValues: bbolt keeps no checksums of its data
// pages, so bytes changed inside a value pass its own check; decoding the
// values finds them.
func TestCheckFindsDamageInsideValues(t *testing.T) {
	path := populatedFile(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	// Every copy, since free pages may still hold older ones.
	marker := []byte(`"pad":"pppp`)
	require.Contains(t, string(raw), string(marker))
	for i := bytes.Index(raw, marker); i >= 0; {
		copy(raw[i:], `{{{{`)
		next := bytes.Index(raw[i:], marker)
		if next < 0 {
			break
		}
		i += next
	}
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	ro, err := OpenReadOnly(Config{Path: path})
	require.NoError(t, err)
	defer ro.Close()
	var boltProblems []error
	require.NoError(t, ro.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			boltProblems = append(boltProblems, e)
		}
		return nil
	}))
	assert.Empty(t, boltProblems, "bbolt's own check does not look inside values")
	err = ro.Check()
	require.ErrorIs(t, err, ErrDamaged)
	assert.Contains(t, err.Error(), "is not the JSON it was written as")
}

func TestCheckNeedsReadOnlyStore(t *testing.T) {
	s, _ := newStore(t)
	assert.ErrorContains(t, s.Check(), "read-only")
}

func TestDamageErrorMessage(t *testing.T) {
	err := error(&DamageError{Path: "/data/state.db", Problems: []string{"the file is empty (0 bytes)", "b", "c"}})
	assert.ErrorIs(t, err, ErrDamaged)
	assert.Equal(t, "state: /data/state.db is damaged: the file is empty (0 bytes) (and 2 more problems). "+Remedy("/data/state.db"), err.Error())
}
