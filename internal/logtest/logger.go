package logtest

import (
	"io"
	"log/slog"
	"testing"
)

// Logger logs everything, debug included, to t's log, where it is shown
// next to the failure it explains and kept apart from other tests' logs.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Writer writes to t's log.
func Writer(t testing.TB) io.Writer { return testWriter{t} }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
