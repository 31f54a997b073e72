package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"

	slackapi "github.com/slack-go/slack"
)

// The three outcomes a caller has to tell apart. Every error the Poster
// returns matches exactly one of them with errors.Is (a cancelled context
// additionally matches context.Canceled or context.DeadlineExceeded).
var (
	// ErrPermanent: Slack refused the call and will refuse it again
	// (channel_not_found, not_in_channel, invalid_auth, ...). A person has to
	// fix configuration or data; retrying is pointless.
	ErrPermanent = errors.New("permanent failure")
	// ErrOutcomeUnknown: a chat.postMessage may or may not have been posted
	// (5xx, timeout or broken connection after the request left). Retrying
	// risks a duplicate message, so the caller decides, e.g. by looking for
	// its metadata marker in conversations.replies before posting again.
	ErrOutcomeUnknown = errors.New("outcome unknown, the message may have been posted")
	// ErrTransient: Slack did not take the call (rate limited, unreachable)
	// or the call is idempotent, and the bounded retries ran out. Safe to
	// repeat later.
	ErrTransient = errors.New("temporary failure")
)

type errKind int

const (
	kindPermanent errKind = iota
	kindTransient
	kindUnknown
)

func (k errKind) String() string {
	switch k {
	case kindTransient:
		return "temporary"
	case kindUnknown:
		return "outcome unknown"
	default:
		return "permanent"
	}
}

func (k errKind) sentinel() error {
	switch k {
	case kindTransient:
		return ErrTransient
	case kindUnknown:
		return ErrOutcomeUnknown
	default:
		return ErrPermanent
	}
}

// APIError is an answer from Slack: an {"ok":false,"error":code} body or an
// HTTP status other than 200. Code and the message never contain the token.
type APIError struct {
	Method  string // Web API method, e.g. "chat.postMessage"
	Channel string // empty for methods without a channel
	Code    string // Slack's error code, or "http_<status>" when Slack sent no JSON
	Status  int    // HTTP status; 200 for ok:false answers
	kind    errKind
}

func (e *APIError) Error() string {
	where := e.Method
	if e.Channel != "" {
		where += " in " + e.Channel
	}
	return fmt.Sprintf("slack: %s: %s (%s)", where, e.Code, e.kind)
}

// Is lets callers use errors.Is(err, ErrPermanent) and friends without
// caring which concrete type carried the classification.
func (e *APIError) Is(target error) bool { return target == e.kind.sentinel() }

// Slack error codes that are not permanent. Everything else Slack sends back
// is treated as permanent: an unknown code repeated blindly would only burn
// rate limit, and for chat.postMessage could duplicate.
var (
	// Slack did not perform the call.
	notPerformedCodes = map[string]bool{
		"ratelimited":         true,
		"rate_limited":        true,
		"service_unavailable": true,
		"team_added_to_org":   true,
		// "POST data was either missing or truncated": nothing was parsed.
		"request_timeout": true,
	}
	// Slack's docs for these say "It's possible some aspect of the operation
	// succeeded before the error was raised."
	maybePerformedCodes = map[string]bool{
		"internal_error": true,
		"fatal_error":    true,
	}
	rateLimitCodes = map[string]bool{"ratelimited": true, "rate_limited": true}
)

// failure is how one attempt went wrong, before retry policy is applied.
type failure struct {
	rateLimited bool          // honour wait instead of backoff
	wait        time.Duration // Retry-After; 0 when Slack sent none
	notSent     bool          // Slack provably did not act on the request
	permanent   bool
	apiErr      *APIError // set when Slack answered
	cause       error     // transport error otherwise
}

// classify turns a slack-go error into a failure. It relies on slack-go
// v0.35.0's shapes: *RateLimitedError for a 429 with Retry-After,
// StatusCodeError for any other non-200, SlackErrorResponse for ok:false,
// and the http.Client's *url.Error for transport problems.
func classify(method, channel string, err error) failure {
	apiErr := func(code string, status int) *APIError {
		return &APIError{Method: method, Channel: channel, Code: code, Status: status}
	}
	if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
		return failure{rateLimited: true, wait: rl.RetryAfter, notSent: true,
			apiErr: apiErr("ratelimited", http.StatusTooManyRequests)}
	}
	if sc, ok := errors.AsType[slackapi.StatusCodeError](err); ok {
		e := apiErr(fmt.Sprintf("http_%d", sc.Code), sc.Code)
		switch {
		case sc.Code == http.StatusTooManyRequests: // 429 without Retry-After
			return failure{rateLimited: true, notSent: true, apiErr: e}
		case sc.Code >= 500:
			return failure{apiErr: e}
		default:
			return failure{permanent: true, apiErr: e}
		}
	}
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); ok {
		e := apiErr(se.Err, http.StatusOK)
		switch {
		case rateLimitCodes[se.Err]:
			return failure{rateLimited: true, notSent: true, apiErr: e}
		case notPerformedCodes[se.Err]:
			return failure{notSent: true, apiErr: e}
		case maybePerformedCodes[se.Err]:
			return failure{apiErr: e}
		default:
			return failure{permanent: true, apiErr: e}
		}
	}
	return failure{notSent: neverSent(err), cause: err}
}

// neverSent reports whether the request cannot have reached Slack: the TCP
// connection was never established. Anything after the dial (reset, EOF,
// timeout) may have delivered the request.
func neverSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		// A dial that timed out or failed DNS never carried a byte either.
		return true
	}
	return false
}

// tokenRe matches any Slack token shape, so a token that is not ours (an
// app-level token echoed by a proxy, say) is hidden as well.
var tokenRe = regexp.MustCompile(`xox[a-z]-[0-9A-Za-z-]+|xapp-[0-9A-Za-z-]+`)

// redactor hides the configured token in text that came from the network.
type redactor string

func (r redactor) string(s string) string {
	if r != "" {
		s = strings.ReplaceAll(s, string(r), "[REDACTED]")
	}
	return tokenRe.ReplaceAllString(s, "[REDACTED]")
}

// error returns err unchanged unless its text carries a token; then the
// chain is cut, because any wrapped error could print the secret again.
// Cancellation stays recognisable so callers can stay silent on shutdown.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.string(msg)
	if clean == msg {
		return err
	}
	var keep []error
	for _, e := range []error{context.Canceled, context.DeadlineExceeded, ErrPermanent, ErrTransient, ErrOutcomeUnknown} {
		if errors.Is(err, e) {
			keep = append(keep, e)
		}
	}
	return &redactedError{msg: clean, is: keep}
}

type redactedError struct {
	msg string
	is  []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.is }
