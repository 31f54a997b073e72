// Package taskipfake is an in-memory TaskIP server spoken to over real HTTP.
// It is written from the vendor reference, independently of package taskip,
// so that a client bug shows up as a failed call rather than being mirrored.
package taskipfake

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BasePath is where the API is mounted; a client's base URL is the server
// URL followed by BasePath.
const BasePath = "/api/public-v1"

// ErrNotFound is returned by the state helpers for an unknown id.
var ErrNotFound = errors.New("taskipfake: not found")

// Options configures a Server. The zero value is usable.
type Options struct {
	// SecretKey is the expected X-Secret-Key. When empty any non-empty key
	// is accepted; a missing header is always 401.
	SecretKey string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// CodeStyle chooses integer or name codes in responses; default Ints.
	CodeStyle CodeStyle
	// MaxUploadBytes is the per-file upload limit (413 above it); default 20 MiB.
	MaxUploadBytes int64
	// DefaultPageSize is the list page size when no limit is given; default 50.
	DefaultPageSize int
	// RequireContentLength answers 411 Length Required, before any fault
	// or authentication, to a body sent chunked or otherwise without
	// Content-Length, and to a POST, PUT or PATCH without the header even
	// when empty: what API gateways and PHP front ends that cannot take a
	// chunked body do.
	RequireContentLength bool
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	flips atomic.Uint64

	mu          sync.RWMutex
	tickets     map[int]*Ticket
	byUUID      map[string]int
	replies     map[int][]Reply
	notes       map[int][]Note
	attachments map[int][]Attachment
	media       map[int]Media
	contacts    map[int]*Contact
	// contactSearch holds every contact with its searched fields lower-cased
	// once: a search scans them all, and lower-casing each name on every
	// request made the fake the slowest part of the intake benchmark.
	// Contacts are never changed or removed, so it stays in step.
	contactSearch []searchableContact
	team          map[int]*TeamMember
	apiUser       int
	next          struct{ ticket, reply, note, media, contact, team int }

	faultMu    sync.Mutex
	faults     []*fault
	retryAfter int // seconds, -1 = no header
	latency    atomic.Int64

	logMu sync.Mutex
	log   []*Request
}

// New returns an empty server; use the Seed helpers to populate it.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 20 << 20
	}
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = 50
	}
	s := &Server{
		opts:        opts,
		mux:         http.NewServeMux(),
		tickets:     map[int]*Ticket{},
		byUUID:      map[string]int{},
		replies:     map[int][]Reply{},
		notes:       map[int][]Note{},
		attachments: map[int][]Attachment{},
		media:       map[int]Media{},
		contacts:    map[int]*Contact{},
		team:        map[int]*TeamMember{},
		retryAfter:  -1,
	}
	s.next.ticket, s.next.reply, s.next.note, s.next.media, s.next.contact, s.next.team = 1, 1, 1, 1, 1, 1
	s.routes()
	return s
}

// NewHTTPTest starts the server on a loopback httptest.Server closed at the
// end of the test and returns the client base URL (…/api/public-v1).
func NewHTTPTest(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL + BasePath
}

// Handler serves the API under BasePath.
func (s *Server) Handler() http.Handler { return s }

// Serve listens on addr until ctx ends, then shuts down gracefully. It is
// what `ticketsync fake-taskip` and the demo run.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on an existing listener (e.g. 127.0.0.1:0).
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// ServeHTTP logs the request, then applies latency, the length check,
// injected faults and authentication, in that order, before routing.
// Logging comes first so a request the client abandoned during the delay
// still counts as an attempt; the length check and faults come before
// authentication because they stand for a gateway or load balancer in front
// of the application, and a front end that cannot frame a body refuses it
// before anything else looks at the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, body := s.logStart(w, r)
	r.Body = body
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if s.opts.RequireContentLength && lacksContentLength(r) {
		body.drainForLog()
		writeError(rec, http.StatusLengthRequired, "A request body must be sent with Content-Length", nil)
		return
	}
	if f := s.takeFault(r); f != nil {
		s.applyFault(f, rec, r)
		return
	}
	s.serveAuthorized(rec, r)
}

