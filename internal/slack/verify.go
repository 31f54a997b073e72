package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Why a request was refused. Verify wraps exactly one of them; none of the
// messages contain the signing secret or the computed signature.
var (
	ErrMissingHeader = errors.New("missing signature headers")
	ErrBadSignature  = errors.New("bad request signature")
	ErrStale         = errors.New("stale request timestamp")
	ErrTooLarge      = errors.New("request body too large")
)

// Defaults of a Verifier's zero fields.
const (
	DefaultMaxAge  = 5 * time.Minute // Slack's own recommendation
	DefaultMaxBody = 1 << 20
)

// Verifier checks Slack's v0 request signature
// (docs.slack.dev/authentication/verifying-requests-from-slack). slack-go's
// SecretsVerifier is not used because its clock cannot be injected and its
// errors are untyped.
type Verifier struct {
	Secret  string           // signing secret; never logged or put in an error
	Now     func() time.Time // nil: time.Now
	MaxAge  time.Duration    // allowed clock skew in either direction; 0: DefaultMaxAge
	MaxBody int64            // largest body accepted; 0: DefaultMaxBody
}

const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
)

// Verify reports whether body, with headers h, was signed by Slack within
// MaxAge of now. body must be the exact bytes received: callers read it once
// (capped) and parse the same bytes afterwards.
func (v Verifier) Verify(h http.Header, body []byte) error {
	if int64(len(body)) > v.maxBody() {
		return fmt.Errorf("slack: %d bytes, at most %d: %w", len(body), v.maxBody(), ErrTooLarge)
	}
	sig, err := v.checkHeaders(h)
	if err != nil {
		return err
	}
	if !hmac.Equal(sig, Sign(v.Secret, h.Get(headerTimestamp), body)) {
		return fmt.Errorf("slack: signature mismatch: %w", ErrBadSignature)
	}
	return nil
}

// CheckHeaders is the part of Verify that needs no body: both headers
// present, the signature shaped as v0= and 64 hex digits, the timestamp
// within MaxAge of now. A request that fails it can be refused before its
// body is read, which is what keeps unsigned traffic from costing memory.
func (v Verifier) CheckHeaders(h http.Header) error {
	_, err := v.checkHeaders(h)
	return err
}

// checkHeaders returns the decoded signature.
func (v Verifier) checkHeaders(h http.Header) ([]byte, error) {
	if v.Secret == "" {
		// Failing closed: an empty secret would make every HMAC guessable.
		return nil, fmt.Errorf("slack: no signing secret configured: %w", ErrBadSignature)
	}
	sig, ts := h.Get(headerSignature), h.Get(headerTimestamp)
	if sig == "" || ts == "" {
		return nil, fmt.Errorf("slack: need %s and %s: %w", headerSignature, headerTimestamp, ErrMissingHeader)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("slack: timestamp %q is not a number: %w", cutASCII(ts, 20), ErrBadSignature)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// Checked before the HMAC so a replayed old request costs no hashing,
	// and in both directions so a forged future timestamp cannot extend
	// the replay window.
	if skew := now().Sub(time.Unix(secs, 0)).Abs(); skew > v.maxAge() {
		return nil, fmt.Errorf("slack: timestamp %d is %s off, at most %s: %w", secs, skew.Round(time.Second), v.maxAge(), ErrStale)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return nil, fmt.Errorf("slack: signature is not v0: %w", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("slack: signature is not a hex SHA-256: %w", ErrBadSignature)
	}
	return got, nil
}

// Sign returns the raw v0 HMAC of body at timestamp ts, as Slack computes
// it. Tests and the demo use it to sign requests.
func Sign(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader formats Sign's result as the X-Slack-Signature value.
func SignatureHeader(secret, ts string, body []byte) string {
	return "v0=" + hex.EncodeToString(Sign(secret, ts, body))
}

func (v Verifier) maxAge() time.Duration {
	if v.MaxAge > 0 {
		return v.MaxAge
	}
	return DefaultMaxAge
}

func (v Verifier) maxBody() int64 {
	if v.MaxBody > 0 {
		return v.MaxBody
	}
	return DefaultMaxBody
}

// cut keeps attacker-supplied header values in errors short.
func cutASCII(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
