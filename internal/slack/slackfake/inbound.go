package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultAppToken is the app-level token an Inbound accepts.
const DefaultAppToken = "xapp-1-test"

// Envelope is one Socket Mode request as the fake sends it.
type Envelope struct {
	Type         string // "events_api", "slash_commands", "interactive"
	Payload      any    // marshalled as the envelope's payload
	RetryAttempt int
	RetryReason  string
}

// Ack is one acknowledgement frame the client sent back.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Ephemeral is one chat.postEphemeral the fake accepted.
type Ephemeral struct {
	Channel, User, Text string
	Blocks              json.RawMessage
}

// Response is one POST to a response URL made by ResponseURL.
type Response struct {
	Name string
	Body json.RawMessage
}

// Inbound fakes what Slack offers the inbound side: apps.connections.open
// and a Socket Mode WebSocket on /link, chat.postEphemeral, and response
// URLs. Every other Web API call is forwarded unchanged to the Server it
// was built with, so one URL serves a whole Slack client. It lives apart
// from Server so that Server's behaviour stays exactly as it was.
type Inbound struct {
	srv   *httptest.Server
	web   *Server
	proxy http.Handler

	// PingInterval spaces the WebSocket pings; slack-go reconnects when
	// none arrives for 30 s. Set it before the client connects.
	PingInterval time.Duration

	mu         sync.Mutex
	appToken   string
	conn       *websocket.Conn          // the current connection
	conns      map[*websocket.Conn]bool // all open ones, closed on cleanup
	closed     bool
	connGen    int
	opens      int
	seq        int
	acks       []Ack
	changed    chan struct{} // closed and replaced whenever conn or acks change
	ephemerals []Ephemeral
	responses  []Response
	failResp   int
	writeMu    sync.Mutex // gorilla allows one concurrent writer
}

// NewInbound starts the fake on a loopback port, in front of web (nil: no
// other Web API methods); it is closed when the test ends.
func NewInbound(t testing.TB, web *Server) *Inbound {
	f := StartInbound(web)
	t.Cleanup(f.Close)
	return f
}

// StartInbound is NewInbound outside a test (the demo); the caller must
// Close it.
func StartInbound(web *Server) *Inbound {
	f := &Inbound{web: web, appToken: DefaultAppToken, conns: map[*websocket.Conn]bool{}, changed: make(chan struct{}), PingInterval: 5 * time.Second}
	if web != nil {
		target, _ := url.Parse(web.srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		// A client that gives up on a call (a daemon shutting down) is no
		// news; the default would print it on stderr.
		proxy.ErrorLog = log.New(io.Discard, "", 0)
		f.proxy = proxy
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/apps.connections.open", f.open)
	mux.HandleFunc("POST /api/chat.postEphemeral", f.postEphemeral)
	mux.HandleFunc("GET /link", f.link)
	mux.HandleFunc("POST /response/{name}", f.respond)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if f.proxy == nil {
			writeJSON(w, fail("unknown_method"))
			return
		}
		f.proxy.ServeHTTP(w, r)
	})
	f.srv = httptest.NewServer(mux)
	return f
}

// Close drops every Socket Mode connection and stops the server; closing
// twice is harmless.
func (f *Inbound) Close() {
	// The server's Close waits for handlers, and /link runs until its
	// connection breaks.
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.srv.Close()
}

// URL is the base for slack-go's OptionAPIURL; it ends in "/api/".
func (f *Inbound) URL() string { return f.srv.URL + "/api/" }

// SetAppToken changes the app-level token apps.connections.open accepts.
func (f *Inbound) SetAppToken(token string) { f.locked(func() { f.appToken = token }) }

// Opens counts apps.connections.open calls, refused ones included.
func (f *Inbound) Opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

// WaitConnected waits until a client holds a WebSocket and got its hello.
func (f *Inbound) WaitConnected(ctx context.Context) error {
	return f.wait(ctx, func() bool { return f.conn != nil })
}

// Send delivers env to the connected client and returns its envelope_id.
func (f *Inbound) Send(env Envelope) (string, error) {
	f.mu.Lock()
	conn := f.conn
	f.seq++
	id := "env-" + strconv.Itoa(f.seq)
	f.mu.Unlock()
	if conn == nil {
		return "", errors.New("slackfake: no socket mode client connected")
	}
	payload, err := json.Marshal(env.Payload)
	if err != nil {
		return "", err
	}
	msg := map[string]any{"envelope_id": id, "type": env.Type, "payload": json.RawMessage(payload),
		"accepts_response_payload": env.Type != "events_api",
		"retry_attempt":            env.RetryAttempt, "retry_reason": env.RetryReason}
	return id, f.write(conn, msg)
}

