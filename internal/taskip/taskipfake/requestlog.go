package taskipfake

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
)

// maxLoggedBody caps what the log keeps of a body: enough for any JSON call,
// and an upload is never held whole.
const maxLoggedBody = 64 << 10

// Requests returns a copy of the log in arrival order.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = *r
		out[i].Body = append([]byte(nil), r.Body...)
	}
	return out
}

// RequestCount is len(Requests()) without the copy.
func (s *Server) RequestCount() int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return len(s.log)
}

// ResetRequests empties the log. Requests still in flight finish into the
// discarded log, not the new one.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = nil
}

// logStart appends r to the log. The entry is then filled in as the request
// proceeds (body as it is read, status as it is written), never afterwards:
// a client that has its answer must find the log already complete.
func (s *Server) logStart(w http.ResponseWriter, r *http.Request) (*statusWriter, *captureBody) {
	entry := &Request{
		Method:           r.Method,
		Path:             r.URL.Path,
		Query:            r.URL.Query(),
		Header:           r.Header.Clone(),
		ContentLength:    r.ContentLength,
		TransferEncoding: slices.Clone(r.TransferEncoding),
	}
	s.logMu.Lock()
	s.log = append(s.log, entry)
	s.logMu.Unlock()
	return &statusWriter{ResponseWriter: w, s: s, entry: entry}, &captureBody{rc: r.Body, s: s, entry: entry}
}

// logDropped marks the entry before the connection is closed.
func (s *Server) logDropped(entry *Request, status int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	entry.Status, entry.Dropped = status, true
}

// captureBody keeps the first maxLoggedBody bytes the handler reads.
type captureBody struct {
	rc    io.ReadCloser
	s     *Server
	entry *Request
}

func (c *captureBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 {
		c.s.logMu.Lock()
		if room := maxLoggedBody - len(c.entry.Body); room > 0 {
			c.entry.Body = append(c.entry.Body, p[:min(n, room)]...)
		}
		c.s.logMu.Unlock()
	}
	return n, err
}

func (c *captureBody) Close() error { return c.rc.Close() }

// drainForLog reads what the log keeps of a body the server will not use.
func (c *captureBody) drainForLog() {
	_, _ = io.Copy(io.Discard, io.LimitReader(c, maxLoggedBody))
}

// statusWriter records the status in the log before it goes on the wire.
type statusWriter struct {
	http.ResponseWriter
	s      *Server
	entry  *Request
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.s.logMu.Lock()
		w.entry.Status = code
		w.s.logMu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hijack takes the TCP connection away from net/http so it can be closed
// without any response bytes.
func (w *statusWriter) hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
