package taskip

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Sentinel errors for the outcomes callers branch on. An *APIError matches
// the one for its status with errors.Is.
var (
	ErrUnauthorized = errors.New("taskip: unauthorized (check the secret key)")
	ErrNotFound     = errors.New("taskip: not found")
	ErrConflict     = errors.New("taskip: conflict")
	ErrTooLarge     = errors.New("taskip: payload too large")
	ErrValidation   = errors.New("taskip: validation failed")
	ErrRateLimited  = errors.New("taskip: rate limited")
	ErrServer       = errors.New("taskip: server error")
	// ErrOutcomeUnknown marks a non-idempotent request that may have reached
	// the server: it was not retried, and the caller must reconcile (search
	// for what it meant to create) before trying again.
	ErrOutcomeUnknown = errors.New("taskip: outcome unknown")
	// ErrRedirectRefused marks an answer that redirected to another scheme,
	// host or port (where the secret key must not go), or too many times.
	// The request is not retried: the server would answer the same way.
	ErrRedirectRefused = errors.New("taskip: redirect refused")
	// ErrResponseTooLarge marks a successful answer whose body is larger
	// than Config.MaxResponseBytes. It is not retried, since the same
	// answer would come again. A non-idempotent write that got one also
	// matches ErrOutcomeUnknown: it was applied, but what it created is
	// unknown.
	ErrResponseTooLarge = errors.New("taskip: response too large")
)

// APIError is a non-2xx answer from TaskIP.
type APIError struct {
	Method     string
	Path       string // path and query, never the secret or host credentials
	StatusCode int
	Type       string              // the envelope's "error", e.g. "Validation Error"
	Message    string              // the envelope's "message"
	Fields     map[string][]string // 422 field errors
	RetryAfter time.Duration       // from the Retry-After header, when sent
	// MaybeApplied is set when a non-idempotent request got a 5xx: the
	// server may have done the work before failing, so the error also
	// matches ErrOutcomeUnknown.
	MaybeApplied bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "taskip: %s %s: %d", e.Method, e.Path, e.StatusCode)
	switch {
	case e.Message != "":
		b.WriteString(" " + e.Message)
	case e.Type != "":
		b.WriteString(" " + e.Type)
	default:
		b.WriteString(" " + http.StatusText(e.StatusCode))
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "; %s: %s", k, strings.Join(e.Fields[k], " "))
		}
	}
	return b.String()
}

// Is maps the status code to the sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrValidation:
		return e.StatusCode == http.StatusUnprocessableEntity || e.StatusCode == http.StatusBadRequest
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500
	case ErrOutcomeUnknown:
		return e.MaybeApplied
	}
	return false
}

// Temporary reports whether the same request may succeed later (429, 5xx).
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// IsPermanent reports whether retrying the same request can never help: a
// 4xx other than 429. Flows use it to quarantine what they were doing
// instead of retrying. 401, 403 and 408 are not permanent in that sense:
// they say nothing about the request (a key being rotated, a proxy's
// timeout), and quarantining mail because of them would move every
// customer's message aside until a person noticed. Retry waits for the key
// to be fixed instead.
func IsPermanent(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Temporary() {
		return false
	}
	switch apiErr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout:
		return false
	}
	return true
}

// RefusesField reports whether err is a validation error that names field,
// for callers that can mend that one field and try again.
func RefusesField(err error, field string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && errors.Is(apiErr, ErrValidation) && len(apiErr.Fields[field]) > 0
}

// outcomeUnknownError wraps the transport failure of a request that may have
// been processed.
type outcomeUnknownError struct {
	method, path string
	err          error
}

func (e *outcomeUnknownError) Error() string {
	return fmt.Sprintf("taskip: %s %s: outcome unknown, not retried: %v", e.method, e.path, e.err)
}

func (e *outcomeUnknownError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.err} }

// redirectError is a redirect sameOriginRedirects refused. It names
// origins only: the target's user info or query could hold a secret.
type redirectError struct {
	from, to string
	limit    int // set when the chain was too long rather than off-origin
}

func (e *redirectError) Error() string {
	if e.to == "" {
		return fmt.Sprintf("redirect refused: more than %d redirects within %s", e.limit, e.from)
	}
	return fmt.Sprintf("redirect to %s refused: the secret key is only sent to %s (fix taskip.base_url if the API has moved)", e.to, e.from)
}

func (e *redirectError) Is(target error) bool { return target == ErrRedirectRefused }

// responseTooLargeError is a 2xx body over the configured limit.
type responseTooLargeError struct{ limit int64 }

func (e *responseTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than %d bytes (raise taskip.max_response_bytes if such answers are expected)", e.limit)
}

func (e *responseTooLargeError) Is(target error) bool { return target == ErrResponseTooLarge }
