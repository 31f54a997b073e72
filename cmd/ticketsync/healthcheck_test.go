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
	// A daemon whose liveness and readiness are set apart, as in an IMAP
	// outage: alive, not ready.
	var alive, ready atomic.Bool
	alive.Store(true)
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if !alive.Load() {
				http.Error(w, "stuck", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			if !ready.Load() {
				http.Error(w, "imap: not connected", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ready\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, "taskip:\n  secret_key: test-secret-value-1234\nhttp:\n  listen: \":"+port+"\"\n")
	wantURL := "http://127.0.0.1:" + port + "/healthz"

	code, out, errOut := run(t, "healthcheck", "--config", cfg)
	if code != 0 || !strings.Contains(out, wantURL+": ok") {
		t.Fatalf("--config, alive: %d %q %q", code, out, errOut)
	}
	// With metrics_listen, /healthz is only there.
	withMetrics := filepath.Join(dir, "metrics.yaml")
	writeFile(t, withMetrics, "taskip:\n  secret_key: test-secret-value-1234\nhttp:\n  listen: \"127.0.0.1:1\"\n  metrics_listen: \":"+port+"\"\n")
	code, out, errOut = run(t, "healthcheck", "--config", withMetrics)
	if code != 0 || !strings.Contains(out, wantURL) {
		t.Fatalf("--config with metrics_listen: %d %q %q", code, out, errOut)
	}

	// The point of checking /healthz: an upstream outage makes the daemon
	// unready, and a restart would not cure it, so the check still passes.
	ready.Store(false)
	code, out, errOut = run(t, "healthcheck", "--config", cfg)
	if code != 0 || !strings.Contains(out, wantURL) {
		t.Fatalf("--config, alive but not ready: %d %q %q (must pass: liveness, not readiness)", code, out, errOut)
	}
	// Readiness is still there to ask for by URL.
	code, _, errOut = run(t, "healthcheck", "--url", srv.URL+"/readyz")
	if code != 1 || !strings.Contains(errOut, "503 Service Unavailable: imap: not connected") {
		t.Fatalf("--url /readyz, not ready: %d %q", code, errOut)
	}
	ready.Store(true)
	code, out, errOut = run(t, "healthcheck", "--url", srv.URL+"/readyz")
	if code != 0 || !strings.Contains(out, "/readyz: ok") {
		t.Fatalf("--url /readyz, ready: %d %q %q", code, out, errOut)
	}

	alive.Store(false)
	code, _, errOut = run(t, "healthcheck", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "503 Service Unavailable: stuck") {
		t.Fatalf("--config, not alive: %d %q", code, errOut)
	}
	alive.Store(true)

	// --url wins over --config: the path is wrong on purpose.
	code, _, errOut = run(t, "healthcheck", "--config", cfg, "--url", srv.URL+"/nope")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("--url over --config: %d %q", code, errOut)
	}
	// Without flags: /healthz on the default http.listen. Whatever answers
	// there (most likely nothing), the URL asked is named in the output.
	code, out, errOut = run(t, "healthcheck", "--timeout", "2s")
	if !strings.Contains(out+errOut, "http://127.0.0.1:8080/healthz") {
		t.Errorf("no flags: %d %q %q, want the default URL http://127.0.0.1:8080/healthz", code, out, errOut)
	}
	// Docker reserves exit code 2 of a health check, so usage errors are 1.
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--config", filepath.Join(dir, "missing.yaml")}} {
		if code, _, _ := run(t, append([]string{"healthcheck"}, args...)...); code != 1 {
			t.Errorf("healthcheck %v: exit %d, want 1", args, code)
		}
	}
}
