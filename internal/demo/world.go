package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/daemon"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The cast and the credentials of the fakes. They are demo values that
// protect nothing, which is why --keep-running prints them.
const (
	SupportAddress = "support@example.com"
	IMAPPassword   = "demo-imap-password"
	TaskIPKey      = "demo-secret-key"
	BotToken       = "xoxb-demo-bot-token"
	SigningSecret  = "demo-signing-secret"
	Channel        = "C0SUPPORT"
	AgentSlackID   = "USARAH"

	// Contact 15 and team member 7 of taskipfake.SeedExamples: the
	// customer is known to TaskIP, and the agent is matched by email.
	CustomerName  = "John Smith"
	CustomerEmail = "john@acme.com"
	AgentName     = "Sarah Johnson"
	AgentEmail    = "sarah@company.com"
)

// World is every fake on loopback with the real daemon between them, as
// `ticketsync run` builds it from a configuration file.
type World struct {
	TaskIP *taskipfake.Server
	IMAP   *mailtest.MemServer
	SMTP   *mailtest.SMTPServer
	// Slack records the Web API calls; SlackEdge is the URL the daemon
	// uses, which also takes response_url posts and forwards the rest.
	Slack     *slackfake.Server
	SlackEdge *slackfake.Inbound

	dir        string
	configPath string
	taskipURL  string
	daemonAddr string
	logs       *logBuffer
	client     *http.Client

	stopFakes  context.CancelFunc
	fakesDone  chan struct{}
	stopDaemon context.CancelFunc
	daemonDone chan struct{}
	daemonErr  error // set before daemonDone is closed

	closeOnce sync.Once
	closeErr  error
}

// Start brings up the fakes, writes the configuration file, loads it with
// the loader `run` uses, starts the daemon and waits until it is ready: IMAP
// connected and the first TaskIP poll (the baseline) done, so that the
// story's ticket is new to it. The caller must Close the World.
func Start(ctx context.Context, opts Options) (*World, error) {
	return start(ctx, opts, newLogBuffer())
}

