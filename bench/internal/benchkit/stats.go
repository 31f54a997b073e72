package benchkit

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile is nearest-rank over sorted durations (p in 0..100); 0 for
// none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Summary is the nearest-rank p50/p90/p99/max of N durations.
type Summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize sorts a copy of ds and summarizes it.
func Summarize(ds []time.Duration) Summary {
	s := slices.Clone(ds)
	slices.Sort(s)
	return Summary{N: len(s), P50: Percentile(s, 50), P90: Percentile(s, 90), P99: Percentile(s, 99), Max: Percentile(s, 100)}
}

// Millis prints a duration in whole milliseconds: "12 ms".
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// Verdict is a table's target column: "met", or "**missed**" in bold.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// MiB is a size in bytes as mebibytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }
