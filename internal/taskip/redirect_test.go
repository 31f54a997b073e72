package taskip_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

const redirectKey = "redirect-test-secret-key"

// keyRecorder is a server that notes every request and the secret key it
// carried: the stand-in for a host the key must never reach.
type keyRecorder struct {
	mu   sync.Mutex
	seen []string // "host path key"
}

func (k *keyRecorder) note(r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seen = append(k.seen, r.Host+" "+r.URL.Path+" "+r.Header.Get("X-Secret-Key"))
}

func (k *keyRecorder) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

func ticketJSON(id int) string {
	return fmt.Sprintf(`{"id":%d,"uuid":"550e8400-e29b-41d4-a716-44665544%04d","subject":"Moved","status":0,"priority":1}`, id, id)
}

// redirector answers every request under /api with a redirect to target
// (taken relative to the request), and serves a ticket under /moved.
func redirector(rec *keyRecorder, status int, target func(r *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.note(r)
		if strings.HasPrefix(r.URL.Path, "/moved/") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprint(w, ticketJSON(1))
			return
		}
		http.Redirect(w, r, target(r), status)
	})
}

func redirectClient(t *testing.T, base string, hc *http.Client) *taskip.Client {
	t.Helper()
	c, err := taskip.New(taskip.Config{
		BaseURL: base, SecretKey: redirectKey, HTTPClient: hc, Timeout: 5 * time.Second,
		Sleep: func(context.Context, time.Duration) error { return nil },
	})
	require.NoError(t, err)
	return c
}

// assertRefused checks the error of a refused redirect: typed, naming the
// target's origin, and carrying neither the key nor the target's user info.
func assertRefused(t *testing.T, err error, target string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, taskip.ErrRedirectRefused)
	assert.Contains(t, err.Error(), target)
	assert.NotContains(t, err.Error(), redirectKey)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), "mallory")
}

func TestRedirectToAnotherOriginIsRefused(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var other keyRecorder
			thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				other.note(r)
				_, _ = fmt.Fprint(w, ticketJSON(1))
			}))
			defer thief.Close()
			thiefURL, _ := url.Parse(thief.URL)

			var origin keyRecorder
			api := httptest.NewServer(redirector(&origin, status, func(*http.Request) string {
				// User info in the target must not be repeated in the error.
				return "http://mallory:hunter2@" + thiefURL.Host + "/steal?k=v"
			}))
			defer api.Close()
			c := redirectClient(t, api.URL+"/api", nil)

			_, err := c.GetTicket(context.Background(), 1)
			assertRefused(t, err, "http://"+thiefURL.Host)
			assert.Empty(t, other.requests(), "the other origin must not be contacted at all")
			assert.Len(t, origin.requests(), 1, "a refused redirect is not retried: the same answer would come again")

			// A create is refused the same way. The server answered, so it
			// may have acted: the caller must reconcile, not create again.
			_, err = c.CreateTicket(context.Background(), taskip.TicketFields{})
			assertRefused(t, err, "http://"+thiefURL.Host)
			assert.ErrorIs(t, err, taskip.ErrOutcomeUnknown)
			assert.Empty(t, other.requests())
		})
	}
}

// mapDialer resolves every host name to addr, so that URLs with other host
// names reach a loopback server without any DNS.
func mapDialer(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

func TestRedirectToAnotherHostNameIsRefused(t *testing.T) {
	// Same port and scheme, other host name: both names reach the same
	// loopback server, which records the Host each request was meant for.
	var rec keyRecorder
	srv := httptest.NewServer(redirector(&rec, http.StatusFound, func(r *http.Request) string {
		_, port, _ := net.SplitHostPort(r.Host)
		return "http://collector.test:" + port + "/moved/1"
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	hc := &http.Client{Transport: &http.Transport{DialContext: mapDialer(srv.Listener.Addr().String())}}
	c := redirectClient(t, "http://api.test:"+port+"/api", hc)

	_, err := c.GetTicket(context.Background(), 1)
	assertRefused(t, err, "http://collector.test:"+port)
	for _, r := range rec.requests() {
		assert.True(t, strings.HasPrefix(r, "api.test:"), "request for another host: %s", r)
	}
}

func TestRedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	var rec keyRecorder
	srv := httptest.NewTLSServer(redirector(&rec, http.StatusMovedPermanently, func(r *http.Request) string {
		return "http://" + r.Host + "/moved/1" // same host and port, scheme downgraded
	}))
	defer srv.Close()
	hc := srv.Client()
	before := hc.CheckRedirect

	c := redirectClient(t, srv.URL+"/api", hc)
	_, err := c.GetTicket(context.Background(), 1)
	assertRefused(t, err, "http://"+strings.TrimPrefix(srv.URL, "https://"))
	assert.Len(t, rec.requests(), 1, "only the TLS request reached the server")

	// The caller's client is cloned, not changed.
	assert.Nil(t, before)
	assert.Nil(t, hc.CheckRedirect, "taskip.New must not change the caller's http.Client")
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotNil(t, tr.TLSClientConfig, "the caller's transport (and its trust) is still used")
}

func TestSameOriginRedirectIsFollowed(t *testing.T) {
	var rec keyRecorder
	srv := httptest.NewServer(redirector(&rec, http.StatusFound, func(r *http.Request) string {
		return "/moved/1"
	}))
	defer srv.Close()
	c := redirectClient(t, srv.URL+"/api", nil)

	tk, err := c.GetTicket(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "Moved", tk.Subject)
	reqs := rec.requests()
	require.Len(t, reqs, 2)
	assert.True(t, strings.HasSuffix(reqs[1], "/moved/1 "+redirectKey), "the key goes along within the origin: %s", reqs[1])
}

func TestRedirectSpellingOutTheDefaultPortIsSameOrigin(t *testing.T) {
	var rec keyRecorder
	srv := httptest.NewServer(redirector(&rec, http.StatusFound, func(*http.Request) string {
		return "http://API.test:80/moved/1"
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{DialContext: mapDialer(srv.Listener.Addr().String())}}
	c := redirectClient(t, "http://api.test/api", hc)

	tk, err := c.GetTicket(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, "Moved", tk.Subject)
	assert.Len(t, rec.requests(), 2)
}

func TestRedirectChainIsBounded(t *testing.T) {
	var rec keyRecorder
	srv := httptest.NewServer(redirector(&rec, http.StatusFound, func(r *http.Request) string {
		return r.URL.Path + "/again"
	}))
	defer srv.Close()
	c := redirectClient(t, srv.URL+"/api", nil)

	_, err := c.GetTicket(context.Background(), 1)
	require.Error(t, err)
	assert.ErrorIs(t, err, taskip.ErrRedirectRefused)
	assert.NotContains(t, err.Error(), redirectKey)
	assert.Len(t, rec.requests(), 6, "the first request and five redirects, and no retry")
}

func TestCallerCheckRedirectStillApplies(t *testing.T) {
	var rec keyRecorder
	srv := httptest.NewServer(redirector(&rec, http.StatusFound, func(*http.Request) string { return "/moved/1" }))
	defer srv.Close()
	var asked int
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		asked++
		return http.ErrUseLastResponse
	}}
	c := redirectClient(t, srv.URL+"/api", hc)
	_, err := c.GetTicket(context.Background(), 1)
	require.Error(t, err, "the caller chose not to follow, so the 302 is the answer")
	assert.Equal(t, 1, asked)
	assert.Len(t, rec.requests(), 1)
}
