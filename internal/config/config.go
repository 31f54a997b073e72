// Package config loads, defaults and validates the ticketsync YAML
// configuration (README, "Configuration reference") into one typed struct.
//
// The YAML is decoded by walking the node tree against the struct so that
// every problem (unknown key, wrong type, unset variable, unreadable secret
// file, invalid value) is reported with its dotted path, all at once, and
// without ever echoing a value: a mistyped key can sit next to a secret.
package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"text/template"
	"time"
)

// Config is the whole daemon configuration. Mail and Slack are nil when
// their section is absent, which switches those flows off.
type Config struct {
	TaskIP TaskIP `yaml:"taskip"`
	State  State  `yaml:"state"`
	HTTP   HTTP   `yaml:"http"`
	Mail   *Mail  `yaml:"mail,omitempty"`
	Slack  *Slack `yaml:"slack,omitempty"`
	// Log picks the level and the format (text or JSON) of the log.
	Log Log `yaml:"log"`

	// secretFiles maps a secret's path (mail.oauth2.refresh_token) to the
	// file it was read from, for secrets that are read again when a
	// provider refuses them: an operator replaces the file, and the
	// daemon picks it up without a restart.
	secretFiles map[string]string
}

// SecretFile is the file the secret at path was read from ("" when it was
// given inline or not at all).
func (c *Config) SecretFile(path string) string { return c.secretFiles[path] }

// TaskIP configures the API client and the ticket watch.
type TaskIP struct {
	BaseURL   string        `yaml:"base_url"`
	SecretKey Secret        `yaml:"secret_key"`
	Timeout   time.Duration `yaml:"timeout"`
	// AllowInsecure permits an http:// base_url to a host other than
	// loopback, which sends the secret key in clear.
	AllowInsecure bool `yaml:"allow_insecure"`
	// MaxResponseBytes bounds one response body: a larger one is an error,
	// not a memory spike.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// PollSchedule is a robfig/cron standard spec ("@every 30s", "*/5 * * * *").
	PollSchedule string `yaml:"poll_schedule"`
	// AgentID is the TaskIP user the daemon acts as (created_by) when no
	// person can be named; 0 leaves it to TaskIP.
	AgentID int `yaml:"agent_id"`
	// TicketURLTemplate renders a link to a ticket from TemplateData; empty
	// means Slack messages carry no link.
	TicketURLTemplate string `yaml:"ticket_url_template"`
}

// State locates the bbolt file and its backups.
type State struct {
	Path string `yaml:"path"`
	// BackupDir is where the running daemon writes consistent copies of
	// the state file; empty means no backups.
	BackupDir string `yaml:"backup_dir"`
	// BackupSchedule is a robfig/cron standard spec.
	BackupSchedule string `yaml:"backup_schedule"`
	// BackupKeep is how many backups stay; older ones are deleted after
	// each backup that worked.
	BackupKeep int `yaml:"backup_keep"`
}

// HTTP is the listener for Slack callbacks, health and metrics.
type HTTP struct {
	Listen string `yaml:"listen"`
	// MetricsListen, when set, serves /metrics, /healthz and /readyz on a
	// second address and takes them off Listen, so that only /slack/*
	// need be reachable from the internet.
	MetricsListen string `yaml:"metrics_listen"`
	// MaxConnections caps the connections open on Listen at once; beyond
	// it the longest-idle one is closed to make room.
	MaxConnections int `yaml:"max_connections"`
}

