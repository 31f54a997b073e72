// Package slackfake is an HTTP fake of the parts of the Slack Web API that
// ticketsync uses, for tests and the demo. slack-go's slacktest has no
// chat.update and cannot answer 429, which are exactly the paths the Poster
// has to get right.
//
// It checks the bot token, assigns increasing message timestamps, keeps
// messages and threads, validates Block Kit limits as Slack would
// (invalid_blocks, msg_too_long), can rate-limit a method per channel as
// Slack does (SetRateLimit) and logs every request, including the ones it
// failed on purpose. Stricter than Slack in one place: a reply to an
// unknown thread_ts is refused with thread_not_found, so a test cannot
// silently post to a thread that does not exist.
package slackfake

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of a new Server.
const (
	DefaultToken = "xoxb-test"
	BotUserID    = "UBOT0001"
	BotID        = "BBOT0001"
	TeamID       = "T0000001"
)

// Call is one request as the fake saw it, or the current state of one
// message (Messages, Thread, Message).
type Call struct {
	Method   string
	Channel  string
	TS       string // the message's ts (assigned on post, addressed on update)
	ThreadTS string
	Text     string
	Blocks   json.RawMessage // as sent; nil when the request had none
	Metadata json.RawMessage
	At       time.Time // arrival, before any injected latency
	// Error is the error the fake answered with: a Slack code, or
	// "http_429"/"http_500" for injected HTTP failures. "" means ok.
	Error string
}

// User is a workspace member returned by users.info.
type User struct {
	ID, Name, RealName, Email string
	IsBot                     bool
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	token    string
	channels map[string]bool // nil: every channel exists
	users    map[string]User
	calls    []Call
	msgs     []*Call // in post order
	seq      int64   // the last ts handed out, in microseconds
	gen      int     // bumped by Reset
	latency  time.Duration

	rateLimit  int
	retryAfter time.Duration
	limits     map[string]rateLimit  // by method (SetRateLimit)
	buckets    map[bucketKey]*bucket // by method and channel
	refused    int                   // 429s answered (RateLimited)
	fail       int
	failCode   string
	fail5xx    int
	echoAuth   int
	files      map[string][]byte // shared files by id (AddFile)

	members map[string]bool   // nil: the bot is in every channel (SetMemberOf)
	missing map[string]bool   // scopes the token lacks (SetMissingScopes)
	names   map[string]string // channel names (NameChannel)
}

