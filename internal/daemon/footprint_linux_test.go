package daemon

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSmaps(t *testing.T) {
	const smaps = `00400000-00cae000 r-xp 00000000 fe:00 10314348                   /srv/ticket sync/ticketsync
Size:               8888 kB
Rss:                7288 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00cae000-01662000 r--p 008ae000 fe:00 10314348                   /srv/ticket sync/ticketsync
Size:               9936 kB
Rss:                7952 kB
Anonymous:            12 kB
VmFlags: rd mr mw me
7f2984627000-7f29846c7000 rw-p 00000000 00:00 0
Size:                640 kB
Rss:                 252 kB
Anonymous:           252 kB
VmFlags: rd wr mr mw me ac
`
	got := parseSmaps([]byte(smaps))
	require.Len(t, got, 3)
	assert.Equal(t, memoryMap{start: 0x400000, end: 0xcae000, perms: "r-xp", dev: "fe:00", inode: 10314348, rss: 7288 << 10}, got[0])
	assert.Equal(t, int64(12<<10), got[1].anonymous)
	assert.Equal(t, uint64(0), got[2].inode)
}

// The pages of the running executable are unmapped and come back as the
// code runs on; what was released is what RssFile loses.
func TestReleaseExecutable(t *testing.T) {
	before := rssFile(t)
	released := releaseExecutable()
	after := rssFile(t)
	require.Positive(t, released, "nothing of the executable was mapped")
	assert.Less(t, after, before)
	// Still running: code that had not been needed since the release.
	assert.Equal(t, "3", strconv.Itoa(3))
}

func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestTrimmerSchedule(t *testing.T) {
	tr := newTrimmer(testLogger(t))
	assert.Equal(t, trimSettle, tr.next())
	tr.trim()
	assert.Equal(t, trimEvery, tr.next())
	assert.Positive(t, residentBytes())
}

// BenchmarkTrim is what one trim costs: a full collection of a small heap,
// reading /proc/self/smaps and the madvise calls. The trimmer runs it once
// a minute (footprint.go).
func BenchmarkTrim(b *testing.B) {
	tr := newTrimmer(slog.New(slog.DiscardHandler))
	for b.Loop() {
		tr.trim()
	}
}
