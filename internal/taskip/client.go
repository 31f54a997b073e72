// Package taskip is the client of the TaskIP public API: one method per
// endpoint of both URL families, lenient decoding of the vendor's mixed
// representations, typed errors and bounded retries.
package taskip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ticketsync/ticketsync/internal/retry"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	json2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	BaseURL   string        // default DefaultBaseURL
	SecretKey string        // sent as X-Secret-Key; never logged
	Timeout   time.Duration // per attempt; default 15s
	// HTTPClient defaults to a client with a tuned transport; its own Timeout
	// should be zero since Timeout above bounds each attempt. It is copied,
	// never changed: the copy follows redirects only within the base URL's
	// scheme, host and port (see sameOriginRedirects), whatever the
	// original's CheckRedirect allows.
	HTTPClient *http.Client
	UserAgent  string
	// MaxResponseBytes bounds the body of one successful answer; a larger
	// one fails with ErrResponseTooLarge instead of being held in memory.
	// Default DefaultMaxResponseBytes.
	MaxResponseBytes int64

	// Retry policy for 429 and 5xx: capped exponential backoff with full
	// jitter, at most MaxAttempts tries in all. Retry-After is honoured up to
	// MaxRetryAfter; a longer wait is returned to the caller as the error.
	MaxAttempts   int           // default 5
	BaseDelay     time.Duration // default 250ms
	MaxDelay      time.Duration // default 10s
	MaxRetryAfter time.Duration // default 60s

	// Sleep waits between attempts; tests inject a recorder so backoff is
	// measured without real time passing. Default: a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0,1); default math/rand/v2.
	Jitter func() float64
	// Observe, when set, is called after every attempt (for metrics).
	Observe func(method, route string, status int, d time.Duration)
}

const (
	// DefaultMaxResponseBytes is the default of taskip.max_response_bytes:
	// a hundred times the largest list page TaskIP answers with, so that
	// only a runaway answer reaches it.
	DefaultMaxResponseBytes = 16 << 20
	// maxErrorBodyBytes bounds the body of a 4xx or 5xx read for its
	// message: the envelope is a few hundred bytes, and what a proxy puts
	// in an error page is of no use beyond that.
	maxErrorBodyBytes = 64 << 10
	// maxRedirects bounds a chain of same-origin redirects: a moved route
	// needs one, a loop is stopped after a few instead of Go's ten, each
	// of which would carry the key again.
	maxRedirects = 5
)

// Client talks to one TaskIP account. It is safe for concurrent use.
type Client struct {
	base *url.URL
	cfg  Config
	http *http.Client
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		// The URL is not repeated: it may carry credentials.
		return nil, errors.New("taskip: base URL must be an absolute http(s) URL")
	}
	if cfg.SecretKey == "" {
		return nil, errors.New("taskip: secret key is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = 250 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 10 * time.Second
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 60 * time.Second
	}
	if cfg.Sleep == nil {
		cfg.Sleep = retry.Sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "ticketsync"
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient // the caller's client is not ours to change
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		hc.Transport = tr
	}
	hc.CheckRedirect = sameOriginRedirects(hc.CheckRedirect)
	return &Client{base: base, cfg: cfg, http: &hc}, nil
}

// sameOriginRedirects refuses a redirect that leaves the scheme, host or
// port of the first request, then defers to next (the caller's policy) if
// any. net/http drops Authorization on a redirect to another domain, but
// not X-Secret-Key, and follows https to http: without this a 302 from a
// compromised or misconfigured front end would hand the key to whoever it
// names, possibly in clear. Refusing before the request is made means the
// other host is never even connected to.
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		if !sameOrigin(from, req.URL) {
			return &redirectError{from: origin(from), to: origin(req.URL)}
		}
		if len(via) > maxRedirects {
			return &redirectError{from: origin(from), limit: maxRedirects}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// port is u's port, or the scheme's default when the URL leaves it out.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// origin names u by scheme, host and port only. User info could be a
// password, and a path or query a token, so neither goes into an error.
func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + u.Host
}

// request describes one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when non-nil
	// newBody, when set, streams a body and its content type; it is called
	// again for each attempt and must yield exactly length bytes each time.
	// The length is sent as Content-Length: gateways and PHP front ends
	// answer a chunked body with 411 or hand the application nothing.
	newBody func() (io.ReadCloser, string, error)
	length  int64
	// idempotent requests may be retried after they reached the server.
	idempotent bool
}

