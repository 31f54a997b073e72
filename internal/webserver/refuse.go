package webserver

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Refuse answers with status and closes the connection without reading
// the request body first. Left to itself, net/http reads up to 256 KiB of
// an unread body after the handler, for as long as the read timeout
// allows, or half-closes and lingers half a second when more is declared;
// either way the connection counts as busy meanwhile, so an attacker
// repeating refused requests could keep every slot under the connection
// cap busy. Headers already set on w (Retry-After, Allow) are sent with
// the answer.
//
// After the answer the connection is half-closed and lingers like
// net/http's, for at most half a second, so that a client still writing
// its body reads the answer rather than a reset; at most 64 KiB of that
// body is read (and dropped) meanwhile. A lingering connection is the first
// one closed when room is needed under the cap.
func Refuse(w http.ResponseWriter, status int) {
	text := http.StatusText(status) + "\n"
	h := w.Header().Clone()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Connection", "close")
	nc, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not an HTTP/1 server connection (a recorder, HTTP/2): the
		// Connection header is all there is.
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, text)
		return
	}
	defer nc.Close()
	// The answer fits the socket buffer; the deadline is for a peer that
	// has stopped reading and filled it with earlier answers.
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	h.Set("Content-Length", strconv.Itoa(len(text)))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n" + text)
	if buf.Flush() != nil {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		return
	}
	deadline := time.Now().Add(lingerTime)
	_ = nc.SetReadDeadline(deadline)
	// Reading notices a client that has read the answer and closed; one
	// that keeps sending is read no further, and its writes stall on full
	// buffers (rather than fail on a reset) until the deadline, or until
	// the connection is closed to make room or on shutdown.
	if n, err := io.Copy(io.Discard, io.LimitReader(nc, lingerBytes)); err == nil && n == lingerBytes {
		var closed <-chan struct{} // nil, never ready, on another server
		if c, ok := nc.(*conn); ok {
			closed = c.closed()
		}
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-closed:
		case <-t.C:
		}
	}
}

// How long a refused connection lingers (net/http's half second, a round
// trip around the planet), and how much of what the client still sends is
// read meanwhile.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 64 << 10
)

// NoBody refuses, with 413 and without reading it, a request that carries
// a body, before h sees it; for routes that take none (health, metrics,
// the catch-all). A GET with a body is no client's mistake.
func NoBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			Refuse(w, http.StatusRequestEntityTooLarge)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NotFound refuses every request with 404 without reading its body: the
// catch-all of a public server.
func NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		Refuse(w, http.StatusNotFound)
	})
}