// Mail configures the support mailbox. Present only when mail flows are on.
type Mail struct {
	// Address is the bare support address; replies come back to
	// local+<uuid>@domain, which is why it must not carry a +tag itself.
	Address string `yaml:"address"`
	IMAP    IMAP   `yaml:"imap"`
	SMTP    SMTP   `yaml:"smtp"`
	// OAuth2 is the sign-in IMAP and SMTP use when their auth is oauth2.
	OAuth2          OAuth2 `yaml:"oauth2"`
	SubjectTag      string `yaml:"subject_tag"`
	MaxMessageBytes int64  `yaml:"max_message_bytes"`
	// WriteConcurrency is how many mails of different conversations are
	// written to TaskIP at once; mails of one conversation stay in order.
	WriteConcurrency int            `yaml:"write_concurrency"`
	Senders          map[string]int `yaml:"senders"`
	DefaultUserID    int            `yaml:"default_user_id"`
	LookupContacts   bool           `yaml:"lookup_contacts"`
	CreateContacts   bool           `yaml:"create_contacts"`
	AcknowledgeNew   bool           `yaml:"acknowledge_new"`
	SendAgentReplies bool           `yaml:"send_agent_replies"`
	// AllowedListIDs are mailing lists (List-Id) whose posts are customer
	// mail, e.g. a customer team's Google Group; other lists are skipped.
	AllowedListIDs []string `yaml:"allowed_list_ids"`
	// MaxTicketsPerHour is how many new tickets one sender may open in an
	// hour; more are skipped as a mail loop.
	MaxTicketsPerHour int `yaml:"max_tickets_per_hour"`
	// Authentication says whose word on a sender's identity is trusted.
	Authentication Authentication `yaml:"authentication"`
	// AcknowledgeUnauthenticated: with sender authentication on, also
	// acknowledge new tickets whose sender could not be authenticated (a
	// sender that fails is never acknowledged). With it off, every sender
	// is acknowledged as before and this key does nothing.
	AcknowledgeUnauthenticated bool `yaml:"acknowledge_unauthenticated"`
	// MaxAcknowledgementsPerHour caps acknowledgements to all senders
	// together: a flood of forged senders cannot turn the support address
	// into a spam source.
	MaxAcknowledgementsPerHour int `yaml:"max_acknowledgements_per_hour"`
	// AcknowledgeMaxAge: mail the server received longer ago than this when
	// the daemon reads it is not acknowledged (old mail imported on purpose,
	// a backlog after an outage).
	AcknowledgeMaxAge time.Duration `yaml:"acknowledge_max_age"`
}

// Authentication configures sender authentication: whether a mail's From
// can be believed before it writes to a ticket as that person.
type Authentication struct {
	// TrustedAuthservIDs are the authserv-ids of the receiving servers
	// whose Authentication-Results headers (RFC 8601) are believed, e.g.
	// mx.google.com. MicrosoftAuthservID stands for Microsoft 365, which
	// writes its results without an id.
	TrustedAuthservIDs []string `yaml:"trusted_authserv_ids"`
	// Verify checks DKIM signatures and DMARC alignment in ticketsync
	// itself, with DNS lookups, for servers that write no results.
	Verify bool `yaml:"verify"`
}

// MicrosoftAuthservID in trusted_authserv_ids trusts the topmost
// Authentication-Results header that names no authserv-id, as Microsoft
// 365 (Exchange Online) writes it.
const MicrosoftAuthservID = "microsoft365"

// On reports whether any source of sender authentication is configured.
func (a Authentication) On() bool { return len(a.TrustedAuthservIDs) > 0 || a.Verify }

// TLSMode says how a mail connection is secured.
type TLSMode string

// TLS modes accepted for mail.imap.tls and mail.smtp.tls.
const (
	TLSImplicit TLSMode = "implicit"
	TLSStartTLS TLSMode = "starttls"
	TLSNone     TLSMode = "none"
)

// Sign-in methods for mail.imap.auth and mail.smtp.auth.
const (
	AuthPassword = "password"
	AuthOAuth2   = "oauth2"
)

// OAuth 2.0 providers for mail.oauth2.provider.
const (
	ProviderMicrosoft = "microsoft"
	ProviderGoogle    = "google"
	ProviderGeneric   = "generic"
)