// do runs req with retries and decodes a 2xx body into out (when non-nil).
func (c *Client) do(ctx context.Context, req request, out any) error {
	var lastErr error
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := c.attempt(ctx, req, out)
		if err == nil {
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return err
		}
		wait, retry := c.retryDecision(req, status, retryAfter, err)
		if !retry || attempt >= c.cfg.MaxAttempts {
			return lastErr
		}
		if wait < 0 {
			wait = c.backoff(attempt)
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return lastErr
		}
	}
}

// retryDecision returns the wait (negative: use backoff) and whether to
// retry: 429 and 5xx retried, other 4xx never; a
// non-idempotent request only when it provably never reached the server.
func (c *Client) retryDecision(req request, status int, retryAfter time.Duration, err error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case status == http.StatusTooManyRequests:
			// A rate-limited request was refused before any processing, so
			// even a create is safe to send again.
		case status >= 500 && req.idempotent:
		default:
			return 0, false
		}
		if retryAfter > c.cfg.MaxRetryAfter {
			return 0, false
		}
		if retryAfter > 0 || apiErr.RetryAfter > 0 {
			return retryAfter, true
		}
		return -1, true
	}
	// An unreadable, oversized or redirected answer would come back the same.
	if errors.Is(err, errDecode) || errors.Is(err, ErrResponseTooLarge) || errors.Is(err, ErrRedirectRefused) {
		return 0, false
	}
	if req.idempotent || neverSent(err) {
		return -1, true
	}
	return 0, false
}

// neverSent reports a transport failure that happened before any byte of the
// request could reach the server (DNS, refused or unreachable dial).
func neverSent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (c *Client) backoff(attempt int) time.Duration {
	return retry.Delay(c.cfg.BaseDelay, c.cfg.MaxDelay, attempt, c.cfg.Jitter())
}

var errDecode = errors.New("taskip: undecodable response")

// attempt performs one HTTP exchange. It returns the status (0 when no
// response arrived) and Retry-After.
func (c *Client) attempt(ctx context.Context, req request, out any) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	u := *c.base
	u.Path = c.base.Path + req.path
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	shown := req.path
	if u.RawQuery != "" {
		shown += "?" + u.RawQuery
	}

	var body io.Reader
	contentType := ""
	switch {
	case req.newBody != nil:
		if req.length < 0 {
			return 0, 0, fmt.Errorf("taskip: %s %s: body of unknown length", req.method, shown)
		}
		rc, ct, err := req.newBody()
		if err != nil {
			return 0, 0, fmt.Errorf("taskip: %s %s: %w", req.method, shown, err)
		}
		defer rc.Close()
		body, contentType = sourceReader{rc}, ct
	case req.body != nil:
		buf, err := json.Marshal(req.body)
		if err != nil {
			return 0, 0, fmt.Errorf("taskip: encode %s %s: %w", req.method, shown, err)
		}
		body, contentType = bytes.NewReader(buf), "application/json"
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return 0, 0, fmt.Errorf("taskip: %s %s: %w", req.method, shown, err)
	}
	if req.newBody != nil {
		// NewRequest cannot know a streamed body's length, and a zero
		// ContentLength with a body would make the transport send it chunked.
		hreq.ContentLength = req.length
		if req.length == 0 {
			hreq.Body = http.NoBody
		}
	}
	hreq.Header.Set(headerSecretKey, c.cfg.SecretKey)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.cfg.UserAgent)
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}

	start := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		c.observe(req, 0, start)
		// url.Error repeats the full URL; ours is credential-free but the
		// shorter path reads better in logs.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		var srcErr *sourceError
		if errors.As(err, &srcErr) {
			// The body stopped short of its Content-Length, so the server
			// cannot have acted on it: a plain failure, not an unknown
			// outcome, and sending it again would fail the same way.
			return 0, 0, fmt.Errorf("taskip: %s %s: %w", req.method, shown, srcErr.err)
		}
		if !req.idempotent && !neverSent(err) {
			return 0, 0, &outcomeUnknownError{method: req.method, path: shown, err: err}
		}
		return 0, 0, fmt.Errorf("taskip: %s %s: %w", req.method, shown, err)
	}
	defer resp.Body.Close()
	c.observe(req, resp.StatusCode, start)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := decodeError(resp)
		apiErr.Method, apiErr.Path = req.method, shown
		apiErr.MaybeApplied = !req.idempotent && resp.StatusCode >= 500
		return resp.StatusCode, apiErr.RetryAfter, apiErr
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, 0, nil
	}
	capped := &cappedReader{r: resp.Body, left: c.cfg.MaxResponseBytes}
	var decodeErr error
	if resp.ContentLength > c.cfg.MaxResponseBytes {
		capped.exceeded = true // announced: not a byte of it need be read
	} else {
		decodeErr = decodeBody(capped, out)
	}
	switch {
	case capped.exceeded:
		// Treated like an unreadable answer, and for the same reasons. A
		// read simply failed. A write was applied (2xx) but what it made is
		// unknown: for a create that is ErrOutcomeUnknown, whose callers
		// look for what they meant to create before creating it again;
		// reporting a plain failure would have them create a duplicate,
		// reporting success would hand them a zero ticket. An idempotent
		// write is a plain failure: repeating it later is harmless.
		tooLarge := &responseTooLargeError{limit: c.cfg.MaxResponseBytes}
		if !req.idempotent {
			return resp.StatusCode, 0, &outcomeUnknownError{method: req.method, path: shown, err: tooLarge}
		}
		return resp.StatusCode, 0, fmt.Errorf("taskip: %s %s: %w", req.method, shown, tooLarge)
	case decodeErr != nil && !req.idempotent:
		// The write happened; only its answer is unreadable.
		return resp.StatusCode, 0, &outcomeUnknownError{method: req.method, path: shown, err: fmt.Errorf("%w: %v", errDecode, decodeErr)}
	case decodeErr != nil:
		return resp.StatusCode, 0, fmt.Errorf("%w: %s %s: %v", errDecode, req.method, shown, decodeErr)
	}
	return resp.StatusCode, 0, nil
}