// New starts a fake on a loopback port; it is closed when the test ends.
func New(t testing.TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start is New outside a test (the demo); the caller must Close it.
func Start() *Server {
	s := &Server{token: DefaultToken, users: map[string]User{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base for slack-go's OptionAPIURL; it ends in "/api/".
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// Close stops the server, also early in a test, e.g. to make the next
// call's dial fail. Closing twice is harmless.
func (s *Server) Close() { s.srv.Close() }

// SetToken changes the bot token the fake accepts.
func (s *Server) SetToken(token string) { s.locked(func() { s.token = token }) }

// SetChannels limits the existing channels; others answer channel_not_found.
func (s *Server) SetChannels(ids ...string) {
	s.locked(func() {
		s.channels = map[string]bool{}
		for _, id := range ids {
			s.channels[id] = true
		}
	})
}

// AddUser seeds users.info.
func (s *Server) AddUser(u User) { s.locked(func() { s.users[u.ID] = u }) }

// RateLimitNext answers the next n requests with HTTP 429 and Retry-After,
// rounded up to whole seconds as Slack sends it (slack-go parses integers).
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.locked(func() { s.rateLimit, s.retryAfter = n, retryAfter })
}

// SetRateLimit limits method per channel the way Slack limits
// chat.postMessage: a token bucket per channel (the "channel" argument; one
// bucket for calls without it) holding burst requests, refilled by one
// every every. A request finding no token is answered HTTP 429 with
// Retry-After: the time until the next token, in whole seconds rounded up,
// as Slack sends it, so a client that waits what it is told is never
// refused twice. A refused request takes no token. burst < 1 or every <= 0
// lifts the limit. Buckets start full; Reset refills them and keeps the
// limits.
func (s *Server) SetRateLimit(method string, burst int, every time.Duration) {
	s.locked(func() {
		for k := range s.buckets {
			if k.method == method {
				delete(s.buckets, k)
			}
		}
		if burst < 1 || every <= 0 {
			delete(s.limits, method)
			return
		}
		if s.limits == nil {
			s.limits = map[string]rateLimit{}
		}
		s.limits[method] = rateLimit{burst: float64(burst), every: every}
	})
}

// RateLimited is how many requests were answered 429 (SetRateLimit and
// RateLimitNext) since Start or Reset.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

type rateLimit struct {
	burst float64
	every time.Duration
}

type bucketKey struct{ method, channel string }

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// limited takes a token for method and channel at time at, or reports how
// long until one is there. Called with s.mu held.
func (s *Server) limited(method, channel string, at time.Time) (wait time.Duration, refused bool) {
	lim, ok := s.limits[method]
	if !ok {
		return 0, false
	}
	if s.buckets == nil {
		s.buckets = map[bucketKey]*bucket{}
	}
	k := bucketKey{method, channel}
	b, ok := s.buckets[k]
	if !ok {
		b = &bucket{tokens: lim.burst, at: at}
		s.buckets[k] = b
	}
	// Requests handled out of arrival order (latency) must not refill
	// the bucket backwards.
	if at.After(b.at) {
		b.tokens = min(lim.burst, b.tokens+float64(at.Sub(b.at))/float64(lim.every))
		b.at = at
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	return time.Duration((1 - b.tokens) * float64(lim.every)), true
}

// FailNext answers the next n requests with HTTP 200 {"ok":false,"error":code}.
func (s *Server) FailNext(n int, code string) { s.locked(func() { s.fail, s.failCode = n, code }) }

// Fail5xxNext answers the next n requests with HTTP 500 and an HTML body.
func (s *Server) Fail5xxNext(n int) { s.locked(func() { s.fail5xx = n }) }

// EchoAuthNext answers the next n requests with an invalid_auth error whose
// text repeats the credential received, like a careless proxy would; tests
// use it to prove that no token leaks into errors or logs.
func (s *Server) EchoAuthNext(n int) { s.locked(func() { s.echoAuth = n }) }

// SetLatency delays every answer by d. A client that times out meanwhile
// does not stop the request from taking effect, as with Slack; Call.At is
// still the arrival time.
func (s *Server) SetLatency(d time.Duration) { s.locked(func() { s.latency = d }) }

// Calls returns every request so far, failed ones included, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Messages returns the top-level messages of channel in post order, with
// updates applied.
func (s *Server) Messages(channel string) []Call {
	return s.filter(func(m *Call) bool { return m.Channel == channel && m.ThreadTS == "" })
}

// Thread returns the replies to channel/ts in post order (not the parent).
func (s *Server) Thread(channel, ts string) []Call {
	return s.filter(func(m *Call) bool { return m.Channel == channel && m.ThreadTS == ts })
}

// Message returns the current state of one message.
func (s *Server) Message(channel, ts string) (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.find(channel, ts); m != nil {
		return *m, true
	}
	return Call{}, false
}

// Reset forgets calls, messages, pending faults and the 429 count, and
// refills the rate limits' buckets; token, channels, users and the limits
// themselves stay.
func (s *Server) Reset() {
	s.locked(func() {
		s.calls, s.msgs = nil, nil
		s.gen++
		s.rateLimit, s.fail, s.fail5xx, s.echoAuth, s.latency = 0, 0, 0, 0, 0
		s.refused, s.buckets = 0, nil
	})
}

func (s *Server) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *Server) filter(keep func(*Call) bool) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, m := range s.msgs {
		if keep(m) {
			out = append(out, *m)
		}
	}
	return out
}

func (s *Server) find(channel, ts string) *Call {
	for _, m := range s.msgs {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

// nextTS returns Slack-shaped timestamps: like Slack's, the wall clock
// when the message was posted (history's oldest and latest compare with
// real times), and strictly increasing, at least 100µs apart.
func (s *Server) nextTS() string {
	micros := max(time.Now().UnixMicro(), s.seq+100)
	s.seq = micros
	return strconv.FormatInt(micros/1e6, 10) + "." + leftPad(micros%1e6)
}

func leftPad(n int64) string {
	v := strconv.FormatInt(n, 10)
	return strings.Repeat("0", 6-len(v)) + v
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.serveFile(w, r) {
		return
	}
	at := time.Now()
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	req, err := readRequest(r)
	call := Call{Method: method, At: at, Channel: req.get("channel"), TS: req.get("ts"),
		ThreadTS: req.get("thread_ts"), Text: req.get("text"), Blocks: req.raw("blocks"), Metadata: req.raw("metadata")}

	// Logged on arrival, so a request still in flight is already visible.
	s.mu.Lock()
	latency := s.latency
	idx, gen := len(s.calls), s.gen
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if latency > 0 {
		// Deliberately not cut short when the client gives up: like
		// Slack, the fake still carries out a request whose answer is lost.
		time.Sleep(latency)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(status int, body any) {
		if e, ok := body.(map[string]any)["error"].(string); ok {
			call.Error = e
		}
		if status != http.StatusOK {
			call.Error = "http_" + strconv.Itoa(status)
		}
		if gen == s.gen { // else Reset ran meanwhile and idx is stale
			s.calls[idx] = call
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	tooMany := func(wait time.Duration) {
		s.refused++
		secs := int64(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		answer(http.StatusTooManyRequests, fail("ratelimited"))
	}
	if s.rateLimit > 0 {
		s.rateLimit--
		tooMany(s.retryAfter)
		return
	}
	if wait, limited := s.limited(method, call.Channel, at); limited {
		tooMany(wait)
		return
	}
	switch {
	case s.fail5xx > 0:
		s.fail5xx--
		if gen == s.gen {
			s.calls[idx].Error = "http_500"
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<html><body>Internal Server Error</body></html>"))
		return
	case s.echoAuth > 0:
		s.echoAuth--
		answer(http.StatusOK, fail("invalid_auth: received "+req.credential))
		return
	case s.fail > 0:
		s.fail--
		answer(http.StatusOK, fail(s.failCode))
		return
	case err != nil:
		answer(http.StatusOK, fail("invalid_form_data"))
		return
	case req.credential == "":
		answer(http.StatusOK, fail("not_authed"))
		return
	case req.credential != s.token:
		answer(http.StatusOK, fail("invalid_auth"))
		return
	}
	h, ok := map[string]func(*request, *Call) map[string]any{
		"auth.test":             s.authTest,
		"chat.postMessage":      s.postMessage,
		"chat.update":           s.update,
		"users.info":            s.usersInfo,
		"conversations.replies": s.replies,
		"conversations.history": s.history,
		"conversations.info":    s.conversationInfo,
	}[method]
	if !ok {
		answer(http.StatusOK, fail("unknown_method"))
		return
	}
	answer(http.StatusOK, h(req, &call))
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }
