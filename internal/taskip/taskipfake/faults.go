package taskipfake

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

type dropMode int

const (
	noDrop dropMode = iota
	dropBeforeHandling
	dropAfterHandling
)

// retryAfterFromServer means "whatever SetRetryAfter says when answering".
const retryAfterFromServer = -2

// fault is one queued failure; faults are consumed first-in first-out by
// the requests they match.
type fault struct {
	method     string
	prefix     string
	remaining  int
	status     int
	retryAfter int // seconds; -1 no header; retryAfterFromServer
	drop       dropMode
	hold       *hold
}

// hold is a request kept waiting by HoldNextOn or HoldResponseNextOn until
// the test releases it or its client goes.
type hold struct {
	handleFirst bool // HoldResponseNextOn: the request takes effect, its answer waits
	arrived     chan struct{}
	released    chan struct{}
	release     sync.Once
}

// SetLatency delays every request by d before it is answered (0 to
// turn off). The delay ends early when the client gives up.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetRetryAfter sets the Retry-After header, in seconds, sent with 429 and
// 503 answers from FailNext and FailNextOn. Negative removes it (default).
func (s *Server) SetRetryAfter(seconds int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.retryAfter = max(seconds, -1)
}

// FailNext answers the next n requests with status and the error envelope.
func (s *Server) FailNext(n, status int) { s.FailNextOn("", "", n, status) }

// FailNextOn is FailNext for requests whose method is method ("" for any)
// and whose path starts with pathPrefix, given either in full
// ("/api/public-v1/support-ticket") or relative to BasePath ("/support-ticket").
func (s *Server) FailNextOn(method, pathPrefix string, n, status int) {
	s.addFault(&fault{method: method, prefix: pathPrefix, remaining: n, status: status,
		retryAfter: retryAfterFromServer})
}

// Burst429 answers the next n requests with 429 and Retry-After in whole
// seconds, rounded up (0 is sent as "0"; negative sends no header).
func (s *Server) Burst429(n int, retryAfter time.Duration) {
	secs := -1
	if retryAfter >= 0 {
		secs = int((retryAfter + time.Second - 1) / time.Second)
	}
	s.addFault(&fault{remaining: n, status: http.StatusTooManyRequests, retryAfter: secs})
}

// DropConnectionNext closes the TCP connection of the next n requests
// without a response and without handling them. Note that Go's transport
// silently retries an idempotent request (GET, or one with an
// Idempotency-Key) that fails this way on a reused connection, consuming
// another drop.
func (s *Server) DropConnectionNext(n int) { s.DropConnectionNextOn("", "", n) }

// DropConnectionNextOn is DropConnectionNext restricted like FailNextOn.
func (s *Server) DropConnectionNextOn(method, pathPrefix string, n int) {
	s.addFault(&fault{method: method, prefix: pathPrefix, remaining: n, drop: dropBeforeHandling})
}

// DropResponseNext handles the next n requests fully (state changes happen)
// and then closes the connection instead of answering: the case where a
// client cannot know whether its POST took effect.
func (s *Server) DropResponseNext(n int) { s.DropResponseNextOn("", "", n) }

// DropResponseNextOn is DropResponseNext restricted like FailNextOn.
func (s *Server) DropResponseNextOn(method, pathPrefix string, n int) {
	s.addFault(&fault{method: method, prefix: pathPrefix, remaining: n, drop: dropAfterHandling})
}

// HoldNextOn holds the next request matching method and pathPrefix (as in
// FailNextOn) before it is handled. arrived is closed once the request,
// body and all, is waiting; release lets it be handled and answered as
// usual. A request whose client goes while held is never handled, and is
// logged as Dropped with status 0: the server had not started on it when
// the client died. Either release must be called or the client must go, or
// the server cannot close.
func (s *Server) HoldNextOn(method, pathPrefix string) (arrived <-chan struct{}, release func()) {
	return s.addHold(method, pathPrefix, false)
}