// lacksContentLength reports a request a front end without chunked support
// refuses. net/http has already removed a chunked Transfer-Encoding header
// (and any Content-Length beside it), leaving r.TransferEncoding and a
// ContentLength of -1.
func lacksContentLength(r *http.Request) bool {
	if len(r.TransferEncoding) > 0 || r.ContentLength < 0 {
		return true
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return r.Header.Get("Content-Length") == ""
	}
	return false
}

func (s *Server) serveAuthorized(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Secret-Key")
	if key == "" || (s.opts.SecretKey != "" &&
		subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.SecretKey)) != 1) {
		writeError(w, http.StatusUnauthorized, "Invalid or missing X-Secret-Key", nil)
		return
	}
	// The mux answers unknown routes and wrong methods in plain text; probe
	// it first so those answers get the error envelope too.
	if _, pattern := s.mux.Handler(r); pattern == "" {
		probe := httptest.NewRecorder()
		s.mux.ServeHTTP(probe, r)
		switch probe.Code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.Header().Get("Allow"))
			writeError(w, probe.Code, "The "+r.Method+" method is not supported for this route", nil)
		case http.StatusNotFound:
			writeError(w, probe.Code, "Route not found", nil)
		default:
			for k, v := range probe.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(probe.Code)
			_, _ = w.Write(probe.Body.Bytes())
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

// call is one request reaching an endpoint, with the code style and clock
// reading fixed for the whole response.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	style CodeStyle
	now   time.Time
}

func (s *Server) handle(pattern string, h func(*call)) {
	method, path, _ := strings.Cut(pattern, " ")
	s.mux.HandleFunc(method+" "+BasePath+path, func(w http.ResponseWriter, r *http.Request) {
		h(&call{w: w, r: r, style: s.nextStyle(), now: s.now()})
	})
}

func (s *Server) nextStyle() CodeStyle {
	if s.opts.CodeStyle != Alternate {
		return s.opts.CodeStyle
	}
	if s.flips.Add(1)%2 == 1 {
		return Ints
	}
	return Names
}

// now is the clock at whole seconds in UTC, the precision of the wire.
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

func (c *call) json(status int, v any) { writeJSON(c.w, status, v) }

// fail writes err when it is an *apiError and a 500 otherwise.
func (c *call) fail(err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
	}
	writeError(c.w, ae.status, ae.msg, ae.fields)
}

// apiError is an error answer; fields is only set for 422.
type apiError struct {
	status int
	msg    string
	fields map[string][]string
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func errNotFound(what string) error {
	return &apiError{status: http.StatusNotFound, msg: what + " not found"}
}

func errClosed() error {
	return &apiError{status: http.StatusConflict, msg: "Ticket cannot be modified in current status"}
}

func errBadRequest(msg string) error { return &apiError{status: http.StatusBadRequest, msg: msg} }

func errInvalid(fields map[string][]string) error {
	return &apiError{status: http.StatusUnprocessableEntity, msg: "The given data was invalid", fields: fields}
}

// errorType is the "error" member of the envelope, per the reference table.
func errorType(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 409:
		return "Conflict"
	case 413:
		return "Payload Too Large"
	case 422:
		return "Validation Error"
	case 429:
		return "Too Many Requests"
	}
	if status >= 500 {
		return "Server Error"
	}
	return http.StatusText(status)
}

type errorJSON struct {
	Success    bool                `json:"success"`
	Error      string              `json:"error"`
	Message    string              `json:"message"`
	Errors     map[string][]string `json:"errors,omitempty"`
	StatusCode int                 `json:"status_code"`
}

func writeError(w http.ResponseWriter, status int, msg string, fields map[string][]string) {
	writeJSON(w, status, errorJSON{Error: errorType(status), Message: msg, Errors: fields, StatusCode: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"success":false,"error":"Server Error","message":"encode","status_code":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

type searchableContact struct {
	ct          *Contact
	name, email string // lower case
}