// WaitAck waits for the client's acknowledgement of envelopeID.
func (f *Inbound) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var got Ack
	err := f.wait(ctx, func() bool {
		i := slices.IndexFunc(f.acks, func(a Ack) bool { return a.EnvelopeID == envelopeID })
		if i >= 0 {
			got = f.acks[i]
		}
		return i >= 0
	})
	return got, err
}

// Acks returns every acknowledgement so far, in arrival order.
func (f *Inbound) Acks() []Ack {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks)
}

// Disconnect drops the WebSocket without a goodbye, as a network failure
// would; slack-go then reconnects.
func (f *Inbound) Disconnect() {
	f.mu.Lock()
	conn := f.conn
	f.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// Ephemerals returns the accepted chat.postEphemeral calls.
func (f *Inbound) Ephemerals() []Ephemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ephemerals)
}

// ResponseURL returns a response_url (plain http on loopback) whose posts
// are recorded under name.
func (f *Inbound) ResponseURL(name string) string {
	return f.srv.URL + "/response/" + url.PathEscape(name)
}

// Responses returns the posts to response URLs that were answered 200.
func (f *Inbound) Responses() []Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.responses)
}

// FailResponsesNext answers the next n response URL posts with HTTP 500.
func (f *Inbound) FailResponsesNext(n int) { f.locked(func() { f.failResp = n }) }

func (f *Inbound) open(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.opens++
	token := f.appToken
	f.mu.Unlock()
	auth, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if auth == "" || auth != token {
		writeJSON(w, fail("invalid_auth"))
		return
	}
	ws := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/link"
	writeJSON(w, ok(map[string]any{"url": ws}))
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// link serves one Socket Mode connection until it breaks; a new one
// replaces the old, as with Slack's refresh.
func (f *Inbound) link(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	if err := f.write(conn, map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0000001"}}); err != nil {
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.conn = conn
	f.conns[conn] = true
	f.connGen++
	gen := f.connGen
	f.notify()
	f.mu.Unlock()
	done := make(chan struct{})
	defer close(done)
	go f.ping(conn, done)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		var a Ack
		if json.Unmarshal(data, &a) == nil && a.EnvelopeID != "" {
			f.locked(func() { f.acks = append(f.acks, a); f.notify() })
		}
	}
	f.locked(func() {
		delete(f.conns, conn)
		if f.connGen == gen {
			f.conn = nil
			f.notify()
		}
	})
}

func (f *Inbound) ping(conn *websocket.Conn, done chan struct{}) {
	t := time.NewTicker(f.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			// WriteControl may run alongside other writes.
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) != nil {
				return
			}
		}
	}
}

func (f *Inbound) write(conn *websocket.Conn, v any) error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return conn.WriteJSON(v)
}

func (f *Inbound) postEphemeral(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(r)
	if err != nil {
		writeJSON(w, fail("invalid_form_data"))
		return
	}
	if f.web == nil {
		writeJSON(w, fail("unknown_method"))
		return
	}
	f.web.mu.Lock()
	token, chanErr := f.web.token, f.web.channelErr(req.get("channel"))
	f.web.mu.Unlock()
	switch {
	case req.credential == "":
		writeJSON(w, fail("not_authed"))
	case req.credential != token:
		writeJSON(w, fail("invalid_auth"))
	case chanErr != "":
		writeJSON(w, fail(chanErr))
	case req.get("user") == "":
		writeJSON(w, fail("user_not_found"))
	default:
		if resp := checkContent(req.get("text"), req); resp != nil {
			writeJSON(w, resp)
			return
		}
		e := Ephemeral{Channel: req.get("channel"), User: req.get("user"), Text: req.get("text"), Blocks: req.raw("blocks")}
		f.locked(func() { f.ephemerals = append(f.ephemerals, e) })
		writeJSON(w, ok(map[string]any{"message_ts": strconv.FormatInt(time.Now().UnixMicro(), 10)}))
	}
}

func (f *Inbound) respond(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failResp > 0 {
		f.failResp--
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	f.responses = append(f.responses, Response{Name: r.PathValue("name"), Body: body})
	_, _ = w.Write([]byte("ok"))
}

func (f *Inbound) locked(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// notify wakes every wait; f.mu held.
func (f *Inbound) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// wait blocks until cond, checked under f.mu, holds or ctx ends.
func (f *Inbound) wait(ctx context.Context, cond func() bool) error {
	for {
		f.mu.Lock()
		if cond() {
			f.mu.Unlock()
			return nil
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func writeJSON(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}
