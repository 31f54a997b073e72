// Package daemon assembles ticketsync from its configuration: the state
// store, the TaskIP client, the flows of internal/bridge that are
// configured, and the HTTP listeners, and runs them as one group that
// starts and stops in a defined order (docs/architecture.md, "The daemon").
package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/oauth"
	"github.com/ticketsync/ticketsync/internal/senderauth"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/webserver"
)

// Options carry what does not come from the configuration file.
type Options struct {
	Logger *slog.Logger
	// Version names the build in the start-up line.
	Version string
	// IMAPTLS overrides the TLS settings of the IMAP connection (tests and
	// the demo use self-signed certificates).
	IMAPTLS *imap.Config
	// SMTPTLS overrides the roots the SMTP connection trusts (tests and the
	// demo use self-signed certificates).
	SMTPTLS *tls.Config
	// Listener, when set, is used instead of listening on http.listen.
	Listener net.Listener
	// MetricsListener, when set, is used instead of listening on
	// http.metrics_listen, and takes /metrics, /healthz and /readyz off
	// the public listener as that key does.
	MetricsListener net.Listener
	// HTTPTimeouts override the listeners' timeouts; zero fields keep
	// webserver's defaults (tests shorten them).
	HTTPTimeouts webserver.Timeouts
	// ShutdownTimeout bounds the drain on shutdown; default 8s, inside the
	// 10 s a container runtime waits after SIGTERM.
	ShutdownTimeout time.Duration
	// Backfill "open" posts the open tickets to Slack on the first run.
	Backfill string
	// ImportExisting is what a first start does with the mail already in
	// the mailbox (ImportUnseen, ImportNone, ImportAll); "" is ImportUnseen.
	ImportExisting string
	// OAuthHTTPClient talks to the identity provider; nil is a default
	// client (tests trust a fake's certificate here).
	OAuthHTTPClient *http.Client
	// LookupTXT replaces the DNS resolver of mail.authentication.verify
	// (tests answer from a map).
	LookupTXT senderauth.LookupTXT
	// BeforeStateCommit runs before every state commit; an error fails the
	// commit as a full disk would (tests of a failing disk).
	BeforeStateCommit func() error
}

// Daemon is ticketsync assembled from its configuration: the state store,
// the TaskIP client, the flows that are configured, and the HTTP listener.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *state.Store
	tickets *taskip.Client
	inbox   *imap.Inbox
	intake  *bridge.Intake
	outbox  *bridge.Outbox
	sender  *smtp.Sender
	watch   *bridge.Watch
	digest  *bridge.Digest
	alerts  *bridge.Alerts
	backups *state.Backups
	// signIns are the OAuth 2.0 sign-ins by mailbox.
	signIns map[string]*oauth.Source
	// replyKey signs reply addresses; it lives in the state file.
	replyKey []byte
	commands *bridge.Commands
	socket   *slack.SocketConfig
	registry *prometheus.Registry
	rejected *httpRejections
	// public serves /slack/* (and health and metrics when no metrics
	// listener is configured); private serves health and metrics alone.
	public    *webserver.Server
	ln        net.Listener
	private   *webserver.Server
	privateLn net.Listener
	shutdown  time.Duration
	version   string
}

