package idle_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

// buildStatic builds the binary exactly as the Dockerfile does, so the size
// and memory measured are those of what ships. BENCH_BIN names a prebuilt
// binary instead.
func buildStatic(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("BENCH_BIN"); bin != "" {
		return bin
	}
	dir := t.TempDir()
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "build-static.sh"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-static.sh: %v\n%s", err, out)
	}
	return filepath.Join(dir, "ticketsync")
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
