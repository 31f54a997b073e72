package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ticketsync/ticketsync/internal/retry"
)

// Responder posts follow-ups to a response_url (valid for 30 minutes and 5
// uses). A response_url is a credential, so only its origin ever appears in
// an error or a log line.
type Responder struct {
	HTTPClient *http.Client // nil: a client with a 30 s timeout
	Logger     *slog.Logger
	// MaxRetries bounds retries after a 429, 5xx or network error; 0
	// means 2, negative none.
	MaxRetries int
	// Sleep waits between attempts; nil sleeps for real. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

const defaultRespondRetries = 2

// Respond posts reply to responseURL. It returns nil once Slack answered
// 2xx; an error matching ErrPermanent for a refused or expired URL (4xx) or
// an URL that is not https (plain http is allowed to loopback only, for
// tests); ErrTransient when the retries ran out. A 5xx is retried although
// Slack may have shown the message: a repeated notice is better than none.
func (r Responder) Respond(ctx context.Context, responseURL string, reply Reply) error {
	u, err := url.Parse(responseURL)
	if err != nil || !allowedResponseURL(u) {
		return fmt.Errorf("slack: response_url %s: not https: %w", origin(u), ErrPermanent)
	}
	where := origin(u)
	body, err := json.Marshal(ackOf(reply))
	if err != nil {
		return fmt.Errorf("slack: response_url %s: encode reply: %w: %w", where, ErrPermanent, err)
	}
	hc := r.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	retries := r.MaxRetries
	switch {
	case retries == 0:
		retries = defaultRespondRetries
	case retries < 0:
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		wait, err := r.post(ctx, hc, u, body)
		if err == nil {
			log.Debug("slack: response_url answered", "origin", where, "attempt", attempt+1)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("slack: response_url %s: %w: %w", where, ErrTransient, ctx.Err())
		}
		if errors.Is(err, ErrPermanent) || attempt >= retries {
			return fmt.Errorf("slack: response_url %s: %w", where, err)
		}
		if wait <= 0 {
			wait = backoff(attempt)
		}
		lvl := slogLevelRepeat
		if attempt == 0 {
			lvl = slogLevelFirst
		}
		log.Log(ctx, lvl, "slack: response_url failed, retrying", "origin", where, "err", err, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("slack: response_url %s: %w: %w", where, ErrTransient, err)
		}
	}
}

// post makes one attempt. It returns Retry-After for a 429, and an error
// matching ErrPermanent or ErrTransient.
func (r Responder) post(ctx context.Context, hc *http.Client, u *url.URL, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error prints the whole URL; keep only the cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, fmt.Errorf("%w: %w", ErrTransient, err)
	}
	defer resp.Body.Close()
	// Slack answers "expired_url", "used_url", "no_text" and the like.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	code := redactor("").string(fmt.Sprintf("http_%d %s", resp.StatusCode, bytes.TrimSpace(msg)))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(secs) * time.Second, fmt.Errorf("%s: %w", code, ErrTransient)
	case resp.StatusCode >= 500:
		return 0, fmt.Errorf("%s: %w", code, ErrTransient)
	default:
		return 0, fmt.Errorf("%s: %w", code, ErrPermanent)
	}
}

func allowedResponseURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		ip := net.ParseIP(u.Hostname())
		return u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}

func origin(u *url.URL) string {
	if u == nil || u.Host == "" {
		return "(invalid)"
	}
	return u.Scheme + "://" + u.Host
}
