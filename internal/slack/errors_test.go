package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

func TestPermanentErrorsNotRetried(t *testing.T) {
	ctx := context.Background()
	for _, code := range []string{"channel_not_found", "not_in_channel", "invalid_auth", "msg_too_long",
		"invalid_blocks", "message_not_found", "is_archived", "some_future_code"} {
		t.Run(code, func(t *testing.T) {
			fake := slackfake.New(t)
			p, clock := newPoster(t, fake)
			fake.FailNext(1, code)
			_, err := p.Post(ctx, "C1", Message{Text: "x"})
			require.ErrorIs(t, err, ErrPermanent)
			assert.NotErrorIs(t, err, ErrTransient)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, APIError{Method: "chat.postMessage", Channel: "C1", Code: code, Status: 200, kind: kindPermanent}, *apiErr)
			assert.Len(t, fake.Calls(), 1, "not retried")
			assert.Empty(t, clock.Sleeps())
		})
	}
	t.Run("real message_not_found from update", func(t *testing.T) {
		fake := slackfake.New(t)
		p, _ := newPoster(t, fake)
		err := p.Update(ctx, "C1", "1700000000.999999", Message{Text: "x"})
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "message_not_found", apiErr.Code)
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Len(t, fake.Calls(), 1)
	})
	t.Run("local checks", func(t *testing.T) {
		fake := slackfake.New(t)
		p, _ := newPoster(t, fake)
		_, err := p.Post(ctx, "C1", Message{Text: "x", Blocks: make([]slackapi.Block, MaxBlocks+1)})
		assert.ErrorIs(t, err, ErrPermanent)
		_, err = p.PostInThread(ctx, "C1", "", Message{Text: "x"})
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Empty(t, fake.Calls(), "refused before any request")
	})
}

func TestOutcomeUnknownForPostRetryForUpdate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		inject func(*slackfake.Server)
		tweak  func(*PosterConfig)
	}{
		{"http 500", func(f *slackfake.Server) { f.Fail5xxNext(2) }, nil},
		{"internal_error", func(f *slackfake.Server) { f.FailNext(2, "internal_error") }, nil},
		{"fatal_error", func(f *slackfake.Server) { f.FailNext(2, "fatal_error") }, nil},
		{"timeout after sending", func(f *slackfake.Server) { f.SetLatency(300 * time.Millisecond) },
			func(c *PosterConfig) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := slackfake.New(t)
			p, clock := newPoster(t, fake, func(c *PosterConfig) {
				c.PerChannelInterval = -1 // every recorded wait is a backoff
				if tc.tweak != nil {
					tc.tweak(c)
				}
			})
			parent, err := p.Post(ctx, "C1", Message{Text: "parent"})
			require.NoError(t, err)

			tc.inject(fake)
			_, err = p.PostInThread(ctx, "C1", parent, Message{Text: "reply"})
			require.ErrorIs(t, err, ErrOutcomeUnknown)
			assert.NotErrorIs(t, err, ErrPermanent)
			assert.NotErrorIs(t, err, ErrTransient)
			assert.Len(t, methodCalls(fake, "chat.postMessage"), 2, "a post that may have landed is not repeated")

			before := len(clock.Sleeps())
			var calls int
			p.sleep = func(ctx context.Context, d time.Duration) error {
				calls++
				if calls == 2 {
					fake.SetLatency(0) // the network recovers
				}
				return clock.Sleep(ctx, d)
			}
			require.NoError(t, p.Update(ctx, "C1", parent, Message{Text: "updated"}))
			m, _ := fake.Message("C1", parent)
			assert.Equal(t, "updated", m.Text)
			updates := methodCalls(fake, "chat.update")
			assert.GreaterOrEqual(t, len(updates), 2, "update retried")
			waits := clock.Sleeps()[before:]
			require.NotEmpty(t, waits)
			for i, w := range waits {
				step := min(backoffCap, backoffBase<<i)
				assert.GreaterOrEqual(t, w, step/2, "backoff %d", i)
				assert.LessOrEqual(t, w, step, "backoff %d", i)
			}
		})
	}
}

func TestConnectionRefusedIsRetriedAndTransient(t *testing.T) {
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake, func(c *PosterConfig) { c.MaxRetries = 3; c.PerChannelInterval = -1 })
	fake.Close()
	_, err := p.Post(context.Background(), "C1", Message{Text: "x"})
	require.ErrorIs(t, err, ErrTransient, "Slack never saw it: safe to post again later")
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Len(t, clock.Sleeps(), 3, "three backoffs")
}

func TestServiceUnavailableCodeIsRetried(t *testing.T) {
	fake := slackfake.New(t)
	p, _ := newPoster(t, fake)
	fake.FailNext(2, "service_unavailable")
	_, err := p.Post(context.Background(), "C1", Message{Text: "x"})
	require.NoError(t, err)
	assert.Len(t, fake.Messages("C1"), 1)
	assert.Len(t, fake.Calls(), 3)
}