// New opens the state file (failing at once when another instance holds
// it) and builds every configured flow. On an error nothing stays open.
func New(cfg *config.Config, opts Options) (_ *Daemon, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: log, registry: prometheus.NewRegistry(), shutdown: opts.ShutdownTimeout, version: opts.Version}
	if d.shutdown <= 0 {
		d.shutdown = 8 * time.Second
	}
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store, err := state.Open(state.Config{Path: cfg.State.Path, BeforeCommit: opts.BeforeStateCommit})
	if err != nil {
		return nil, err
	}
	d.store = store
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()
	if cfg.State.BackupDir != "" {
		d.backups, err = state.NewBackups(state.BackupsConfig{Store: store, Dir: cfg.State.BackupDir,
			Schedule: cfg.State.BackupSchedule, Keep: cfg.State.BackupKeep, Logger: log})
		if err != nil {
			return nil, err
		}
	}
	if cfg.Mail != nil {
		if d.replyKey, err = store.ReplyKey(); err != nil {
			return nil, err
		}
	}
	apiLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ticketsync_taskip_request_duration_seconds", Help: "TaskIP API requests by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"method", "route", "status"})
	slackLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ticketsync_slack_request_duration_seconds", Help: "Slack requests by method and outcome, each retry included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"method", "outcome"})
	slackPosts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketsync_slack_posts_total", Help: "Slack messages posted or updated, by method and outcome after retries.",
	}, []string{"method", "outcome"})
	d.registry.MustRegister(apiLatency, slackLatency, slackPosts,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ticketsync_state_commit_failures_total",
			Help: "State file writes that could not be committed (a full disk, an I/O error); the work they recorded is held and retried.",
		}, func() float64 { return float64(store.CommitFailures()) }))
	d.tickets, err = taskip.New(taskip.Config{
		BaseURL: cfg.TaskIP.BaseURL, SecretKey: cfg.TaskIP.SecretKey.Reveal(), Timeout: cfg.TaskIP.Timeout,
		MaxResponseBytes: cfg.TaskIP.MaxResponseBytes,
		Observe: func(method, route string, status int, dur time.Duration) {
			apiLatency.WithLabelValues(method, route, fmt.Sprint(status)).Observe(dur.Seconds())
		},
	})
	if err != nil {
		return nil, err
	}
	var poster *slack.Poster
	if sc := cfg.Slack; sc != nil {
		poster, err = slack.NewPoster(slack.PosterConfig{Token: sc.BotToken.Reveal(), APIURL: sc.APIURL, Logger: d.log,
			Observe: func(method, outcome string, dur time.Duration) {
				slackLatency.WithLabelValues(method, outcome).Observe(dur.Seconds())
			},
			Finished: func(method, outcome string) {
				if strings.HasPrefix(method, "chat.") { // the writes; reads are in the histogram alone
					slackPosts.WithLabelValues(method, outcome).Inc()
				}
			},
		})
		if err != nil {
			return nil, err
		}
	}
	if sc := cfg.Slack; sc != nil {
		if d.alerts, err = bridge.NewAlerts(bridge.AlertsConfig{Chat: poster, Channel: sc.Channel, Store: store, Logger: d.log}); err != nil {
			return nil, err
		}
	}
	if m := cfg.Mail; m != nil && m.SMTP.Addr != "" {
		if err := d.buildOutbox(m, poster, opts); err != nil {
			return nil, err
		}
	}
	if sc := cfg.Slack; sc != nil || (d.outbox != nil && cfg.Mail.SendAgentReplies) {
		if err := d.buildWatch(sc, poster, opts); err != nil {
			return nil, err
		}
	}
	if m := cfg.Mail; m != nil {
		if err := d.buildIntake(m, opts); err != nil {
			return nil, err
		}
	}
	if err := d.buildHTTP(opts); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Daemon) buildIntake(m *config.Mail, opts Options) error {
	tokens, err := d.tokens(m.IMAP.Auth, m.IMAP.Username, opts)
	if err != nil {
		return err
	}
	imapCfg := imap.Config{
		Addr: m.IMAP.Addr, TLS: mail.TLSMode(m.IMAP.TLS), Username: m.IMAP.Username, Password: m.IMAP.Password.Reveal(),
		Mailbox: m.IMAP.Mailbox, ProcessedMailbox: m.IMAP.ProcessedMailbox, FailedMailbox: m.IMAP.FailedMailbox,
		IDLE: m.IMAP.IDLE, Logger: d.log, AllowInsecure: m.IMAP.AllowInsecure, Tokens: tokens,
	}
	if o := opts.IMAPTLS; o != nil {
		imapCfg.TLSConfig = o.TLSConfig
	}
	d.inbox = imap.NewInbox(imapCfg)
	spool, err := prepareSpool(filepath.Join(filepath.Dir(d.cfg.State.Path), "spool"))
	if err != nil {
		return err
	}
	auth := bridge.SenderAuthentication{TrustedAuthservIDs: m.Authentication.TrustedAuthservIDs}
	if m.Authentication.Verify {
		auth.Checker = senderauth.NewChecker(senderauth.CheckerConfig{LookupTXT: opts.LookupTXT})
	}
	senders := make(map[string]int64, len(m.Senders))
	for k, v := range m.Senders {
		senders[strings.ToLower(k)] = int64(v)
	}
	var events bridge.IntakeEvents // a nil *Watch in it would not be a nil interface
	if d.watch != nil {
		events = d.watch
	}
	d.intake, err = bridge.NewIntake(bridge.IntakeConfig{
		Inbox: d.inbox, Tickets: d.tickets, Store: d.store, Logger: d.log, Metrics: bridge.NewIntakeMetrics(d.registry),
		Alerts: d.alerts, FailedMailbox: m.IMAP.FailedMailbox,
		ImportExisting: opts.ImportExisting, ImportWindow: m.IMAP.ImportWindow, AcknowledgeMaxAge: m.AcknowledgeMaxAge,
		Mailbox: m.IMAP.Mailbox, Address: m.Address, SubjectTag: m.SubjectTag, PollSchedule: m.IMAP.PollSchedule,
		IDLE: m.IMAP.IDLE, MaxMessageBytes: m.MaxMessageBytes, WriteConcurrency: m.WriteConcurrency, SpoolDir: spool,
		Senders: senders, DefaultUserID: int64(m.DefaultUserID), LookupContacts: m.LookupContacts,
		CreateContacts: m.CreateContacts, AgentID: int64(d.cfg.TaskIP.AgentID), Outbox: d.outbox,
		AllowedListIDs: m.AllowedListIDs, MaxTicketsPerHour: m.MaxTicketsPerHour,
		Authentication: auth, AcknowledgeUnauthenticated: m.AcknowledgeUnauthenticated, ReplyKey: d.replyKey,
		Events: events,
	})
	return err
}

