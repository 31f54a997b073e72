package slack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// hookRecorder collects what the Observe and Finished hooks saw, and where
// the Poster slept in between.
type hookRecorder struct {
	mu     sync.Mutex
	events []string // "method outcome" per request, "sleep" per wait
	durs   []time.Duration
	calls  []string // "method outcome" per Finished
}

func (r *hookRecorder) install(clock *fakeClock) func(*PosterConfig) {
	return func(c *PosterConfig) {
		c.Observe = func(method, outcome string, d time.Duration) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, method+" "+outcome)
			r.durs = append(r.durs, d)
		}
		c.Finished = func(method, outcome string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, method+" "+outcome)
		}
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			r.mu.Lock()
			r.events = append(r.events, "sleep")
			r.mu.Unlock()
			return clock.Sleep(ctx, d)
		}
		c.Now = clock.Now // a hold ends when the clock that Sleep advances says so
	}
}

func (r *hookRecorder) snapshot() (events []string, durs []time.Duration, calls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]time.Duration(nil), r.durs...), append([]string(nil), r.calls...)
}

func newObservedPoster(t *testing.T, fake *slackfake.Server) (*Poster, *hookRecorder) {
	t.Helper()
	rec := &hookRecorder{}
	clock := newClock()
	p, _ := newPoster(t, fake, rec.install(clock))
	return p, rec
}

func TestObservePostOK(t *testing.T) {
	fake := slackfake.New(t)
	// A lower bound is safe to assert: it shows the duration is the
	// request's, without depending on how fast the machine is.
	fake.SetLatency(20 * time.Millisecond)
	p, rec := newObservedPoster(t, fake)

	_, err := p.Post(context.Background(), "C1", Message{Text: "hello"})
	require.NoError(t, err)

	events, durs, calls := rec.snapshot()
	assert.Equal(t, []string{"chat.postMessage ok"}, events)
	require.Len(t, durs, 1)
	assert.GreaterOrEqual(t, durs[0], 20*time.Millisecond)
	assert.Equal(t, []string{"chat.postMessage ok"}, calls)
}

func TestObserveRateLimitedEachRequestNotTheWait(t *testing.T) {
	fake := slackfake.New(t)
	p, rec := newObservedPoster(t, fake)
	fake.RateLimitNext(2, time.Second)

	_, err := p.Post(context.Background(), "C1", Message{Text: "hello"})
	require.NoError(t, err)

	events, _, calls := rec.snapshot()
	// Every request is observed once, and the waits (Retry-After) fall
	// between two observations, not inside one.
	assert.Equal(t, []string{
		"chat.postMessage ratelimited", "sleep",
		"chat.postMessage ratelimited", "sleep",
		"chat.postMessage ok",
	}, events)
	assert.Equal(t, []string{"chat.postMessage ok"}, calls, "one call, however many requests")
}

func TestObserveErrorCodes(t *testing.T) {
	post := func(p *Poster) error { _, err := p.Post(context.Background(), "C1", Message{Text: "x"}); return err }
	tests := []struct {
		name    string
		inject  func(*slackfake.Server)
		call    func(*Poster) error
		events  []string
		outcome string
	}{
		{
			name:    "known code keeps its label",
			inject:  func(f *slackfake.Server) { f.FailNext(1, "channel_not_found") },
			call:    post,
			events:  []string{"chat.postMessage channel_not_found"},
			outcome: "chat.postMessage permanent",
		},
		{
			name:    "unknown code is folded into error",
			inject:  func(f *slackfake.Server) { f.FailNext(1, "brand_new_code_from_slack") },
			call:    post,
			events:  []string{"chat.postMessage error"},
			outcome: "chat.postMessage permanent",
		},
		{
			name:    "5xx on a post is not retried",
			inject:  func(f *slackfake.Server) { f.Fail5xxNext(1) },
			call:    post,
			events:  []string{"chat.postMessage http_500"},
			outcome: "chat.postMessage unknown",
		},
		{
			name:    "users.info",
			inject:  func(*slackfake.Server) {},
			call:    func(p *Poster) error { _, _, err := p.UserEmail(context.Background(), "UNOBODY"); return err },
			events:  []string{"users.info user_not_found"},
			outcome: "users.info permanent",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slackfake.New(t)
			p, rec := newObservedPoster(t, fake)
			tt.inject(fake)
			require.Error(t, tt.call(p))
			events, _, calls := rec.snapshot()
			assert.Equal(t, tt.events, events)
			assert.Equal(t, []string{tt.outcome}, calls)
		})
	}
}

func TestObserveUpdateRetriedAfter5xx(t *testing.T) {
	fake := slackfake.New(t)
	p, rec := newObservedPoster(t, fake)
	ts, err := p.Post(context.Background(), "C1", Message{Text: "parent"})
	require.NoError(t, err)
	fake.Fail5xxNext(1)

	require.NoError(t, p.Update(context.Background(), "C1", ts, Message{Text: "changed"}))

	events, _, calls := rec.snapshot()
	assert.Equal(t, []string{"chat.postMessage ok", "chat.update http_500", "sleep", "chat.update ok"}, events)
	assert.Equal(t, []string{"chat.postMessage ok", "chat.update ok"}, calls)
}

func TestObserveCanceledCall(t *testing.T) {
	fake := slackfake.New(t)
	p, rec := newObservedPoster(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := p.Post(ctx, "C1", Message{Text: "x"})
	require.ErrorIs(t, err, context.Canceled)

	events, _, calls := rec.snapshot()
	assert.Empty(t, events, "no request left, so none is observed")
	assert.Equal(t, []string{"chat.postMessage canceled"}, calls)
}

func TestObserveFileDownload(t *testing.T) {
	fake := slackfake.New(t)
	p, rec := newObservedPoster(t, fake)
	url := fake.AddFile("a.txt", []byte("content"))

	body, err := p.OpenFile(context.Background(), url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, body)
	require.NoError(t, body.Close())

	fake.SetToken("xoxb-other")
	_, err = p.OpenFile(context.Background(), url)
	require.Error(t, err)

	events, _, calls := rec.snapshot()
	assert.Equal(t, []string{"url_private_download ok", "url_private_download http_403"}, events)
	assert.Empty(t, calls, "a download is not a Web API call")
}

func TestRequestOutcomeIsBounded(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, "ok"},
		{"rate limited", &slackapi.RateLimitedError{RetryAfter: time.Second}, "ratelimited"},
		{"429 without Retry-After", slackapi.StatusCodeError{Code: 429}, "ratelimited"},
		{"registered status", slackapi.StatusCodeError{Code: 502}, "http_502"},
		{"invented status", slackapi.StatusCodeError{Code: 599}, "error"},
		{"rate_limited code", slackapi.SlackErrorResponse{Err: "rate_limited"}, "ratelimited"},
		{"known code", slackapi.SlackErrorResponse{Err: "not_in_channel"}, "not_in_channel"},
		{"unknown code", slackapi.SlackErrorResponse{Err: "xoxb-looks-like-a-token"}, "error"},
		{"canceled", context.Canceled, "canceled"},
		{"deadline", context.DeadlineExceeded, "timeout"},
		{"other", errors.New("boom"), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, requestOutcome(tt.err))
		})
	}
	assert.Equal(t, "http_403", statusOutcome(http.StatusForbidden))
}
