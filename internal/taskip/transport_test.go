package taskip

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleepRecorder replaces real waiting: backoff and Retry-After are asserted
// on the durations asked for, so the tests take no wall-clock time.
type sleepRecorder struct{ waits []time.Duration }

func (s *sleepRecorder) Sleep(_ context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return nil
}

func newTestClient(t *testing.T, baseURL string, rec *sleepRecorder) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: baseURL, SecretKey: "test-key", Sleep: rec.Sleep, Jitter: func() float64 { return 0.5 }, Timeout: 5 * time.Second})
	require.NoError(t, err)
	return c
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestCreateRetriedWhenNeverSent(t *testing.T) {
	rec := &sleepRecorder{}
	c := newTestClient(t, "http://"+closedAddr(t), rec)
	_, err := c.CreateTicket(context.Background(), TicketFields{})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrOutcomeUnknown), "a refused dial never reached the server: %v", err)
	assert.Len(t, rec.waits, 4, "MaxAttempts 5 means four waits")
	assert.Equal(t, []time.Duration{187500 * time.Microsecond, 375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond}, rec.waits)
}

// dropAfterRead reads the request and closes the connection without answering:
// the server got the request, so the client cannot know whether it applied.
func dropAfterRead(calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("no hijacker")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}
}

func TestCreateNotRetriedWhenOutcomeUnknown(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(dropAfterRead(&calls))
	defer srv.Close()
	rec := &sleepRecorder{}
	c := newTestClient(t, srv.URL, rec)

	_, err := c.CreateTicket(context.Background(), TicketFields{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, int32(1), calls.Load(), "a create that may have been applied is sent once")
	assert.Empty(t, rec.waits)

	calls.Store(0)
	_, err = c.GetTicket(context.Background(), 1)
	require.Error(t, err)
	assert.Equal(t, int32(5), calls.Load(), "a read is retried up to MaxAttempts")
}

func TestCreate5xxIsOutcomeUnknown(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, &sleepRecorder{})
	_, err := c.AddNote(context.Background(), "u", "x")
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, err, ErrServer)
	assert.Equal(t, int32(1), calls.Load())

	calls.Store(0)
	_, err = c.SetPriority(context.Background(), "u", PriorityHigh)
	assert.ErrorIs(t, err, ErrServer)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "an idempotent setter can simply be repeated")
	assert.Equal(t, int32(5), calls.Load())
}

func TestRetryAfterDateAndCap(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 30*time.Second, parseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, 7*time.Second, parseRetryAfter("7", now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("-3", now))
	assert.Equal(t, time.Duration(0), parseRetryAfter("soon", now))

	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	rec := &sleepRecorder{}
	c := newTestClient(t, srv.URL, rec)
	_, err := c.GetTicket(context.Background(), 1)
	assert.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, int32(1), calls.Load(), "a wait beyond MaxRetryAfter is the caller's decision")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, time.Hour, apiErr.RetryAfter)
}

func TestCancelledContextStopsRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(Config{BaseURL: srv.URL, SecretKey: "k", Sleep: func(context.Context, time.Duration) error {
		cancel()
		return context.Canceled
	}})
	require.NoError(t, err)
	_, err = c.GetTicket(ctx, 1)
	assert.ErrorIs(t, err, ErrServer)
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{BaseURL: "ftp://x", SecretKey: "k"})
	assert.ErrorContains(t, err, "absolute http(s) URL")
	_, err = New(Config{BaseURL: "http://x"})
	assert.ErrorContains(t, err, "secret key is empty")
}

func TestRouteOf(t *testing.T) {
	assert.Equal(t, "/support-ticket/{id}", routeOf("/support-ticket/46"))
	assert.Equal(t, "/support-ticket/{uuid}/note-delete/{id}", routeOf("/support-ticket/550e8400-e29b-41d4-a716-446655440001/note-delete/3"))
}
