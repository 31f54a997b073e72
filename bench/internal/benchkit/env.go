package benchkit

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RequireBench skips the long-running tests unless TICKETSYNC_BENCH=1, so
// `go test ./...` only compiles them.
func RequireBench(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TICKETSYNC_BENCH") != "1" {
		tb.Skip("long-running benchmark: set TICKETSYNC_BENCH=1")
	}
}

// EnvInt is the positive integer in the variable name, or def when it is
// unset; any other value fails tb.
func EnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// EnvDuration is the duration in the variable name, or def when it is
// unset. Zero is allowed (no latency, no spacing); a negative value or one
// that does not parse fails tb.
func EnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	return envDuration(tb, name, def, false)
}

// EnvPositiveDuration is EnvDuration for a length that cannot be zero,
// such as a measurement window.
func EnvPositiveDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	return envDuration(tb, name, def, true)
}

func envDuration(tb testing.TB, name string, def time.Duration, positive bool) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case positive && (err != nil || d <= 0):
		tb.Fatalf("%s=%q: want a positive duration", name, v)
	case err != nil || d < 0:
		tb.Fatalf("%s=%q: want a duration", name, v)
	}
	return d
}

// EnvList is the comma-separated list in the variable name, or in def when
// it is unset; entries are trimmed and empty ones dropped.
func EnvList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
