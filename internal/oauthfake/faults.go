package oauthfake

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// fault is one queued misbehaviour; faults are used first-in first-out by
// the requests whose path they match.
type fault struct {
	path      string // "" matches every path
	remaining int
	status    int
	delay     time.Duration
}

// FailNext answers the next n requests to path (PathToken, ...; "" for
// any) with status and an OAuth error body (server_error, or
// temporarily_unavailable for 429 and 503) before doing anything else.
//
// With oauth2.AuthStyleAutoDetect, x/oauth2 retries a failed first token
// request once in the other client authentication style, so one failure
// is absorbed by that retry; inject two to make a single token fetch fail.
func (s *Server) FailNext(path string, n, status int) {
	s.addFault(&fault{path: path, remaining: n, status: status})
}

// DelayNext holds the next n requests to path for d before handling them
// normally. A delay ends early when the client gives up or the server is
// closed, so a test with a short client timeout does not wait for it.
func (s *Server) DelayNext(path string, n int, d time.Duration) {
	s.addFault(&fault{path: path, remaining: n, delay: d})
}

// PendingFaults is how many injected failures and delays are unused.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.remaining
	}
	return n
}

// ResetFaults drops queued failures and delays.
func (s *Server) ResetFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) addFault(f *fault) {
	if f.remaining <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// takeFault uses up one turn of the first fault matching path.
func (s *Server) takeFault(path string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.path != "" && f.path != path {
			continue
		}
		f.remaining--
		if f.remaining == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		taken := *f
		return &taken
	}
	return nil
}

// applyFault carries out f and reports whether the request should still
// be handled.
func (s *Server) applyFault(f *fault, w *statusWriter, r *http.Request) bool {
	if f.delay > 0 {
		w.note(func(q *Request) { q.Fault = "delay " + f.delay.String() })
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		case <-s.closed:
			return false
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxFormBytes))
	w.note(func(q *Request) { q.Fault = "status " + strconv.Itoa(f.status) })
	if f.status == http.StatusServiceUnavailable || f.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	s.writeErr(w, errServer(f.status), false)
	return false
}
