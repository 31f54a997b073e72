package main

import (
	"debug/elf"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestStaticBuild builds the release binary the way the Dockerfile does and
// checks the two promises the distroless image relies on: no dynamic
// loader or shared library is needed, and the binary runs (version, and
// healthcheck with its configuration file) with an empty environment.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF binary")
	}
	dir := t.TempDir()
	build := exec.Command("bash", filepath.Join("..", "..", "scripts", "build-static.sh"), dir)
	build.Env = append(os.Environ(), "TICKETSYNC_VERSION=v0.0.0-static-test")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-static.sh: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "ticketsync")

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has a PT_INTERP program header: it needs a dynamic loader")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("binary needs shared libraries (DT_NEEDED): %v", libs)
	}
	if st, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))
	}

	version := exec.Command(bin, "version")
	version.Env = []string{}
	out, err := version.CombinedOutput()
	if err != nil {
		t.Fatalf("version with an empty environment: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^ticketsync v0\.0\.0-static-test \(go1\.\S+, \S+/\S+\)\n$`).Match(out) {
		t.Errorf("version printed %q; the -X flag did not stamp it", out)
	}

	// The image's HEALTHCHECK: alive but not ready, as in an IMAP outage,
	// must pass, or Docker and ECS would restart the container in a loop.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "imap: not connected", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cfg := filepath.Join(dir, "config.yaml")
	cfgText := "taskip:\n  secret_key: test-secret-value-1234\nhttp:\n  listen: \"127.0.0.1:1\"\n  metrics_listen: \":" + port + "\"\n"
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(bin, "healthcheck", "--config", cfg)
	check.Env = []string{}
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "/healthz: ok") {
		t.Errorf("healthcheck with an empty environment: %v\n%s", err, out)
	}
	srv.Close()
	check = exec.Command(bin, "healthcheck", "--url", srv.URL+"/healthz")
	check.Env = []string{}
	out, err = check.CombinedOutput()
	if code := check.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "connection refused") {
		t.Errorf("healthcheck of a stopped daemon: exit %d (%v), %q", code, err, out)
	}
}
