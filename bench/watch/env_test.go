package watch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// envConfig chooses how a watch is set up.
type envConfig struct {
	child  bool          // fakes in a child process
	noSync bool          // state.Config.NoSync
	pacing time.Duration // slack.PosterConfig.PerChannelInterval; -1 or 0: none of our own (the daemon: wait only when Slack answers 429), >0 a fixed pace
	// postsEvery, with pacing -1, paces only Post and PostInThread (not
	// Update) in the bench: a prototype of a Poster that leaves chat.update
	// out of the one-message-per-second channel budget.
	postsEvery time.Duration
	postsBurst int
	// schedule is the watch's poll schedule; the benchmarks call Poll
	// themselves and leave it at "@every 1h".
	schedule string
	// wrap, when set, sits between the watch and the TaskIP client.
	wrap func(bridge.WatchTickets) bridge.WatchTickets
}

// env is one watch whose baseline is already recorded.
type env struct {
	fakes  fakes
	store  *state.Store
	client *taskip.Client
	poster *slack.Poster
	watch  *bridge.Watch
	cfg    bridge.WatchConfig
}

func ticketURL(id int64, _ string) string {
	return fmt.Sprintf("https://taskip.example.com/support-tickets/%d", id)
}

func newEnv(tb testing.TB, c envConfig) *env {
	tb.Helper()
	n := ticketCount()
	tmpl := baselineTemplate(tb, n)
	var f fakes
	if c.child {
		f = newChild(tb, n)
	} else {
		f = newInProc(tb, n)
	}
	path := filepath.Join(tb.TempDir(), "state.db")
	if err := copyFile(tmpl, path); err != nil {
		tb.Fatal(err)
	}
	st, err := state.Open(state.Config{Path: path, NoSync: c.noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	client, err := taskip.New(taskip.Config{BaseURL: f.TaskIPURL(), SecretKey: secretKey})
	if err != nil {
		tb.Fatal(err)
	}
	poster, err := slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: f.SlackURL(), PerChannelInterval: c.pacing})
	if err != nil {
		tb.Fatal(err)
	}
	var tickets bridge.WatchTickets = client
	if c.wrap != nil {
		tickets = c.wrap(client)
	}
	if c.schedule == "" {
		c.schedule = "@every 1h"
	}
	var chat bridge.Chat = poster
	if c.postsEvery > 0 {
		chat = &postPacer{next: poster, every: c.postsEvery, burst: c.postsBurst}
	}
	e := &env{fakes: f, store: st, client: client, poster: poster}
	e.cfg = bridge.WatchConfig{Tickets: tickets, Chat: chat, Store: st, Channel: channel, Schedule: c.schedule, TicketURL: ticketURL}
	e.watch, err = bridge.NewWatch(e.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func (e *env) poll(tb testing.TB) {
	if err := e.watch.Poll(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// threadTS is the Slack thread of ticket id, "" when it has none.
func (e *env) threadTS(tb testing.TB, id int) string {
	var th state.Thread
	var ok bool
	err := e.store.View(func(tx *state.Tx) (err error) { th, ok, err = tx.Thread(int64(id)); return err })
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		return ""
	}
	return th.TS
}

var (
	templateMu   sync.Mutex
	templates    = map[int]string{}
	templateDirs []string
	// baselineNoSync is how long the template's baseline took (NoSync).
	baselineNoSync = map[int]time.Duration{}
)

// baselineTemplate records the watch's first-run baseline of n seeded
// tickets once per process and returns the state file; every benchmark
// round starts from a copy. The content does not depend on NoSync.
func baselineTemplate(tb testing.TB, n int) string {
	templateMu.Lock()
	defer templateMu.Unlock()
	if p, ok := templates[n]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "bench-watch-")
	if err != nil {
		tb.Fatal(err)
	}
	templateDirs = append(templateDirs, dir)
	path := filepath.Join(dir, "state.db")
	took, err := recordBaseline(path, n, true)
	if err != nil {
		tb.Fatal(err)
	}
	baselineNoSync[n] = took
	templates[n] = path
	return path
}

func removeTemplates() {
	for _, d := range templateDirs {
		_ = os.RemoveAll(d)
	}
}

// recordBaseline seeds a fake with n tickets and runs a new watch's first
// poll into the state file at path; it returns how long that poll took.
func recordBaseline(path string, n int, noSync bool) (time.Duration, error) {
	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(tk, n)
	srv := httptest.NewServer(tk.Handler())
	defer srv.Close()
	client, err := taskip.New(taskip.Config{BaseURL: srv.URL + taskipfake.BasePath, SecretKey: secretKey})
	if err != nil {
		return 0, err
	}
	st, err := state.Open(state.Config{Path: path, NoSync: noSync})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	w, err := bridge.NewWatch(bridge.WatchConfig{Tickets: client, Chat: noChat{}, Store: st, Channel: channel, TicketURL: ticketURL})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := w.Poll(context.Background()); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// postPacer is a token bucket over Post and PostInThread: burst posts may
// go at once, then one per every; Update passes unpaced. With burst 1 it
// spaces posts like the Poster does (from the end of the previous one).
// The watch writes from one goroutine, so order is kept.
type postPacer struct {
	next   bridge.Chat
	every  time.Duration
	burst  int
	mu     sync.Mutex
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func (p *postPacer) take(ctx context.Context) error {
	burst := float64(max(p.burst, 1))
	now := time.Now()
	if p.at.IsZero() {
		p.tokens = burst
	} else {
		p.tokens = min(burst, p.tokens+float64(now.Sub(p.at))/float64(p.every))
	}
	p.at = now
	if p.tokens < 1 {
		t := time.NewTimer(time.Duration((1 - p.tokens) * float64(p.every)))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.tokens, p.at = 1, time.Now()
	}
	p.tokens--
	return nil
}

// done restarts the refill at the end of a call, as the Poster counts its
// interval from the answer.
func (p *postPacer) done() {
	if p.tokens < 1 {
		p.at = time.Now()
	}
}

func (p *postPacer) Post(ctx context.Context, ch string, m slack.Message) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.take(ctx); err != nil {
		return "", err
	}
	defer p.done()
	return p.next.Post(ctx, ch, m)
}

func (p *postPacer) PostInThread(ctx context.Context, ch, ts string, m slack.Message) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.take(ctx); err != nil {
		return "", err
	}
	defer p.done()
	return p.next.PostInThread(ctx, ch, ts, m)
}

func (p *postPacer) Update(ctx context.Context, ch, ts string, m slack.Message) error {
	return p.next.Update(ctx, ch, ts, m)
}

// noChat fails every post: a baseline without backfill posts nothing.
type noChat struct{}

var _ bridge.Chat = noChat{}

var errNoChat = errors.New("bench: the baseline must not post")

func (noChat) Post(context.Context, string, slack.Message) (string, error) { return "", errNoChat }
func (noChat) PostInThread(context.Context, string, string, slack.Message) (string, error) {
	return "", errNoChat
}
func (noChat) Update(context.Context, string, string, slack.Message) error { return errNoChat }

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
