package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ready\n"))
	}))
	t.Cleanup(ready.Close)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "imap: not connected\ntaskip: not polled successfully within 3 intervals", http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)
	emptyBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(emptyBody.Close)
	redirect := httptest.NewServer(http.RedirectHandler(ready.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	// The handler holds the request until the client gives up, so the
	// check's own timeout is what ends it.
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		check   func(t *testing.T, err error)
	}{
		{"200 is ready", ready.URL + "/readyz", time.Second, func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("got %v", err)
			}
		}},
		{"503 names the first unmet condition", notReady.URL + "/readyz", time.Second, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || se.Line != "imap: not connected" {
				t.Fatalf("got %#v (%v)", se, err)
			}
			if want := "503 Service Unavailable: imap: not connected"; !strings.HasSuffix(err.Error(), want) {
				t.Fatalf("error %q does not end in %q", err, want)
			}
		}},
		{"500 without a body", emptyBody.URL, time.Second, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusInternalServerError || se.Line != "" {
				t.Fatalf("got %v", err)
			}
		}},
		{"a redirect is not followed", redirect.URL, time.Second, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusFound {
				t.Fatalf("got %v", err)
			}
		}},
		{"connection refused", refusedURL(t), time.Second, func(t *testing.T, err error) {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("got %v, want ECONNREFUSED", err)
			}
			if strings.Count(err.Error(), "/readyz") != 1 {
				t.Fatalf("URL missing or repeated: %q", err)
			}
		}},
		{"timeout", hung.URL, 100 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
				t.Fatalf("got %v", err)
			}
		}},
		{"not an http URL", "127.0.0.1:8080/readyz", time.Second, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := Check(context.Background(), tc.url, tc.timeout)
			if took := time.Since(start); took > tc.timeout+2*time.Second {
				t.Errorf("took %s with a %s timeout", took, tc.timeout)
			}
			tc.check(t, err)
		})
	}
}

// refusedURL is a loopback URL on a port that was free a moment ago.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr + "/readyz"
}

func TestReadyURL(t *testing.T) {
	tests := []struct {
		listen, want, wantErr string
	}{
		{listen: ":8080", want: "http://127.0.0.1:8080/readyz"},
		{listen: "0.0.0.0:9090", want: "http://127.0.0.1:9090/readyz"},
		{listen: "[::]:9090", want: "http://127.0.0.1:9090/readyz"},
		{listen: "127.0.0.1:8081", want: "http://127.0.0.1:8081/readyz"},
		{listen: "10.1.2.3:8080", want: "http://10.1.2.3:8080/readyz"},
		{listen: "[::1]:8080", want: "http://[::1]:8080/readyz"},
		{listen: "localhost:8080", want: "http://localhost:8080/readyz"},
		{listen: "127.0.0.1:0", wantErr: "no fixed port"},
		{listen: "8080", wantErr: "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			got, err := ReadyURL(tc.listen)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLiveURL(t *testing.T) {
	got, err := LiveURL(":8080")
	if err != nil || got != DefaultURL {
		t.Fatalf("got %q, %v; want %q", got, err, DefaultURL)
	}
	if got, err := LiveURL("10.1.2.3:9090"); err != nil || got != "http://10.1.2.3:9090/healthz" {
		t.Fatalf("got %q, %v", got, err)
	}
}
