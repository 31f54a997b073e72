package slack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	url     string
	addr    string // host:port, for raw requests
	rec     *recorder
	log     *logtest.Buffer
	refused refusals
	handler *inbound
}

// refusals records InboundConfig.Refused's calls.
type refusals struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusals) add(reason string, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

func newInbound(t *testing.T, mod ...func(*InboundConfig)) *inboundServer {
	t.Helper()
	s := &inboundServer{rec: &recorder{}, log: &logtest.Buffer{}}
	cfg := InboundConfig{
		Verifier: Verifier{Secret: testSecret, Now: func() time.Time { return testNow }, MaxBody: 64 << 10},
		Handler:  s.rec,
		Logger:   slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Refused:  s.refused.add,
	}
	for _, m := range mod {
		m(&cfg)
	}
	s.handler = NewHTTPHandler(cfg).(*inbound)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/slack"
	s.addr = srv.Listener.Addr().String()
	return s
}

// raw sends a request head (lines without the final CRLF CRLF) and the
// first bytes of its body over a plain TCP connection, the way an
// attacker would, and returns the connection.
func (s *inboundServer) raw(t *testing.T, head []string, body string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = io.WriteString(c, strings.Join(head, "\r\n")+"\r\n\r\n"+body)
	require.NoError(t, err)
	return c
}

// rawAnswer reads the answer to a raw request, waiting up to d, and
// reports whether the server then closed the connection within d.
func rawAnswer(t *testing.T, c net.Conn, d time.Duration) (resp *http.Response, body string, closed bool) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer within %v", d)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	_, err = br.ReadByte()
	var ne net.Error
	closed = err != nil && !(errors.As(err, &ne) && ne.Timeout())
	return resp, string(b), closed
}

// slackHead is the head of a POST to path declaring length bytes of body,
// with the given Slack headers ("" leaves one out).
func slackHead(path string, length int, sig, ts string) []string {
	head := []string{"POST /slack" + path + " HTTP/1.1", "Host: slack.test",
		"Content-Type: application/x-www-form-urlencoded", "Content-Length: " + strconv.Itoa(length)}
	if sig != "" {
		head = append(head, "X-Slack-Signature: "+sig)
	}
	if ts != "" {
		head = append(head, "X-Slack-Request-Timestamp: "+ts)
	}
	return head
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
