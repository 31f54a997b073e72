package slack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// responseHook plays Slack's response_url endpoint: it answers with the
// queued statuses, then 200.
type responseHook struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
	srv      *httptest.Server
}

func newResponseHook(t *testing.T, statuses ...int) *responseHook {
	h := &responseHook{statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		switch status {
		case http.StatusOK:
			_, _ = io.WriteString(w, "ok")
		case http.StatusNotFound:
			http.Error(w, "expired_url", status)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "3")
			http.Error(w, "rate_limited", status)
		default:
			http.Error(w, "<html>oops</html>", status)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *responseHook) posts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// The secret part of a response_url, which must never be printed.
const hookSecret = "/commands/T1/123/sEcReTpArT"

func newResponder(clock *fakeClock, log io.Writer) Responder {
	return Responder{Sleep: clock.Sleep, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func TestRespond(t *testing.T) {
	ctx := context.Background()
	reply := Reply{Text: "Ticket 42 resolved", Ephemeral: true, ReplaceOriginal: true}

	t.Run("5xx then 200 is delivered once", func(t *testing.T) {
		hook := newResponseHook(t, http.StatusInternalServerError)
		clock, log := newClock(), &logtest.Buffer{}
		require.NoError(t, newResponder(clock, log).Respond(ctx, hook.srv.URL+hookSecret, reply))
		posts := hook.posts()
		require.Len(t, posts, 2)
		assert.Equal(t, posts[0], posts[1])
		assert.JSONEq(t, `{"response_type":"ephemeral","text":"Ticket 42 resolved","replace_original":true}`, posts[1])
		assert.Len(t, clock.Sleeps(), 1)
		assert.NotContains(t, log.String(), "sEcReT")
	})
	t.Run("429 honours Retry-After", func(t *testing.T) {
		hook := newResponseHook(t, http.StatusTooManyRequests)
		clock := newClock()
		require.NoError(t, newResponder(clock, io.Discard).Respond(ctx, hook.srv.URL+hookSecret, reply))
		assert.Equal(t, []time.Duration{3 * time.Second}, clock.Sleeps())
	})
	t.Run("expired url is permanent", func(t *testing.T) {
		hook := newResponseHook(t, http.StatusNotFound)
		err := newResponder(newClock(), io.Discard).Respond(ctx, hook.srv.URL+hookSecret, reply)
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "expired_url")
		assert.NotContains(t, err.Error(), "sEcReT")
		assert.Len(t, hook.posts(), 1)
	})
	t.Run("retries are bounded", func(t *testing.T) {
		hook := newResponseHook(t, 500, 502, 503, 504)
		clock := newClock()
		err := newResponder(clock, io.Discard).Respond(ctx, hook.srv.URL+hookSecret, reply)
		assert.ErrorIs(t, err, ErrTransient)
		assert.Len(t, hook.posts(), 3)
		assert.Len(t, clock.Sleeps(), 2)
	})
	t.Run("network error hides the url", func(t *testing.T) {
		hook := newResponseHook(t)
		hook.srv.Close()
		err := newResponder(newClock(), io.Discard).Respond(ctx, hook.srv.URL+hookSecret, reply)
		assert.ErrorIs(t, err, ErrTransient)
		assert.NotContains(t, err.Error(), "sEcReT")
	})
	t.Run("only https or loopback http", func(t *testing.T) {
		for _, u := range []string{"http://hooks.slack.com" + hookSecret, "ftp://127.0.0.1/x", "::bad", "https://"} {
			err := newResponder(newClock(), io.Discard).Respond(ctx, u, reply)
			assert.ErrorIs(t, err, ErrPermanent, u)
			if err != nil {
				assert.NotContains(t, err.Error(), "sEcReT")
			}
		}
	})
	t.Run("slackfake response url", func(t *testing.T) {
		fake := slackfake.NewInbound(t, nil)
		fake.FailResponsesNext(1)
		require.NoError(t, newResponder(newClock(), io.Discard).Respond(ctx, fake.ResponseURL("cmd-1"), Reply{Text: "done"}))
		got := fake.Responses()
		require.Len(t, got, 1)
		assert.Equal(t, "cmd-1", got[0].Name)
		var body map[string]any
		require.NoError(t, json.Unmarshal(got[0].Body, &body))
		assert.Equal(t, "done", body["text"])
	})
}
