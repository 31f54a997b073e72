package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			http.Error(w, "imap: not connected", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, "taskip:\n  secret_key: test-secret-value-1234\nhttp:\n  listen: \":"+port+"\"\n")

	code, out, errOut := run(t, "healthcheck", "--url", srv.URL+"/readyz")
	if code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("--url, ready: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "healthcheck", "--config", cfg)
	if code != 0 || !strings.Contains(out, "http://127.0.0.1:"+port+"/readyz") {
		t.Fatalf("--config, ready: %d %q %q", code, out, errOut)
	}
	// With metrics_listen, /readyz is only there.
	withMetrics := filepath.Join(dir, "metrics.yaml")
	writeFile(t, withMetrics, "taskip:\n  secret_key: test-secret-value-1234\nhttp:\n  listen: \"127.0.0.1:1\"\n  metrics_listen: \":"+port+"\"\n")
	code, out, errOut = run(t, "healthcheck", "--config", withMetrics)
	if code != 0 || !strings.Contains(out, "http://127.0.0.1:"+port+"/readyz") {
		t.Fatalf("--config with metrics_listen: %d %q %q", code, out, errOut)
	}
	ready.Store(false)
	code, _, errOut = run(t, "healthcheck", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "503 Service Unavailable: imap: not connected") {
		t.Fatalf("--config, not ready: %d %q", code, errOut)
	}
	// --url wins over --config: the path is wrong on purpose.
	code, _, errOut = run(t, "healthcheck", "--config", cfg, "--url", srv.URL+"/nope")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("--url over --config: %d %q", code, errOut)
	}
	// Docker reserves exit code 2 of a health check, so usage errors are 1.
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--config", filepath.Join(dir, "missing.yaml")}} {
		if code, _, _ := run(t, append([]string{"healthcheck"}, args...)...); code != 1 {
			t.Errorf("healthcheck %v: exit %d, want 1", args, code)
		}
	}
}
