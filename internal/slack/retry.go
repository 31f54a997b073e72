package slack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A retry is logged once at Warn; its repeats only at Debug, so a long
// outage does not flood the log.
const (
	slogLevelFirst  = slog.LevelWarn
	slogLevelRepeat = slog.LevelDebug
)

// call is one Web API call as the retry loop sees it.
type call struct {
	method  string
	channel string // non-empty: a write, serialised and paced per channel
	// idempotent calls may be repeated after Slack might have acted on them.
	idempotent bool
	fn         func(ctx context.Context) (string, error)
}

// do runs c and reports how it ended to the Finished hook.
func (p *Poster) do(ctx context.Context, c call) (string, error) {
	out, err := p.run(ctx, c)
	if p.finishedFn != nil {
		p.finishedFn(c.method, callOutcome(ctx, err))
	}
	return out, err
}

// run runs c under its channel's lane: wait for the lane, pace, call, and on
// failure either retry (same place in the queue) or return a classified
// error. The whole policy is here so it can be read top to bottom.
func (p *Poster) run(ctx context.Context, c call) (string, error) {
	log := p.log.With("method", c.method)
	var l *lane
	if c.channel != "" {
		log = log.With("channel", c.channel)
		l = p.lanes.get(c.channel)
		if err := l.acquire(ctx); err != nil {
			return "", p.cancelled(c, err, false)
		}
		defer l.release()
	}
	// Only new messages are paced: Slack's one-per-second limit is
	// chat.postMessage's, while chat.update has its own, looser tier. All
	// writes still keep their order in the lane.
	paced := l != nil && c.method == "chat.postMessage"
	for attempt := 0; ; attempt++ {
		if paced {
			if err := p.pace(ctx, l); err != nil {
				return "", p.cancelled(c, err, false)
			}
		}
		// Each fn is exactly one HTTP request: slack-go's own retries are
		// off (NewPoster).
		start := time.Now()
		out, err := c.fn(ctx)
		p.observe(c.method, requestOutcome(err), start)
		if paced {
			// Pacing counts from the end of a call: Slack sees the
			// next request at least interval after it answered this one.
			l.last = p.now()
		}
		if err == nil {
			log.Debug("slack call done", "attempt", attempt+1)
			return out, nil
		}
		f := classify(c.method, c.channel, err)
		if ctx.Err() != nil {
			return "", p.cancelled(c, ctx.Err(), !f.notSent)
		}
		kind, wait, retry := p.decide(c, f, attempt)
		if !retry {
			return "", p.final(c, f, kind)
		}
		lvl := slogLevelRepeat
		if attempt == 0 {
			lvl = slogLevelFirst
		}
		log.Log(ctx, lvl, "slack call failed, retrying", "err", p.final(c, f, kind), "wait", wait, "attempt", attempt+1)
		if err := p.sleep(ctx, wait); err != nil {
			return "", p.cancelled(c, err, false)
		}
	}
}

// decide applies the retry policy: 429 waits for Retry-After; a request
// Slack never acted on is retried with backoff; one Slack may have acted on
// is retried only when idempotent, otherwise its outcome is unknown.
func (p *Poster) decide(c call, f failure, attempt int) (kind errKind, wait time.Duration, retry bool) {
	switch {
	case f.permanent:
		return kindPermanent, 0, false
	case f.rateLimited:
		wait = f.wait
		if wait <= 0 {
			wait = defaultRetryAfter
		}
		return kindTransient, wait, attempt < p.maxRetries
	case f.notSent || c.idempotent:
		return kindTransient, backoff(attempt), attempt < p.maxRetries
	default:
		return kindUnknown, 0, false
	}
}

// pace is a token bucket per channel: burst messages pass at once, then one
// per interval, the credit refilling at that rate while the channel is quiet.
func (p *Poster) pace(ctx context.Context, l *lane) error {
	if p.interval <= 0 {
		return ctx.Err()
	}
	now := p.now()
	if l.last.IsZero() {
		l.tokens = p.burst
	} else {
		l.tokens = min(p.burst, l.tokens+float64(now.Sub(l.last))/float64(p.interval))
	}
	if l.tokens >= 1 {
		l.tokens--
		return ctx.Err()
	}
	wait := time.Duration((1 - l.tokens) * float64(p.interval))
	l.tokens = 0
	return p.sleep(ctx, wait)
}

// final builds the error handed to the caller. Everything that came from the
// network passes the redactor.
func (p *Poster) final(c call, f failure, kind errKind) error {
	if f.apiErr != nil {
		e := *f.apiErr
		e.Code = p.redact.string(e.Code)
		e.kind = kind
		return &e
	}
	return fmt.Errorf("slack: %s%s: %w: %w", c.method, in(c.channel), kind.sentinel(), p.redact.error(f.cause))
}

// cancelled reports a call the caller's context ended. A postMessage that
// may already have left is outcome-unknown; anything else can simply be
// repeated later.
func (p *Poster) cancelled(c call, err error, maybeSent bool) error {
	kind := kindTransient
	if maybeSent && !c.idempotent {
		kind = kindUnknown
	}
	return fmt.Errorf("slack: %s%s: %w: %w", c.method, in(c.channel), kind.sentinel(), err)
}

func in(channel string) string {
	if channel == "" {
		return ""
	}
	return " in " + channel
}

// retryAfterSeconds makes every 429 reach slack-go with a Retry-After it can
// parse. slack-go v0.35.0 reads only integer seconds and turns anything else
// (an HTTP date, as RFC 9110 allows a proxy to send) into a strconv error,
// which would lose the fact that Slack refused the call.
type retryAfterSeconds struct{ next http.RoundTripper }

func (t retryAfterSeconds) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if _, perr := strconv.ParseInt(v, 10, 64); v == "" || perr == nil {
		return resp, nil
	}
	resp.Header.Del("Retry-After") // slack-go then reports a plain 429
	if when, perr := http.ParseTime(v); perr == nil {
		secs := max(0, int64(time.Until(when).Round(time.Second)/time.Second))
		resp.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	return resp, nil
}
