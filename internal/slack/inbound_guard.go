package slack

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/ticketsync/ticketsync/internal/webserver"
)

// Why a request to the Slack endpoints was refused; passed to
// InboundConfig.Refused and used as a metric label.
const (
	// No X-Slack-Signature or X-Slack-Request-Timestamp, or one not
	// shaped as Slack's: refused before the body is read.
	RefusedMissingSignature = "missing_signature"
	// The timestamp is more than MaxAge off: refused before the body.
	RefusedStaleTimestamp = "stale_timestamp"
	// The HMAC of the body does not match.
	RefusedBadSignature = "bad_signature"
	// Content-Length, or the body read, is over MaxBody.
	RefusedTooLarge = "too_large"
	// MaxUnverified bodies were being read already: 503 at once.
	RefusedBusy = "busy"
	// The body did not arrive within the server's read timeout.
	RefusedBodyTimeout = "body_timeout"
	// The body could not be read (client gone, broken chunking).
	RefusedReadFailed = "read_failed"
	// No such endpoint, or not a POST.
	RefusedNotFound = "not_found"
)

// DefaultMaxUnverified bounds the request bodies read at once before their
// signature is checked. Slack's requests are read in milliseconds, so a
// handful of slots serves any real burst; together with MaxBody it bounds
// the memory unverified traffic can take (16 × 1 MiB).
const DefaultMaxUnverified = 16

// read checks the headers, then reads the body (capped) and verifies it.
// It returns the verified body, or refuses the request itself. Nothing
// about a refused request reaches a Handler. The body is read once and
// parsed from the same bytes that were verified: slack-go's parsers would
// otherwise consume it first.
func (s *inbound) read(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if err := s.cfg.Verifier.CheckHeaders(r.Header); err != nil {
		reason := RefusedMissingSignature
		if errors.Is(err, ErrStale) {
			reason = RefusedStaleTimestamp
		}
		s.refuse(w, r, http.StatusUnauthorized, reason, err)
		return nil, false
	}
	limit := s.cfg.Verifier.maxBody()
	if r.ContentLength > limit {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, RefusedTooLarge,
			fmt.Errorf("slack: Content-Length %d, at most %d: %w", r.ContentLength, limit, ErrTooLarge))
		return nil, false
	}
	select {
	case s.slots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		s.refuse(w, r, http.StatusServiceUnavailable, RefusedBusy,
			fmt.Errorf("slack: %d request bodies being read already", cap(s.slots)))
		return nil, false
	}
	body, status, reason, err := s.readVerified(r, limit)
	<-s.slots
	if err != nil {
		s.refuse(w, r, status, reason, err)
		return nil, false
	}
	return body, true
}

// readVerified reads and verifies the body while read holds a slot: until
// it is verified it is anyone's. It returns the refusal when it fails, for
// read to answer after giving the slot back (a refusal lingers).
func (s *inbound) readVerified(r *http.Request, limit int64) (body []byte, status int, reason string, err error) {
	body, err = readBody(r, limit)
	switch {
	case errors.Is(err, ErrTooLarge):
		return nil, http.StatusRequestEntityTooLarge, RefusedTooLarge, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, http.StatusRequestTimeout, RefusedBodyTimeout, err
	case err != nil:
		return nil, http.StatusBadRequest, RefusedReadFailed, err
	}
	if err := s.cfg.Verifier.Verify(r.Header, body); err != nil {
		status, reason := http.StatusUnauthorized, RefusedBadSignature
		switch {
		case errors.Is(err, ErrTooLarge):
			status, reason = http.StatusRequestEntityTooLarge, RefusedTooLarge
		case errors.Is(err, ErrStale): // the clock moved while the body arrived
			reason = RefusedStaleTimestamp
		}
		return nil, status, reason, err
	}
	return body, 0, "", nil
}

// readBody reads the whole body, at most limit bytes. With a
// Content-Length (which Slack always sends) the buffer is allocated once at
// its size, so a slot holds what was declared and no more; without one the
// read stops one byte past limit.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength >= 0 {
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, fmt.Errorf("slack: reading the body: %w", err)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("slack: reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("slack: body over %d bytes: %w", limit, ErrTooLarge)
	}
	return body, nil
}

// refuse answers status and closes the connection without reading what is
// left of the body. The refusal is logged at Debug only: the endpoints are
// public and scanners hit them all day, so counting and a rate-limited
// warning are Refused's job.
func (s *inbound) refuse(w http.ResponseWriter, r *http.Request, status int, reason string, err error) {
	s.log.Debug("slack: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason, "err", err)
	if s.cfg.Refused != nil {
		s.cfg.Refused(reason, err)
	}
	webserver.Refuse(w, status)
}
