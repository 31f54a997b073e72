package daemon

import (
	"log/slog"
	"runtime/debug"
	"time"
)

// A daemon at rest is resident mostly with pages it no longer uses: the
// parts of its own executable that start-up ran and read (every package's
// initialisation, the configuration, the first login and poll; the kernel
// maps up to 64 KiB of a file around each page touched), and after a busy
// spell the heap it grew for it, which the Go runtime keeps for the next
// one (about a heap goal's worth). The trimmer gives both back shortly
// after start-up and then at a fixed interval; what the daemon keeps using
// comes back within its next polls. The executable's pages stay in the
// page cache, so mapping them again is a minor fault; nothing the daemon
// does changes.
//
// A fixed interval rather than a guess at when the daemon is quiet: what
// a quiet daemon allocates grows with the tickets its poll lists, and a
// trim that lands in a burst only costs a collection and some page faults.
//
// Why every minute: between trims RSS climbs back by what the polls touch
// and by the garbage they leave (an idle TaskIP poll of 100 tickets
// allocates about 80 KB, and with a heap this small the collector waits
// for its own two-minute deadline), and the runtime's forced collection
// itself maps about 0.6 MiB more of the executable (the function tables
// it reads to scan stacks). A trim collects first, so with one a minute
// that forced collection never comes due, and what a collection touches
// is dropped at once. A trim takes about 6 ms (BenchmarkTrim), 0.01 % of
// a core at this rate.
type trimmer struct {
	log     *slog.Logger
	trimmed bool
}

const (
	// Ready takes about 10 ms; the first login and poll of each flow
	// follow at once.
	trimSettle = 5 * time.Second
	trimEvery  = time.Minute
)

func newTrimmer(log *slog.Logger) *trimmer {
	return &trimmer{log: log}
}

// next is the wait before the next trim.
func (t *trimmer) next() time.Duration {
	if !t.trimmed {
		return trimSettle
	}
	return trimEvery
}

func (t *trimmer) trim() {
	start := time.Now()
	before := residentBytes()
	// FreeOSMemory collects first, so what the last busy spell allocated
	// is free, and returns all free heap at once.
	debug.FreeOSMemory()
	released := releaseExecutable()
	t.trimmed = true
	t.log.Debug("memory trimmed", "rss_before", before, "rss_after", residentBytes(),
		"executable_released", released, "took", time.Since(start))
}
