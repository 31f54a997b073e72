package watch_test

import (
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"
)

// requireBench skips the long-running tests unless TICKETSYNC_BENCH=1, so
// `go test ./...` only compiles them.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv("TICKETSYNC_BENCH") != "1" {
		t.Skip("long-running benchmark: set TICKETSYNC_BENCH=1")
	}
}

// percentile is nearest-rank over sorted durations (p in 0..100).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

type summary struct {
	n                   int
	p50, p90, p99, maxD time.Duration
}

func summarize(ds []time.Duration) summary {
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), maxD: percentile(s, 100)}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