// buildOutbox wires outbound mail: one SMTP connection, reused, fed by the
// durable outbox.
func (d *Daemon) buildOutbox(m *config.Mail, poster *slack.Poster, opts Options) error {
	from, err := netmail.ParseAddress(m.SMTP.From)
	if err != nil {
		return fmt.Errorf("mail.smtp.from: %w", err)
	}
	tokens, err := d.tokens(m.SMTP.Auth, m.SMTP.Username, opts)
	if err != nil {
		return err
	}
	d.sender = smtp.NewSender(smtp.Config{
		Addr: m.SMTP.Addr, TLS: mail.TLSMode(m.SMTP.TLS), Username: m.SMTP.Username, Password: m.SMTP.Password.Reveal(),
		TLSConfig: opts.SMTPTLS, Logger: d.log, AllowInsecure: m.SMTP.AllowInsecure, Tokens: tokens,
	})
	cfg := bridge.OutboxConfig{
		Mailer: d.sender, Store: d.store, Logger: d.log, Metrics: bridge.NewOutboxMetrics(d.registry),
		From: mime.Address{Name: from.Name, Email: from.Address}, Address: m.Address, SubjectTag: m.SubjectTag,
		AcknowledgeNew: m.AcknowledgeNew, SendAgentReplies: m.SendAgentReplies,
		MaxAcknowledgementsPerHour: m.MaxAcknowledgementsPerHour, Alerts: d.alerts, ReplyKey: d.replyKey,
	}
	if poster != nil {
		cfg.Threads, cfg.Files = poster, poster
	}
	d.outbox, err = bridge.NewOutbox(cfg)
	return err
}

