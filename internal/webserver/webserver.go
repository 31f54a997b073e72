// Package webserver is the HTTP server ticketsync exposes: net/http with
// timeouts sized for Slack's small, fast requests and a cap on open
// connections that makes room for a new connection by closing the one that
// has been idle longest, so that a flood of idle or slow connections cannot
// use up the process's file descriptors or lock out a real request.
package webserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the server; a zero field takes its default.
type Timeouts struct {
	// ReadHeader bounds the request line and headers, from the first
	// byte read (or the end of the previous request).
	ReadHeader time.Duration
	// Read bounds the whole request, body included.
	Read time.Duration
	// Write bounds body read, handler and response, from the end of the
	// headers.
	Write time.Duration
	// Idle bounds the wait for the next request on a keep-alive
	// connection.
	Idle time.Duration
}

// Defaults. Slack sends a request of a few kilobytes in one go and wants
// its answer within 3 s; a reverse proxy in front forwards it the same way.
// Anything slower than these is not Slack.
const (
	// A header arrives in one segment; 2 s leaves room for a congested
	// path and is all a silent or slowloris connection gets.
	DefaultReadHeaderTimeout = 2 * time.Second
	// The largest body accepted (1 MiB) at 200 KiB/s; Slack's few
	// kilobytes take milliseconds. It is also how long a slow body can
	// hold one of the few slots for unverified bodies.
	DefaultReadTimeout = 5 * time.Second
	// Covers the body (within Read), the handler's 3 s acknowledgement
	// deadline and writing a small answer, with room to spare. A Prometheus
	// scrape of /metrics also fits easily.
	DefaultWriteTimeout = 10 * time.Second
	// Longer than the 60 s after which nginx (upstream keepalive) and
	// cloud load balancers drop an idle upstream connection, so the proxy
	// closes first and never sends a request on a connection we are
	// closing. Idle connections cost nothing at the cap: they are the
	// first to be closed when room is needed.
	DefaultIdleTimeout = 75 * time.Second
	// Slack's headers are about 1 KiB; proxies add a few forwarding and
	// tracing headers. net/http allows 4 KiB on top.
	DefaultMaxHeaderBytes = 16 << 10
)

// Why a connection was closed by the server before it could answer it;
// passed to Config.Rejected.
const (
	// Closed to make room under MaxConnections.
	ReasonEvicted = "connection_evicted"
	// Closed at once: the cap was reached and no open connection could
	// be closed (each had a request in flight or bytes waiting).
	ReasonRefused = "connection_refused"
	// Connected, then sent no complete request header in time.
	ReasonHeaderTimeout = "header_timeout"
)

// Config configures New.
type Config struct {
	Handler  http.Handler
	Timeouts Timeouts
	// MaxHeaderBytes caps the request headers; 0: DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConnections caps the connections open at once; 0: no cap. At
	// the cap a new connection is taken and the one idle longest is
	// closed (see Server).
	MaxConnections int
	// Logger receives net/http's own error lines, at most one a minute of
	// each kind; nil discards them.
	Logger *slog.Logger
	// Rejected, when set, is called once per connection the server
	// closes for one of the Reason* causes. It runs on the accepting or
	// serving goroutine and must not block.
	Rejected func(reason string)
}

// Server is an http.Server behind a connection cap. Connections are
// tracked through http.Server.ConnState and a wrapper that notes the first
// read and the first byte of each request. When a connection arrives at
// the cap, one open connection is closed to make room, in this order:
//
//  1. one that has been answered and is closing (net/http's or Refuse's
//     half-close, lingering so the client reads the answer);
//  2. the one idle longest: waiting for its first byte since accepted, or
//     kept alive and silent since its last answer;
//  3. the one whose request header has been arriving longest (a
//     slowloris: Slack's headers arrive at once);
//  4. the one accepted longest ago whose serving goroutine has not read
//     yet and whose client has sent nothing either;
//
// never one with a request in flight (headers read, handler running), nor
// one whose client has sent bytes its serving goroutine has not read yet:
// under a burst of connections those goroutines run late, and what looks
// idle from the tracker may be a request waiting in the socket, so before
// closing an idle-looking connection the tracker peeks at its socket. When
// no connection qualifies, the new one is closed instead. Eviction happens
// inside Accept and never waits.
type Server struct {
	srv   *http.Server
	conns *tracker
}

// New builds a Server; nothing listens until Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("webserver: no handler")
	}
	if cfg.MaxConnections < 0 {
		return nil, fmt.Errorf("webserver: max connections %d is negative", cfg.MaxConnections)
	}
	t := cfg.Timeouts
	t.ReadHeader = orDefault(t.ReadHeader, DefaultReadHeaderTimeout)
	t.Read = orDefault(t.Read, DefaultReadTimeout)
	t.Write = orDefault(t.Write, DefaultWriteTimeout)
	t.Idle = orDefault(t.Idle, DefaultIdleTimeout)
	maxHeader := cfg.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	rejected := cfg.Rejected
	if rejected == nil {
		rejected = func(string) {}
	}
	s := &Server{conns: newTracker(cfg.MaxConnections, rejected)}
	s.srv = &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    maxHeader,
		ConnState:         s.conns.connState,
		ErrorLog:          errorLog(cfg.Logger),
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Serve accepts connections on ln until Shutdown or Close, like
// http.Server.Serve, and returns http.ErrServerClosed after either. ln is
// closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(&listener{Listener: ln, t: s.conns})
}

// Shutdown stops accepting, closes idle connections and waits for those
// with a request in flight, like http.Server.Shutdown; connections
// lingering after a refusal are closed too.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.conns.closeLingering()
	if err != nil {
		return fmt.Errorf("webserver: shutdown: %w", err)
	}
	return nil
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.conns.closeLingering()
	return err
}

// Open is the number of connections open now (tests and the benchmark).
func (s *Server) Open() int { return s.conns.open() }
