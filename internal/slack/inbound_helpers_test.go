package slack

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// recorder is a Handler that records every call. block, when set, is
// waited on (up to 5 s) inside each call to play a slow handler.
type recorder struct {
	mu       sync.Mutex
	reply    Reply
	block    chan struct{}
	commands []Command
	messages []MessageEvent
	actions  []BlockAction
}

var _ Handler = (*recorder)(nil)

func (r *recorder) slow() {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block == nil {
		return
	}
	select {
	case <-block:
	case <-time.After(5 * time.Second):
	}
}

func (r *recorder) HandleCommand(_ context.Context, c Command) Reply {
	r.slow()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, c)
	return r.reply
}

func (r *recorder) HandleMessage(_ context.Context, e MessageEvent) {
	r.slow()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, e)
}

func (r *recorder) HandleAction(_ context.Context, a BlockAction) {
	r.slow()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, a)
}

func (r *recorder) calls() (c []Command, m []MessageEvent, a []BlockAction) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(c, r.commands...), append(m, r.messages...), append(a, r.actions...)
}

func (r *recorder) total() int {
	c, m, a := r.calls()
	return len(c) + len(m) + len(a)
}

// testNow is the clock of every test Verifier.
var testNow = time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)

type inboundServer struct {
	url string
	rec *recorder
	log *logtest.Buffer
}

func newInbound(t *testing.T, mod ...func(*InboundConfig)) *inboundServer {
	t.Helper()
	s := &inboundServer{rec: &recorder{}, log: &logtest.Buffer{}}
	cfg := InboundConfig{
		Verifier: Verifier{Secret: testSecret, Now: func() time.Time { return testNow }, MaxBody: 64 << 10},
		Handler:  s.rec,
		Logger:   slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&cfg)
	}
	srv := httptest.NewServer(NewHTTPHandler(cfg))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/slack"
	return s
}

// signed describes one request to send; zero fields are filled with a
// correct signature made now.
type signed struct {
	path, contentType string
	body              []byte
	secret            string    // "" = testSecret
	at                time.Time // zero = testNow
	headers           map[string]string
	omit              []string // headers to drop after signing
	sendBody          []byte   // sent instead of body (signature stays body's)
	chunked           bool     // no Content-Length
}

type answer struct {
	status int
	body   string
	header http.Header
}

func (s *inboundServer) do(t *testing.T, r signed) answer {
	t.Helper()
	secret, at := r.secret, r.at
	if secret == "" {
		secret = testSecret
	}
	if at.IsZero() {
		at = testNow
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	send := r.body
	if r.sendBody != nil {
		send = r.sendBody
	}
	var rd io.Reader = bytes.NewReader(send)
	if r.chunked {
		rd = io.MultiReader(rd) // hides the length from net/http
	}
	req, err := http.NewRequest(http.MethodPost, s.url+r.path, rd)
	require.NoError(t, err)
	ct := r.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", SignatureHeader(secret, ts, r.body))
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	for _, k := range r.omit {
		req.Header.Del(k)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}
