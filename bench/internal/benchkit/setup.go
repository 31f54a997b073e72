package benchkit

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DaemonPackage is the daemon's main package.
const DaemonPackage = "github.com/ticketsync/ticketsync/cmd/ticketsync"

// BuildDaemon returns the daemon binary to run: BENCH_BIN when it is set,
// else cmd/ticketsync built with `go build` into a temporary directory.
func BuildDaemon(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("BENCH_BIN"); bin != "" {
		return bin
	}
	return GoBuild(tb, DaemonPackage)
}

// GoBuild builds the main package pkg into a temporary directory and
// returns the binary's path.
func GoBuild(tb testing.TB, pkg string) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "ticketsync")
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// BuildStatic returns the release binary: BENCH_BIN when it is set, else
// what scripts/build-static.sh builds (what the Dockerfile ships), so the
// size and memory measured are those of what ships. Like every test under
// bench/, it runs two levels below the module root.
func BuildStatic(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("BENCH_BIN"); bin != "" {
		return bin
	}
	dir := tb.TempDir()
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "build-static.sh"), dir).CombinedOutput()
	if err != nil {
		tb.Fatalf("scripts/build-static.sh: %v\n%s", err, out)
	}
	return filepath.Join(dir, "ticketsync")
}

// WriteConfig writes body as dir/ticketsync.yaml (mode 0600: it holds the
// fakes' secrets) and returns its path.
func WriteConfig(tb testing.TB, dir, body string) string {
	tb.Helper()
	path := filepath.Join(dir, "ticketsync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// FreeAddr is a loopback address that was free a moment ago. A fixed
// http.listen, rather than ":0" and the log line naming it, lets a bench
// poll /readyz from the first millisecond and read /metrics at the end.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