// cappedReader reads at most left bytes and notes whether the body had
// more, so that a huge answer costs the limit and not its whole size. It
// reads one byte past the limit to tell a body of exactly the limit from a
// longer one.
type cappedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errCapped = errors.New("response body over the limit")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, errCapped
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n, c.left, c.exceeded = int(c.left), 0, true
		return n, errCapped
	}
	c.left -= int64(n)
	return n, err
}

// sourceReader marks failures of a streamed body's own source (a file that
// cannot be opened, or is not the size announced), so that attempt can tell
// them from the network failing. Close stays the body's own, for the
// transport to stop the source as soon as it is done with the request.
type sourceReader struct{ io.ReadCloser }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	// ErrClosedPipe is the transport having closed the body itself, after a
	// failure of its own that must keep its classification.
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrClosedPipe) {
		err = &sourceError{err}
	}
	return n, err
}

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (c *Client) observe(req request, status int, start time.Time) {
	if c.cfg.Observe != nil {
		c.cfg.Observe(req.method, routeOf(req.path), status, time.Since(start))
	}
}

// routeOf replaces ids in a path with placeholders so metrics stay bounded.
func routeOf(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p == "" {
			continue
		}
		if _, err := strconv.ParseInt(p, 10, 64); err == nil {
			parts[i] = "{id}"
		} else if len(p) == 36 && strings.Count(p, "-") == 4 {
			parts[i] = "{uuid}"
		}
	}
	return strings.Join(parts, "/")
}

// errorEnvelope is the reference's error body.
type errorEnvelope struct {
	Error   string              `json:"error"`
	Message string              `json:"message"`
	Msg     string              `json:"msg"`
	Errors  map[string][]string `json:"errors"`
}

func decodeError(resp *http.Response) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil {
		e.Type, e.Message, e.Fields = env.Error, env.Message, env.Errors
		if e.Message == "" {
			e.Message = env.Msg
		}
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "<>") {
		e.Message = s
	}
	return e
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// decodeOptions keep decoding tolerant, as TaskIP's own answers vary: a server that
// repeats a key or sends invalid UTF-8 in a description should not make a
// whole page unreadable.
var decodeOptions = json2.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// decodeBody decodes with the encoding/json v2 implementation, which scans a
// 50-ticket page in a third of encoding/json's time (BENCHMARKS.md).
func decodeBody(r io.Reader, out any) error {
	return json2.UnmarshalRead(r, out, decodeOptions)
}