// HoldResponseNextOn is HoldNextOn holding the answer instead: the request
// is handled (state changes happen) before arrived is closed, and release
// sends its answer. A client that goes meanwhile never gets it, and the
// request is logged as Dropped with the status it would have had: the
// client died between the change and learning of it.
func (s *Server) HoldResponseNextOn(method, pathPrefix string) (arrived <-chan struct{}, release func()) {
	return s.addHold(method, pathPrefix, true)
}

func (s *Server) addHold(method, pathPrefix string, handleFirst bool) (<-chan struct{}, func()) {
	h := &hold{handleFirst: handleFirst, arrived: make(chan struct{}), released: make(chan struct{})}
	s.addFault(&fault{method: method, prefix: pathPrefix, remaining: 1, hold: h})
	return h.arrived, func() { h.release.Do(func() { close(h.released) }) }
}

// PendingFaults is how many injected failures have not been used yet.
func (s *Server) PendingFaults() int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.remaining
	}
	return n
}

// ResetFaults removes queued faults, latency and the Retry-After setting.
func (s *Server) ResetFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
	s.retryAfter = -1
	s.latency.Store(0)
}

func (s *Server) addFault(f *fault) {
	if f.remaining <= 0 {
		return
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, f)
}

// takeFault consumes one use of the first queued fault matching r.
func (s *Server) takeFault(r *http.Request) *fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if !f.matches(r) {
			continue
		}
		f.remaining--
		if f.remaining == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		taken := *f
		if taken.retryAfter == retryAfterFromServer {
			taken.retryAfter = s.retryAfter
		}
		return &taken
	}
	return nil
}

func (f *fault) matches(r *http.Request) bool {
	if f.method != "" && !strings.EqualFold(f.method, r.Method) {
		return false
	}
	if f.prefix == "" {
		return true
	}
	path := r.URL.Path
	if !strings.HasPrefix(f.prefix, BasePath) {
		path = strings.TrimPrefix(path, BasePath)
	}
	return strings.HasPrefix(path, f.prefix)
}

// applyFault answers r as f says, or closes the connection without an
// answer.
func (s *Server) applyFault(f *fault, w *statusWriter, r *http.Request) {
	body, _ := r.Body.(*captureBody)
	if f.hold != nil {
		s.applyHold(f.hold, w, r)
		return
	}
	switch f.drop {
	case dropBeforeHandling:
		if body != nil {
			body.drainForLog()
		}
		s.logDropped(w.entry, 0)
		closeWithoutResponse(w)
		return
	case dropAfterHandling:
		rec := httptest.NewRecorder()
		s.serveAuthorized(rec, r)
		s.logDropped(w.entry, rec.Code)
		closeWithoutResponse(w)
		return
	}
	if body != nil {
		body.drainForLog()
	}
	if f.retryAfter >= 0 && (f.status == http.StatusTooManyRequests || f.status == http.StatusServiceUnavailable) {
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
	writeError(w, f.status, faultMessage(f.status), nil)
}

// applyHold keeps r waiting as h says. The body is read to its end before
// the wait because only then does net/http watch the connection and cancel
// the request's context when the client goes.
func (s *Server) applyHold(h *hold, w *statusWriter, r *http.Request) {
	var rec *httptest.ResponseRecorder
	if h.handleFirst {
		rec = httptest.NewRecorder()
		s.serveAuthorized(rec, r)
		_, _ = io.Copy(io.Discard, r.Body)
	} else {
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	close(h.arrived)
	select {
	case <-h.released:
	case <-r.Context().Done():
	}
	if r.Context().Err() != nil {
		status := 0
		if rec != nil {
			status = rec.Code
		}
		s.logDropped(w.entry, status)
		return
	}
	if rec == nil {
		s.serveAuthorized(w, r)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func faultMessage(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "Rate limit exceeded"
	case status == http.StatusServiceUnavailable:
		return "Service temporarily unavailable"
	case status >= 500:
		return "Internal server error"
	}
	return "Injected failure"
}

func closeWithoutResponse(w *statusWriter) {
	conn, _, err := w.hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