// start is Start with the log kept in logs, which outlives a failed start.
func start(ctx context.Context, opts Options, logs *logBuffer) (w *World, err error) {
	w = &World{logs: logs, client: &http.Client{Timeout: 5 * time.Second}}
	defer func() {
		if err != nil {
			_ = w.Close()
			w = nil
		}
	}()
	if w.dir, err = os.MkdirTemp("", "ticketsync-demo-"); err != nil {
		return w, err
	}
	if err = w.startFakes(); err != nil {
		return w, err
	}
	w.configPath = filepath.Join(w.dir, "ticketsync.yaml")
	if err = os.WriteFile(w.configPath, []byte(w.configYAML()), 0o600); err != nil {
		return w, err
	}
	cfg, err := config.Load(w.configPath, config.LoadOptions{})
	if err != nil {
		return w, err
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Logger != nil {
		log = slog.New(slog.NewMultiHandler(log.Handler(), opts.Logger.Handler()))
	}
	d, err := daemon.New(cfg, daemon.Options{Logger: log, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		return w, err
	}
	w.daemonAddr = d.Addr()
	daemonCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stopDaemon, w.daemonDone = stop, make(chan struct{})
	go func() {
		defer close(w.daemonDone)
		w.daemonErr = d.Run(daemonCtx)
	}()
	return w, w.waitReady(ctx, opts.stepTimeout())
}

func (w *World) startFakes() error {
	w.TaskIP = taskipfake.New(taskipfake.Options{SecretKey: TaskIPKey})
	w.TaskIP.SeedExamples()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("taskip fake: %w", err)
	}
	w.taskipURL = "http://" + ln.Addr().String() + taskipfake.BasePath
	fakesCtx, stop := context.WithCancel(context.Background())
	w.stopFakes, w.fakesDone = stop, make(chan struct{})
	go func() {
		defer close(w.fakesDone)
		_ = w.TaskIP.ServeListener(fakesCtx, ln)
	}()

	if w.IMAP, err = mailtest.NewMemServer(mailtest.MemOptions{Username: SupportAddress, Password: IMAPPassword}); err != nil {
		return fmt.Errorf("imap server: %w", err)
	}
	if w.SMTP, err = mailtest.NewSMTP(mailtest.SMTPOptions{Deliver: w.deliverLocal}); err != nil {
		return fmt.Errorf("smtp sink: %w", err)
	}
	w.Slack = slackfake.Start()
	w.Slack.SetToken(BotToken)
	w.Slack.SetChannels(Channel)
	w.Slack.AddUser(slackfake.User{ID: AgentSlackID, Name: "sarah", RealName: AgentName, Email: AgentEmail})
	w.SlackEdge = slackfake.StartInbound(w.Slack)
	return nil
}

// deliverLocal puts mail for the support address (plus tags included) into
// the support INBOX, as the mail system would: a person who points a mail
// client at the sink opens tickets by writing to support@example.com.
// Everything else, such as the daemon's mail to customers, is only recorded.
func (w *World) deliverLocal(m mailtest.Received) error {
	local, domain, _ := strings.Cut(SupportAddress, "@")
	for _, rcpt := range m.To {
		l, d, _ := strings.Cut(strings.ToLower(rcpt), "@")
		base, _, _ := strings.Cut(l, "+")
		if base == local && d == domain {
			_, err := w.IMAP.Deliver("INBOX", m.Data)
			return err
		}
	}
	return nil
}

// configYAML is what an operator would write for these servers, with fast
// schedules: the story waits on TaskIP polls, and the IMAP watchdog re-issues
// IDLE every second, which bounds the rare late wake-up of go-imap's memory
// server (noted in mailtest/memserver.go). %q quotes are valid YAML
// double-quoted scalars.
func (w *World) configYAML() string {
	return fmt.Sprintf(`# Written by ticketsync demo: every server is on loopback and every secret
# is a demo value.
taskip:
  base_url: %q
  secret_key: %q
  timeout: 5s
  poll_schedule: "@every 1s"
state:
  path: %q
http:
  listen: "127.0.0.1:0"
mail:
  address: %q
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
    idle: true
    poll_schedule: "@every 1s"
  smtp:
    addr: %q
    tls: none
    from: "Acme Support <%s>"
slack:
  bot_token: %q
  signing_secret: %q
  api_url: %q
  channel: %q
`, w.taskipURL, TaskIPKey, filepath.Join(w.dir, "state.db"),
		SupportAddress, w.IMAP.Addr(), SupportAddress, IMAPPassword,
		w.SMTP.Addr(), SupportAddress,
		BotToken, SigningSecret, w.SlackEdge.URL(), Channel)
}

// waitReady waits for /readyz and for the watch's baseline. A list sorted by
// updated_at is only made once the baseline is stored; a ticket created
// before that would be taken for an old one and never shown in Slack.
func (w *World) waitReady(ctx context.Context, timeout time.Duration) error {
	var why error
	ok := pollUntil(ctx, timeout, func() bool {
		if err := w.DaemonErr(); err != nil {
			why = err
			return true
		}
		if why = w.get("/readyz"); why != nil {
			return false
		}
		for _, r := range w.TaskIP.Requests() {
			if r.Method == http.MethodGet && r.Path == taskipfake.BasePath+"/support-ticket" &&
				r.Query.Get("sort") == "updated_at" && r.Status == http.StatusOK {
				return true
			}
		}
		why = errors.New("the first TaskIP poll has not finished")
		return false
	})
	if !ok || w.DaemonErr() != nil {
		return fmt.Errorf("daemon not ready after %s: %w", timeout, why)
	}
	return nil
}

func (w *World) get(path string) error {
	resp, err := w.client.Get(w.DaemonURL() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// DaemonURL is the daemon's HTTP listener: /slack/*, /healthz, /readyz,
// /metrics.
func (w *World) DaemonURL() string { return "http://" + w.daemonAddr }

// TaskIPURL is the fake's base URL, for a TaskIP client.
func (w *World) TaskIPURL() string { return w.taskipURL }

// ConfigPath is the configuration file the daemon was started from.
func (w *World) ConfigPath() string { return w.configPath }

// DaemonLog is what the daemon logged so far (the newest 1 MiB).
func (w *World) DaemonLog() string { return w.logs.String() }

// DaemonErr is nil while the daemon runs; once it stopped, what Run
// returned, or an error saying it stopped.
func (w *World) DaemonErr() error {
	if w.daemonDone == nil {
		return nil
	}
	select {
	case <-w.daemonDone:
		if w.daemonErr != nil {
			return fmt.Errorf("the daemon stopped: %w", w.daemonErr)
		}
		return errors.New("the daemon stopped")
	default:
		return nil
	}
}

// ResponseURL is a response_url for a slash command, recorded under name
// by SlackEdge.
func (w *World) ResponseURL(name string) string { return w.SlackEdge.ResponseURL(name) }

// Close stops the daemon (as SIGTERM would), then the fakes, and removes
// the temporary directory with the state file. It returns the daemon's
// error, if it stopped with one.
func (w *World) Close() error {
	w.closeOnce.Do(func() {
		if w.stopDaemon != nil {
			w.stopDaemon()
			<-w.daemonDone
			w.closeErr = w.daemonErr
		}
		if w.SlackEdge != nil {
			w.SlackEdge.Close()
		}
		if w.Slack != nil {
			w.Slack.Close()
		}
		if w.SMTP != nil {
			w.SMTP.Close()
		}
		if w.IMAP != nil {
			w.IMAP.Close()
		}
		if w.stopFakes != nil {
			w.stopFakes()
			<-w.fakesDone
		}
		if w.dir != "" {
			if err := os.RemoveAll(w.dir); err != nil && w.closeErr == nil {
				w.closeErr = err
			}
		}
	})
	return w.closeErr
}

// pollUntil checks cond every 5 ms until it holds, timeout passes or ctx
// ends.
func pollUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}

// logBuffer keeps the newest limit bytes of the daemon's log.
type logBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func newLogBuffer() *logBuffer { return &logBuffer{limit: 1 << 20} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