// OAuth2 configures OAuth 2.0 sign-in to the mailbox (SASL XOAUTH2 or
// OAUTHBEARER), shared by IMAP and SMTP.
type OAuth2 struct {
	// Provider is microsoft, google or generic.
	Provider string `yaml:"provider"`
	// TenantID is the Microsoft Entra tenant (directory) id or domain.
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`
	// ClientSecret signs in the app; ClientCertificateFile with
	// ClientKeyFile does it with a certificate instead (Microsoft).
	ClientSecret          Secret `yaml:"client_secret"`
	ClientCertificateFile string `yaml:"client_certificate_file"`
	ClientKeyFile         string `yaml:"client_key_file"`
	// RefreshToken is a delegated sign-in's refresh token, from
	// `ticketsync mail authorize`.
	RefreshToken Secret `yaml:"refresh_token"`
	// ServiceAccountFile is a Google service account's JSON key with
	// domain-wide delegation; the mailbox is the subject.
	ServiceAccountFile string `yaml:"service_account_file"`
	// TokenURL is the token endpoint: required for generic, an override
	// (a sovereign cloud, a proxy) otherwise.
	TokenURL string `yaml:"token_url"`
	// Scopes default by provider; required for generic.
	Scopes []string `yaml:"scopes"`
}

// IMAP is the intake side of the mailbox.
type IMAP struct {
	Addr string  `yaml:"addr"`
	TLS  TLSMode `yaml:"tls"`
	// Auth is password (default) or oauth2 (mail.oauth2).
	Auth     string `yaml:"auth"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	Mailbox  string `yaml:"mailbox"`
	IDLE     bool   `yaml:"idle"`
	// PollSchedule is the fallback poll and the IDLE watchdog.
	PollSchedule string `yaml:"poll_schedule"`
	// ProcessedMailbox empty means processed mail is flagged \Seen in place.
	ProcessedMailbox string `yaml:"processed_mailbox"`
	// FailedMailbox empty means failed mail is flagged \Seen in place.
	FailedMailbox string `yaml:"failed_mailbox"`
	// ImportWindow: on the first start for a mailbox, mail it received
	// longer ago than this is history and is left alone.
	ImportWindow time.Duration `yaml:"import_window"`
	// AllowInsecure permits tls: none to a host other than loopback, which
	// sends the password in clear.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// SMTP is the sending side of the mailbox. Username and Password are both
// empty for a relay that needs no AUTH.
type SMTP struct {
	Addr string  `yaml:"addr"`
	TLS  TLSMode `yaml:"tls"`
	// Auth is password (default) or oauth2 (mail.oauth2, as Username).
	Auth     string `yaml:"auth"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// From may carry a display name; it defaults to Mail.Address.
	From string `yaml:"from"`
	// AllowInsecure permits tls: none with AUTH to a host other than
	// loopback, which sends the password in clear.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// ThreadMode says what a plain human message in a ticket thread becomes.
type ThreadMode string

// Thread modes accepted for slack.thread_default.
const (
	ThreadNote  ThreadMode = "note"
	ThreadReply ThreadMode = "reply"
)

// Slack configures the bot. Present only when Slack flows are on.
type Slack struct {
	BotToken      Secret `yaml:"bot_token"`
	SigningSecret Secret `yaml:"signing_secret"`
	AppToken      Secret `yaml:"app_token"`
	// APIURL is normalised to end in "/" because slack-go appends method
	// names to it verbatim.
	APIURL         string         `yaml:"api_url"`
	Channel        string         `yaml:"channel"`
	Command        string         `yaml:"command"`
	ThreadDefault  ThreadMode     `yaml:"thread_default"`
	ReplyPrefix    string         `yaml:"reply_prefix"`
	Agents         map[string]int `yaml:"agents"`
	DigestSchedule string         `yaml:"digest_schedule"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // text|json
}

// Defaults, as the README's configuration reference lists them.
const (
	DefaultBaseURL         = "https://public-api.taskip.net/api/public-v1"
	DefaultTimeout         = 15 * time.Second
	DefaultPollSchedule    = "@every 30s"
	DefaultStatePath       = "/var/lib/ticketsync/state.db"
	DefaultListen          = ":8080"
	DefaultMailbox         = "INBOX"
	DefaultIMAPPoll        = "@every 1m"
	DefaultSubjectTag      = "[#{{.UUID}}]"
	DefaultMaxMessageBytes = 26214400
	// DefaultWriteConcurrency hides most of TaskIP's round trip when a
	// backlog drains, without many requests in flight against one account.
	DefaultWriteConcurrency = 8
	// DefaultMaxTicketsPerHour is generous for a person and stops a loop
	// with a machine within minutes.
	DefaultMaxTicketsPerHour = 20
	// DefaultImportWindow is a week: unread mail older than that has
	// been dealt with some other way, or not at all, and a ticket with an
	// acknowledgement now would be news to nobody.
	DefaultImportWindow      = 7 * 24 * time.Hour
	DefaultAcknowledgeMaxAge = 24 * time.Hour
	// DefaultMaxAcknowledgementsPerHour is far above what a support inbox
	// receives from new senders and far below what makes a spam run.
	DefaultMaxAcknowledgementsPerHour = 60
	// DefaultMaxResponseBytes is a hundred times the largest page TaskIP
	// answers with.
	DefaultMaxResponseBytes = 16 << 20
	// DefaultMaxConnections leaves room for Slack's bursts and keeps the
	// file descriptors of IMAP, SMTP, TaskIP and Slack calls free.
	DefaultMaxConnections = 256
	DefaultCommand        = "/ticket"
	DefaultReplyPrefix    = "reply:"
)

// Defaults of the state file's backups (state.backup_*).
const (
	// DefaultBackupSchedule bounds what a restore goes back by to six
	// hours of changes, for a copy that takes a fraction of a second; a
	// fixed time of day would go back by up to a day. A daemon restarted
	// more often than this still backs up: one is taken at start when the
	// newest is older.
	DefaultBackupSchedule = "@every 6h"
	// DefaultBackupKeep is 42 hours of backups at the default schedule.
	// A copy that fails its check is no backup and deletes none, so a
	// state file damaged for days does not rotate the good ones out.
	DefaultBackupKeep = 7
)

// Default returns the configuration an empty file means: mail and Slack off.
func Default() Config {
	return Config{
		TaskIP: TaskIP{
			BaseURL:          DefaultBaseURL,
			Timeout:          DefaultTimeout,
			PollSchedule:     DefaultPollSchedule,
			MaxResponseBytes: DefaultMaxResponseBytes,
		},
		State: State{Path: DefaultStatePath, BackupSchedule: DefaultBackupSchedule, BackupKeep: DefaultBackupKeep},
		HTTP:  HTTP{Listen: DefaultListen, MaxConnections: DefaultMaxConnections},
		Log:   Log{Level: "info", Format: "text"},
	}
}

// DefaultMail returns the mail section an empty `mail: {}` means. TLS modes
// and SMTP.From depend on other keys and are filled in by Parse.
func DefaultMail() Mail {
	return Mail{
		IMAP: IMAP{
			Auth:         AuthPassword,
			Mailbox:      DefaultMailbox,
			IDLE:         true,
			PollSchedule: DefaultIMAPPoll,
			ImportWindow: DefaultImportWindow,
		},
		SubjectTag:                 DefaultSubjectTag,
		MaxMessageBytes:            DefaultMaxMessageBytes,
		WriteConcurrency:           DefaultWriteConcurrency,
		LookupContacts:             true,
		AcknowledgeNew:             true,
		SendAgentReplies:           true,
		MaxTicketsPerHour:          DefaultMaxTicketsPerHour,
		AcknowledgeMaxAge:          DefaultAcknowledgeMaxAge,
		MaxAcknowledgementsPerHour: DefaultMaxAcknowledgementsPerHour,
	}
}

// DefaultSlack returns the Slack section an empty `slack: {}` means.
func DefaultSlack() Slack {
	return Slack{
		Command:       DefaultCommand,
		ThreadDefault: ThreadNote,
		ReplyPrefix:   DefaultReplyPrefix,
	}
}

// TemplateData is what ticket_url_template and subject_tag are executed
// with. Keeping it this small is the contract that lets Validate execute the
// templates and catch a misspelt field at start-up instead of per ticket.
type TemplateData struct {
	ID   int
	UUID string
}

// sampleTicket is used to trial-run templates during validation.
var sampleTicket = TemplateData{ID: 42, UUID: "0b6f5c1e-7d8a-4c2b-9e3f-1a2b3c4d5e6f"}

// TicketURL renders taskip.ticket_url_template; "" when no template is set.
func (t TaskIP) TicketURL(id int, uuid string) (string, error) {
	if t.TicketURLTemplate == "" {
		return "", nil
	}
	return render("ticket_url_template", t.TicketURLTemplate, TemplateData{ID: id, UUID: uuid})
}

// SubjectTagFor renders mail.subject_tag for one ticket.
func (m Mail) SubjectTagFor(id int, uuid string) (string, error) {
	return render("subject_tag", m.SubjectTag, TemplateData{ID: id, UUID: uuid})
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(text)
}

func render(name, text string, data TemplateData) (string, error) {
	tmpl, err := parseTemplate(name, text)
	if err != nil {
		return "", fmt.Errorf("config: parse %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("config: execute %s: %w", name, err)
	}
	return buf.String(), nil
}

// SocketMode reports whether Slack is reached over Socket Mode rather than
// public HTTP callbacks.
func (s Slack) SocketMode() bool { return s.AppToken != "" }

// SlogLevel maps log.level to a slog.Level; unknown levels (rejected by
// Validate) fall back to info.
func (l Log) SlogLevel() slog.Level {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
