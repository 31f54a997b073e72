package webserver

import (
	"bytes"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogLimiter writes at most one line per key and interval, so that what
// an attacker can repeat at will (refused requests, evicted connections)
// cannot flood the log. A line that is written says how many were held back
// since the previous one of its key; the count of the last quiet stretch is
// reported with the next line. The zero value needs Logger set.
type LogLimiter struct {
	Logger *slog.Logger
	Every  time.Duration    // 0: a minute
	Now    func() time.Time // nil: time.Now

	mu   sync.Mutex
	keys map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// Warn logs msg at Warn with args and "suppressed", unless a line for key
// was written less than Every ago; then it only counts. It reports whether
// the line was written.
func (l *LogLimiter) Warn(key, msg string, args ...any) bool {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	every := l.Every
	if every <= 0 {
		every = time.Minute
	}
	t := now()
	l.mu.Lock()
	if l.keys == nil {
		l.keys = map[string]*limitState{}
	}
	st := l.keys[key]
	if st == nil {
		st = &limitState{}
		l.keys[key] = st
	} else if t.Sub(st.last) < every {
		st.suppressed++
		l.mu.Unlock()
		return false
	}
	suppressed := st.suppressed
	st.last, st.suppressed = t, 0
	l.mu.Unlock()
	l.Logger.Warn(msg, append(args, "suppressed", suppressed)...)
	return true
}

// errorLog is http.Server.ErrorLog: net/http's own lines (accept errors
// when file descriptors run out, panics in handlers) go to logger, limited
// like the refusals.
func errorLog(logger *slog.Logger) *log.Logger {
	if logger == nil {
		return log.New(io.Discard, "", 0)
	}
	return log.New(&limitedWriter{l: &LogLimiter{Logger: logger}}, "", 0)
}

type limitedWriter struct{ l *LogLimiter }

func (w *limitedWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	// Keyed by the kind of line ("http: Accept error", "http: panic
	// serving"), so a flood of one kind does not hide another.
	key := strings.Join(first(strings.Fields(line), 3), " ")
	w.l.Warn(key, "http server error", "err", line)
	return len(p), nil
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
