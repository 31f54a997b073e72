package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	secretKey     = "bench-secret-key"
	signingSecret = "bench-signing-secret"
	channel       = "C0TICKETS"
	agentUser     = "USARAH" // Slack user whose email is team member Sarah Johnson's
)

// envConfig chooses how the flow is set up.
type envConfig struct {
	// pacing is slack.PosterConfig.PerChannelInterval: 0 is the daemon's
	// (post at once, wait only when Slack answers 429), a positive
	// interval adds the fixed pacing of old (1s: a burst of 3, then one
	// post a second per channel).
	pacing time.Duration
	// seed is called with no latency before the watch's baseline poll.
	seed func(f *taskipfake.Server)
	// mail turns on outbound mail: replies are queued in the outbox and
	// sent to a go-smtp server on loopback.
	mail bool
}

// env is the commands flow wired as the daemon wires it (daemon.go
// buildWatch/buildCommands/routes): a Poster and a Responder as the Slack
// side, the watch as Events and running, a real bbolt state file (fsync on),
// the real HTTP handler mounted under /slack/.
type env struct {
	fake      *taskipfake.Server
	client    *taskip.Client // the watch's and the commands' TaskIP client
	stopwatch *stopwatch
	slack     *slackfake.Server
	store     *state.Store
	watch     *bridge.Watch
	cmds      *bridge.Commands
	inbound   *httptest.Server
	responses *responses
	logs      *countingHandler
	smtp      *mailtest.SMTPServer
	outbox    *bridge.Outbox
	warm      warmup
	cancel    context.CancelFunc
	done      sync.WaitGroup
}

func newEnv(t *testing.T, c envConfig) *env {
	t.Helper()
	fake := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	fake.SeedExamples()
	if c.seed != nil {
		c.seed(fake)
	}
	sw := &stopwatch{next: fake.Handler()}
	tsrv := httptest.NewServer(sw)
	t.Cleanup(tsrv.Close)
	client, err := taskip.New(taskip.Config{BaseURL: tsrv.URL + taskipfake.BasePath, SecretKey: secretKey})
	if err != nil {
		t.Fatal(err)
	}
	sf := slackfake.New(t)
	sf.AddUser(slackfake.User{ID: agentUser, Name: "sarah", RealName: "Sarah Johnson", Email: memberEmail(t, fake, "Sarah Johnson")})
	logs := &countingHandler{}
	log := slog.New(logs)
	poster, err := slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: sf.URL(), PerChannelInterval: c.pacing, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(state.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	watch, err := bridge.NewWatch(bridge.WatchConfig{Tickets: client, Chat: poster, Store: st, Channel: channel,
		Schedule: "@every 1h", Logger: log,
		TicketURL: func(id int64, _ string) string {
			return fmt.Sprintf("https://taskip.example.com/support-tickets/%d", id)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Poll(context.Background()); err != nil { // the baseline
		t.Fatal(err)
	}
	resp := newResponses(t)
	side := struct {
		*slack.Poster
		slack.Responder
	}{poster, slack.Responder{Logger: log}}
	var mta *mailtest.SMTPServer
	var outbox *bridge.Outbox
	if c.mail {
		mta = mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		sender := smtp.NewSender(smtp.Config{Addr: mta.Addr(), TLS: mail.TLSNone, LocalName: "bench.example", Logger: log})
		t.Cleanup(func() { _ = sender.Close() })
		outbox, err = bridge.NewOutbox(bridge.OutboxConfig{Mailer: sender, Store: st, Threads: poster, Files: poster, Logger: log,
			From: mime.Address{Name: "Acme Support", Email: "support@example.com"}, Address: "support@example.com",
			AcknowledgeNew: true, SendAgentReplies: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	cmds, err := bridge.NewCommands(bridge.CommandsConfig{Tickets: client, Slack: side, Store: st, Events: watch,
		Outbox: outbox, Logger: log, ReplyPrefix: "reply:", BotUserID: "UBOT"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /slack/", http.StripPrefix("/slack", slack.NewHTTPHandler(slack.InboundConfig{
		Verifier: slack.Verifier{Secret: signingSecret}, Handler: cmds, Logger: log})))
	in := httptest.NewUnstartedServer(mux)
	in.Config.ReadHeaderTimeout = 10 * time.Second
	in.Start()
	t.Cleanup(in.Close)
	e := &env{fake: fake, client: client, stopwatch: sw, slack: sf, store: st, watch: watch, cmds: cmds, inbound: in, responses: resp, logs: logs,
		smtp: mta, outbox: outbox}
	mux.Handle("GET /warm", &e.warm)
	return e
}

// start runs the commands' workers and the watch, as the daemon does.
func (e *env) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done.Add(2)
	go func() { defer e.done.Done(); _ = e.cmds.Run(ctx) }()
	go func() { defer e.done.Done(); _ = e.watch.Run(ctx) }()
	if e.outbox != nil {
		e.done.Add(1)
		go func() { defer e.done.Done(); _ = e.outbox.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); e.done.Wait() })
}

func memberEmail(t *testing.T, f *taskipfake.Server, name string) string {
	t.Helper()
	for _, m := range f.TeamMembers() {
		if m.Name == name {
			return m.Email
		}
	}
	t.Fatalf("no team member %q in the fake", name)
	return ""
}

// threadTS is the Slack thread of ticket id, as the watch stored it.
func (e *env) threadTS(t *testing.T, id int) string {
	t.Helper()
	var th state.Thread
	var ok bool
	err := e.store.View(func(tx *state.Tx) (err error) { th, ok, err = tx.Thread(int64(id)); return err })
	if err != nil || !ok {
		t.Fatalf("ticket %d has no thread (ok=%v, err=%v)", id, ok, err)
	}
	return th.TS
}

// signed builds a request signed as Slack signs it.
func (e *env) signed(path, contentType string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, e.inbound.URL+"/slack/"+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(signingSecret, ts, body))
	return req
}

// stopwatch sits in front of taskipfake and records every request that is
// not a GET: when it arrived (before the fake's own handling), its body,
// and the status the fake answered.
type stopwatch struct {
	next http.Handler
	mu   sync.Mutex
	seen []arrival
}

type arrival struct {
	at, answered time.Time
	method, path string
	body         string
	status       int
}

func (s *stopwatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if r.Method == http.MethodGet {
		s.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.next.ServeHTTP(rec, r)
	s.mu.Lock()
	s.seen = append(s.seen, arrival{at: at, answered: time.Now(), method: r.Method,
		path: strings.TrimPrefix(r.URL.Path, taskipfake.BasePath), body: string(body), status: rec.status})
	s.mu.Unlock()
}

func (s *stopwatch) writes() []arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]arrival(nil), s.seen...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// responses is the response_url server: it records each POST by path.
type responses struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]response
}

