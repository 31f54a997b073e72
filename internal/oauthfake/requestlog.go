package oauthfake

import (
	"net/http"
	"slices"
	"time"
)

// Request is one request as the fake saw it. It never holds a secret, a
// code or a token in clear: tokens appear as TokenID.
type Request struct {
	At     time.Time // the fake's clock on arrival
	Method string
	Path   string
	// GrantType is grant_type at the token endpoint.
	GrantType string
	// ClientID is who the request said it was (for the JWT bearer grant:
	// the assertion's iss), whether or not that held up.
	ClientID string
	// ClientAuth is how the client authenticated: AuthSecretBasic,
	// AuthSecretPost, AuthPrivateKeyJWT or AuthNone.
	ClientAuth string
	Scope      string
	// Subject is the mailbox (or client) the answer concerned.
	Subject string
	// IntrospectMode is IntrospectPost, IntrospectGet or IntrospectAuth.
	IntrospectMode string
	// PKCE is PKCEChallenged at /authorize and, at the token endpoint,
	// the outcome of the code_verifier check (PKCEVerified, PKCEMismatch,
	// PKCEMissing, PKCEUnexpected); empty where PKCE played no part.
	PKCE   string
	Status int
	// Error is the OAuth error code answered, "" on success; Detail says
	// why in plain words (an inactive token's reason for introspection).
	Error  string
	Detail string
	// Fault is the injected fault applied, e.g. "status 503" or "delay 2s".
	Fault string
	// TokenID is the access token issued or introspected; RefreshTokenID
	// the refresh token issued.
	TokenID        string
	RefreshTokenID string
}

// Requests returns a copy of the log in arrival order.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = *r
	}
	return out
}

// RequestsTo is Requests for one path (PathToken, PathIntrospect, ...).
func (s *Server) RequestsTo(path string) []Request {
	return slices.DeleteFunc(s.Requests(), func(r Request) bool { return r.Path != path })
}

// ResetRequests empties the log. Requests in flight finish into the
// discarded log.
func (s *Server) ResetRequests() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = nil
}

// logStart appends r to the log on arrival, so that a request the client
// abandoned during an injected delay still counts as an attempt. The
// entry is completed as the request proceeds, never after the answer is
// written: a client holding its answer finds the log complete.
func (s *Server) logStart(r *http.Request) *Request {
	entry := &Request{At: s.opts.Now(), Method: r.Method, Path: r.URL.Path}
	s.logMu.Lock()
	s.log = append(s.log, entry)
	s.logMu.Unlock()
	return entry
}

// statusWriter records the status in the log before it goes out.
type statusWriter struct {
	http.ResponseWriter
	s     *Server
	entry *Request
	wrote bool
}

// note changes the log entry under the log's lock.
func (w *statusWriter) note(f func(*Request)) {
	w.s.logMu.Lock()
	defer w.s.logMu.Unlock()
	f(w.entry)
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.note(func(r *Request) { r.Status = code })
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
