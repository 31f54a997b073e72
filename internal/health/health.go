// Package health asks a running ticketsync daemon whether it is ready. It
// backs `ticketsync healthcheck`, which container runtimes execute inside a
// distroless image: no shell, no curl, possibly no environment at all, so
// everything the check needs is in this binary and in its arguments.
package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is /healthz on the default http.listen (":8080") as seen from
// inside the daemon's own network namespace. A container health check asks
// liveness, not readiness: an IMAP or TaskIP outage makes the daemon
// unready, and restarting it would not end the outage.
const DefaultURL = "http://127.0.0.1:8080/healthz"

// DefaultTimeout stays well inside Docker's default HEALTHCHECK timeout
// (30 s): a daemon that cannot answer a local GET in this long is not well.
const DefaultTimeout = 5 * time.Second

// maxBody bounds what is read of an answer; /readyz explains itself in a
// few short lines.
const maxBody = 4 << 10

// StatusError is an answer other than 200: the daemon is up but says it is
// not ready (503 from /readyz), or the URL points at something else.
type StatusError struct {
	URL        string
	StatusCode int
	// Line is the first line of the body: /readyz puts the first unmet
	// condition there ("imap: not connected").
	Line string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("health: GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Line != "" {
		msg += ": " + e.Line
	}
	return msg
}

// Check GETs url and returns nil only for a 200 answer within timeout.
// Other answers are a *StatusError; no answer in time wraps
// context.DeadlineExceeded; anything else (connection refused, a bad URL)
// is wrapped as it came.
func Check(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("health: %q is not an http(s) URL", rawURL)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("health: GET %s: %w", rawURL, err)
	}
	client := &http.Client{
		Transport: &http.Transport{
			// A proxy variable meant for the daemon's outbound calls must
			// not divert a check of the local listener.
			Proxy:             nil,
			DisableKeepAlives: true,
		},
		// A redirect means the URL is not the daemon's /readyz; following
		// it could report someone else's health.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("health: GET %s: no answer within %s: %w", rawURL, timeout, context.DeadlineExceeded)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the method and URL
		}
		return fmt.Errorf("health: GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil
	}
	return &StatusError{URL: rawURL, StatusCode: resp.StatusCode, Line: firstLine(resp.Body)}
}

func firstLine(r io.Reader) string {
	sc := bufio.NewScanner(io.LimitReader(r, maxBody))
	sc.Buffer(make([]byte, 0, 512), maxBody)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			const limit = 200
			if len(line) > limit {
				line = strings.ToValidUTF8(line[:limit], "") + "..."
			}
			return line
		}
	}
	return ""
}

// ReadyURL is the /readyz URL of a daemon whose http.listen is listen, as
// reached from the same host or pod (see listenURL).
func ReadyURL(listen string) (string, error) { return listenURL(listen, "/readyz") }

// LiveURL is the /healthz URL of a daemon whose http.listen is listen.
func LiveURL(listen string) (string, error) { return listenURL(listen, "/healthz") }

// listenURL is path on a daemon listening on listen, reached from the same
// host or pod. A wildcard listener (":8080", "0.0.0.0:8080", "[::]:8080")
// is reached on 127.0.0.1; a listener bound to one address is reached
// there, because 127.0.0.1 would not answer.
func listenURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("health: http.listen %q: %w", listen, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("health: http.listen %q has no fixed port; give the URL instead", listen)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