func TestCancellation(t *testing.T) {
	fake := slackfake.New(t)
	p, _ := newPoster(t, fake)
	l := p.lanes.get(laneKey{method: "chat.postMessage", channel: "C1"})
	require.NoError(t, l.acquire(context.Background())) // someone else is writing to C1

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.Post(ctx, "C1", Message{Text: "x"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrTransient, "never sent")
	l.release()

	_, err = p.Post(context.Background(), "C1", Message{Text: "after"})
	require.NoError(t, err, "the cancelled waiter left the queue")
}

// leakyTransport fails the first attempts like a proxy that quotes the
// request, token included, and refuses the connection.
type leakyTransport struct {
	fails int
	next  http.RoundTripper
}

func (lt *leakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if lt.fails > 0 {
		lt.fails--
		body, _ := io.ReadAll(r.Body)
		return nil, fmt.Errorf("proxy refused %q: %w", body, syscall.ECONNREFUSED)
	}
	return lt.next.RoundTrip(r)
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	const token = "xoxb-1234567890-0987654321-SECRETsecret"
	ctx := context.Background()
	fake := slackfake.New(t)
	fake.SetToken(token)
	var logs bytes.Buffer
	transport := &leakyTransport{next: http.DefaultTransport}
	p, err := NewPoster(PosterConfig{
		Token: token, APIURL: fake.URL(), HTTPClient: &http.Client{Transport: transport},
		PerChannelInterval: -1, MaxRetries: 2,
		Sleep:  func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)

	var errs []error
	fake.EchoAuthNext(1)
	_, err = p.Post(ctx, "C1", Message{Text: "x"})
	require.ErrorIs(t, err, ErrPermanent)
	errs = append(errs, err)

	transport.fails = 1
	_, err = p.Post(ctx, "C1", Message{Text: "retried after a leaky refusal"})
	require.NoError(t, err)

	transport.fails = 5
	err = p.Update(ctx, "C1", "1700000000.000100", Message{Text: "y"})
	require.ErrorIs(t, err, ErrTransient)
	errs = append(errs, err)

	transport.fails = 0
	fake.EchoAuthNext(1)
	_, err = p.AuthTest(ctx)
	errs = append(errs, err)

	require.Contains(t, errs[0].Error(), "invalid_auth", "the message stays useful")
	require.Contains(t, logs.String(), "retrying", "the retry was logged")
	for _, err := range errs {
		require.Error(t, err)
		for e := range chain(err) {
			assert.NotContains(t, e.Error(), token)
			assert.NotContains(t, fmt.Sprintf("%+v %#v", e, e), token)
		}
	}
	assert.NotContains(t, logs.String(), token)
	assert.NotContains(t, logs.String(), "SECRET")
}

// chain yields err and everything it wraps.
func chain(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		queue := []error{err}
		for len(queue) > 0 {
			e := queue[0]
			queue = queue[1:]
			if e == nil {
				continue
			}
			if !yield(e) {
				return
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				queue = append(queue, u.Unwrap())
			case interface{ Unwrap() []error }:
				queue = append(queue, u.Unwrap()...)
			}
		}
	}
}

func TestRedactor(t *testing.T) {
	r := redactor("xoxb-mine")
	assert.Equal(t, "a [REDACTED] b [REDACTED] c [REDACTED]", r.string("a xoxb-mine b xoxp-1-2-abc c xapp-1-A-9"))
	err := r.error(fmt.Errorf("boom xoxb-mine: %w", context.Canceled))
	assert.EqualError(t, err, "boom [REDACTED]: context canceled")
	assert.ErrorIs(t, err, context.Canceled)
	plain := errors.New("nothing secret")
	assert.Same(t, plain, r.error(plain))
}

func TestClassify(t *testing.T) {
	dialErr := &url.Error{Op: "Post", URL: "https://slack.test/api/chat.postMessage",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("lookup slack.test: no such host")}}
	resetErr := &url.Error{Op: "Post", URL: "https://slack.test/api/chat.postMessage",
		Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	cases := []struct {
		name string
		err  error
		want failure
	}{
		{"429 with Retry-After", &slackapi.RateLimitedError{RetryAfter: 7 * time.Second},
			failure{rateLimited: true, wait: 7 * time.Second, notSent: true}},
		{"429 without Retry-After", slackapi.StatusCodeError{Code: 429}, failure{rateLimited: true, notSent: true}},
		{"ratelimited body", slackapi.SlackErrorResponse{Err: "ratelimited"}, failure{rateLimited: true, notSent: true}},
		{"503", slackapi.StatusCodeError{Code: 503}, failure{}},
		{"404 is permanent", slackapi.StatusCodeError{Code: 404}, failure{permanent: true}},
		{"service_unavailable", slackapi.SlackErrorResponse{Err: "service_unavailable"}, failure{notSent: true}},
		{"internal_error", slackapi.SlackErrorResponse{Err: "internal_error"}, failure{}},
		{"unknown code is permanent", slackapi.SlackErrorResponse{Err: "brand_new"}, failure{permanent: true}},
		{"dial failure never sent", dialErr, failure{notSent: true}},
		{"reset after sending", resetErr, failure{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("chat.postMessage", "C1", tc.err)
			assert.Equal(t, tc.want.rateLimited, got.rateLimited, "rateLimited")
			assert.Equal(t, tc.want.wait, got.wait, "wait")
			assert.Equal(t, tc.want.notSent, got.notSent, "notSent")
			assert.Equal(t, tc.want.permanent, got.permanent, "permanent")
		})
	}
}

func TestRetryAfterAsHTTPDate(t *testing.T) {
	cases := []struct {
		header string
		want   time.Duration
	}{
		{time.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat), 4 * time.Second},
		{"soon", defaultRetryAfter},
	}
	for _, tc := range cases {
		header := tc.header
		t.Run(header, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", header)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer srv.Close()
			p, clock := newPoster(t, nil, func(c *PosterConfig) {
				c.APIURL, c.MaxRetries, c.PerChannelInterval = srv.URL+"/api/", 1, -1
			})
			_, err := p.Post(context.Background(), "C1", Message{Text: "x"})
			require.ErrorIs(t, err, ErrTransient, "a 429 is never outcome-unknown")
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, http.StatusTooManyRequests, apiErr.Status)
			require.Len(t, clock.Sleeps(), 1)
			assert.InDelta(t, tc.want, clock.Sleeps()[0], float64(1500*time.Millisecond))
		})
	}
}
