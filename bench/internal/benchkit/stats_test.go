package benchkit

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i + 1)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ds(1), 99, 1},
		{"p0 is the first", ds(10), 0, 1},
		{"p50 of 10", ds(10), 50, 5},
		{"p90 of 10", ds(10), 90, 9},
		{"p99 of 200", ds(200), 99, 198},
		{"p99 of 40", ds(40), 99, 40},
		{"p100 is the max", ds(7), 100, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Percentile(c.sorted, c.p); got != c.want {
				t.Errorf("Percentile(%d values, %v) = %v, want %v", len(c.sorted), c.p, got, c.want)
			}
		})
	}
}

func TestSummarizeLeavesInputUnsorted(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	s := Summarize(in)
	if s != (Summary{N: 3, P50: 2, P90: 3, P99: 3, Max: 3}) {
		t.Errorf("Summarize = %+v", s)
	}
	if in[0] != 3 {
		t.Errorf("input reordered: %v", in)
	}
}