// buildWatch wires the ticket watch. Without Slack (sc nil) it still runs
// for the outbox: agents' replies made in the TaskIP web app are mailed.
func (d *Daemon) buildWatch(sc *config.Slack, poster *slack.Poster, opts Options) error {
	tmpl := d.cfg.TaskIP
	wc := bridge.WatchConfig{
		Tickets: d.tickets, Store: d.store, Schedule: d.cfg.TaskIP.PollSchedule,
		Backfill: opts.Backfill, Logger: d.log, Outbox: d.outbox, Metrics: bridge.NewWatchMetrics(d.registry),
		TicketURL: func(id int64, uuid string) string {
			u, err := tmpl.TicketURL(int(id), uuid)
			if err != nil {
				return ""
			}
			return u
		},
	}
	if sc != nil {
		wc.Chat, wc.History, wc.Channel = poster, poster, sc.Channel
	}
	var err error
	if d.watch, err = bridge.NewWatch(wc); err != nil {
		return err
	}
	d.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ticketsync_taskip_last_poll_timestamp_seconds", Help: "When TaskIP was last polled successfully; 0 before the first poll.",
	}, func() float64 {
		if t := d.watch.LastPoll(); !t.IsZero() {
			return float64(t.UnixNano()) / 1e9
		}
		return 0
	}))
	if sc == nil {
		return nil
	}
	if sc.DigestSchedule != "" {
		d.digest, err = bridge.NewDigest(bridge.DigestConfig{
			Analytics: d.tickets, Chat: poster, Channel: sc.Channel, Schedule: sc.DigestSchedule,
			Registerer: d.registry, Logger: d.log,
		})
		if err != nil {
			return err
		}
	}
	return d.buildCommands(sc, poster)
}

// tokens is the OAuth 2.0 sign-in of mailbox when auth is oauth2, else nil
// (a password). IMAP and SMTP signing in as the same mailbox share one,
// so one token serves both.
func (d *Daemon) tokens(auth, mailbox string, opts Options) (mail.TokenSource, error) {
	if auth != config.AuthOAuth2 {
		return nil, nil
	}
	if src, ok := d.signIns[mailbox]; ok {
		return src, nil
	}
	oc := oauth.FromConfig(d.cfg, mailbox)
	oc.HTTPClient = opts.OAuthHTTPClient
	src, err := oauth.New(oc)
	if err != nil {
		return nil, err
	}
	if d.signIns == nil {
		d.signIns = map[string]*oauth.Source{}
	}
	d.signIns[mailbox] = src
	return src, nil
}

// prepareSpool creates the directory attachments are streamed to and clears
// what a crash left there: those files belong to no message any more.
func prepareSpool(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("attachment spool %s: %w", dir, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "ticketsync-attachment-*"))
	for _, f := range leftovers {
		_ = os.Remove(f)
	}
	return dir, nil
}

// buildCommands wires agents' Slack actions: HTTP endpoints verified with
// the signing secret, and Socket Mode when an app token is set.
func (d *Daemon) buildCommands(sc *config.Slack, poster *slack.Poster) error {
	agents := make(map[string]int64, len(sc.Agents))
	for k, v := range sc.Agents {
		agents[k] = int64(v)
	}
	side := struct {
		*slack.Poster
		slack.Responder
	}{poster, slack.Responder{Logger: d.log}}
	var err error
	d.commands, err = bridge.NewCommands(bridge.CommandsConfig{
		Tickets: d.tickets, Slack: side, Store: d.store, Events: d.watch, Outbox: d.outbox, Logger: d.log, Channel: sc.Channel,
		Metrics: bridge.NewCommandsMetrics(d.registry),
		Command: sc.Command, Agents: agents, ReplyPrefix: sc.ReplyPrefix, ThreadDefault: mapping.ThreadKind(sc.ThreadDefault),
	})
	if err != nil {
		return err
	}
	if sc.SocketMode() {
		d.socket = &slack.SocketConfig{AppToken: sc.AppToken.Reveal(), BotToken: sc.BotToken.Reveal(), APIURL: sc.APIURL,
			Handler: d.commands, Logger: d.log}
	}
	return nil
}

// Retention of Message-ID links and similar records. A customer replying to
// a mail older than this starts a new ticket unless the reply carries the
// plus address or subject tag, which never expire.
const retention = 180 * 24 * time.Hour

// pruneDaily keeps the state file from growing without bound.
func (d *Daemon) pruneDaily(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		stats, err := d.store.Prune(retention)
		if err != nil {
			d.log.Warn("state prune failed", "err", err)
		} else {
			d.log.Debug("state pruned", "messages", stats.Messages, "outbound", stats.Outbound, "caches", stats.Caches)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// trimMemory gives back the memory start-up and busy spells leave mapped
// (footprint.go), shortly after start and then at a fixed interval.
func (d *Daemon) trimMemory(ctx context.Context) {
	trim := newTrimmer(d.log)
	t := time.NewTimer(trim.next())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			trim.trim()
			t.Reset(trim.next())
		}
	}
}