type response struct {
	at   time.Time
	text string
}

func newResponses(t *testing.T) *responses {
	r := &responses{got: map[string][]response{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		var body struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(req.Body).Decode(&body)
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], response{at: at, text: body.Text})
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responses) snapshot() map[string][]response {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]response, len(r.got))
	for k, v := range r.got {
		out[k] = append([]response(nil), v...)
	}
	return out
}

// warmup answers GET /warm only once n requests are waiting, so n
// concurrent warm-up requests open n connections that the client keeps.
type warmup struct {
	mu      sync.Mutex
	n       int
	waiting int
	release chan struct{}
}

func (w *warmup) expect(n int) {
	w.mu.Lock()
	w.n, w.waiting, w.release = n, 0, make(chan struct{})
	w.mu.Unlock()
}

func (w *warmup) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.waiting++
	release := w.release
	if w.waiting == w.n {
		close(release)
	}
	w.mu.Unlock()
	select {
	case <-release:
	case <-time.After(10 * time.Second):
	}
	rw.WriteHeader(http.StatusNoContent)
}

// countingHandler is an slog handler that counts Warn and Error records
// and keeps one example per message, so a run can say whether anything
// went wrong without printing a log.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts, h.first = map[string]int{}, map[string]string{}
	}
	key := r.Level.String() + " " + r.Message
	h.counts[key]++
	if _, ok := h.first[key]; !ok {
		h.first[key] = b.String()
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// report prints the warnings seen (attributes of the first of each kind).
func (h *countingHandler) report(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.counts) == 0 {
		fmt.Println("\nLog: no warnings or errors.")
		return
	}
	fmt.Println("\nLog warnings/errors (count, first example's attributes):")
	for k, n := range h.counts {
		fmt.Printf("- %d× `%s`%s\n", n, k, cut(h.first[k], 300))
	}
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
