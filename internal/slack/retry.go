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
	channel string // non-empty: a write, serialised per method and channel
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

// run runs c under its lane: wait for the lane and for any hold Slack put on
// the method and channel, call, and on failure either retry (same place in
// the queue) or return a classified error. The whole policy is here so it
// can be read top to bottom.
func (p *Poster) run(ctx context.Context, c call) (string, error) {
	log := p.log.With("method", c.method)
	// Reads take no lane: they must neither wait behind the channel's
	// writes nor hold them up. They still share their method's hold.
	l := p.lanes.get(laneKey{method: c.method, channel: c.channel})
	if c.channel != "" {
		log = log.With("channel", c.channel)
		if err := l.acquire(ctx); err != nil {
			return "", p.cancelled(c, err, false)
		}
		defer l.release()
	}
	// Our own pacing is off unless configured, and then applies to new
	// messages only: Slack's one-per-second figure is chat.postMessage's,
	// chat.update has its own, looser tier.
	paced := c.channel != "" && c.method == "chat.postMessage" && p.interval > 0
	var refused, failed int // 429s and other failures of this call
	holding := false        // this call set the hold and has waited it out
	for attempt := 0; ; attempt++ {
		if !holding {
			if err := p.awaitHold(ctx, l); err != nil {
				return "", p.cancelled(c, err, false)
			}
		}
		holding = false
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
		if f.rateLimited {
			// The hold is the key's, not this call's: the calls queued
			// behind this one and concurrent reads of the method wait
			// it out too instead of each collecting a 429 of its own,
			// also when this call gives up.
			l.hold(p.now().Add(wait))
		}
		if !retry {
			return "", p.final(c, f, kind)
		}
		if f.rateLimited {
			refused++
			// A 429 is how Slack paces us, so it is no warning. A
			// second one for the same call is: the wait Slack asked for
			// did not suffice, so something else (another app, another
			// process with this token) spends the same limit.
			lvl := slog.LevelDebug
			if refused == 2 {
				lvl = slog.LevelWarn
			}
			log.Log(ctx, lvl, "slack asked to wait", "wait", wait, "attempt", attempt+1, "refused", refused)
			if err := p.sleep(ctx, wait); err != nil {
				return "", p.cancelled(c, err, false)
			}
			holding = true
			continue
		}
		failed++
		lvl := slogLevelRepeat
		if failed == 1 {
			lvl = slogLevelFirst
		}
		log.Log(ctx, lvl, "slack call failed, retrying", "err", p.final(c, f, kind), "wait", wait, "attempt", attempt+1)
		if err := p.sleep(ctx, wait); err != nil {
			return "", p.cancelled(c, err, false)
		}
	}
}

// decide applies the retry policy: 429 holds for Retry-After; a request
// Slack never acted on is retried with backoff; one Slack may have acted on
// is retried only when idempotent, otherwise its outcome is unknown. A 429
// means the request was not taken, so its retry can never post twice.
func (p *Poster) decide(c call, f failure, attempt int) (kind errKind, wait time.Duration, retry bool) {
	switch {
	case f.permanent:
		return kindPermanent, 0, false
	case f.rateLimited:
		return kindTransient, p.holdFor(f.wait), attempt < p.maxRetries
	case f.notSent || c.idempotent:
		return kindTransient, backoff(attempt), attempt < p.maxRetries
	default:
		return kindUnknown, 0, false
	}
}

// holdFor is the hold after a 429 whose Retry-After was retryAfter (0:
// none). Never less than Slack asked: its Retry-After is whole seconds, and
// a retry arriving a moment before the limit refills only collects another
// 429. Up to 5 % more, so that keys refused in the same instant (a
// workspace-wide limit) do not all come back in the same instant either.
// Beyond maxHold the figure is not believed (a proxy's, a date far off):
// asking again then costs one more 429, not a long silence.
func (p *Poster) holdFor(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		retryAfter = defaultRetryAfter
	}
	retryAfter = min(retryAfter, maxHold)
	return retryAfter + time.Duration(p.jitter()*float64(retryAfter)/20)
}

// awaitHold waits out what is left of a hold another call set. One sleep:
// a write's hold can only be extended by the lane's owner, which is now
// this call; a read that meets a hold extended meanwhile by a concurrent
// read costs one more 429, which holds it again.
func (p *Poster) awaitHold(ctx context.Context, l *lane) error {
	if d := l.heldFor(p.now()); d > 0 {
		return p.sleep(ctx, d)
	}
	return ctx.Err()
}

// pace is the optional fixed pacing (PerChannelInterval), a token bucket
// per channel: burst messages pass at once, then one per interval, the
// credit refilling at that rate while the channel is quiet.
func (p *Poster) pace(ctx context.Context, l *lane) error {
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
