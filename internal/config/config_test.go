package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// env returns a Getenv over a fixed map so tests never read the process
// environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// noFiles fails any read, so a test that did not expect file access notices.
func noFiles(path string) ([]byte, error) {
	return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
}

func testOpts() LoadOptions { return LoadOptions{Getenv: env(nil), ReadFile: noFiles} }

// problems returns the problems of a *ValidationError, failing otherwise.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	var verr *ValidationError
	require.True(t, errors.As(err, &verr), "want *ValidationError, got %T: %v", err, err)
	return verr.Problems
}

func paths(probs []Problem) []string {
	out := make([]string, len(probs))
	for i, p := range probs {
		out[i] = p.Path
	}
	return out
}

const minimalYAML = `
taskip:
  base_url: https://taskip.test/api
  secret_key: s3cret
`

const fullYAML = `
taskip:
  base_url: https://taskip.test/api/v2/
  secret_key: tk-secret
  timeout: 45s
  poll_schedule: "*/2 * * * *"
  agent_id: 7
  ticket_url_template: "https://desk.test/t/{{.UUID}}"
  allow_insecure: true
  max_response_bytes: 1048576
state:
  path: /data/ts.db
  backup_dir: /backups/ticketsync
  backup_schedule: "0 3 * * *"
  backup_keep: 14
http:
  listen: 127.0.0.1:9090
  metrics_listen: 127.0.0.1:9091
  max_connections: 64
log:
  level: DEBUG
  format: json
mail:
  address: help@acme.test
  imap:
    addr: imap.acme.test:143
    tls: starttls
    auth: password
    username: helpuser
    password: imap-pw
    mailbox: Support
    idle: false
    poll_schedule: "@every 5m"
    processed_mailbox: Support/Done
    failed_mailbox: Support/Failed
    import_window: 48h
    allow_insecure: true
  smtp:
    addr: smtp.acme.test:465
    tls: implicit
    auth: password
    username: smtpuser
    password: smtp-pw
    from: "Acme Help <help@acme.test>"
    allow_insecure: true
  subject_tag: "(ticket {{.UUID}})"
  max_message_bytes: 1048576
  write_concurrency: 4
  senders:
    John@Acme.com: 15
    jane@acme.com: 16
  default_user_id: 3
  lookup_contacts: false
  create_contacts: true
  acknowledge_new: false
  send_agent_replies: false
  allowed_list_ids: ["team.customer.example", "<ops.customer.example>"]
  max_tickets_per_hour: 50
  acknowledge_max_age: 2h
  oauth2:
    provider: microsoft
    tenant_id: acme.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000001
    client_secret: oauth-secret
    client_certificate_file: ""
    client_key_file: ""
    refresh_token: oauth-refresh
    service_account_file: ""
    token_url: https://login.acme.test/token
    scopes: [https://outlook.office365.com/.default]
  authentication:
    trusted_authserv_ids: [mx.acme.test, microsoft365]
    verify: true
  acknowledge_unauthenticated: true
  max_acknowledgements_per_hour: 30
slack:
  bot_token: xoxb-bot
  signing_secret: signing
  app_token: xapp-app
  api_url: http://127.0.0.1:9999/api
  channel: G0ABC
  command: /helpdesk
  thread_default: reply
  reply_prefix: "customer:"
  agents:
    U0AAA: 8
    W0BBB: 9
  digest_schedule: "0 9 * * 1-5"
`

func fullConfig() Config {
	return Config{
		TaskIP: TaskIP{
			BaseURL:           "https://taskip.test/api/v2",
			SecretKey:         "tk-secret",
			Timeout:           45 * time.Second,
			PollSchedule:      "*/2 * * * *",
			AgentID:           7,
			TicketURLTemplate: "https://desk.test/t/{{.UUID}}",
			AllowInsecure:     true,
			MaxResponseBytes:  1048576,
		},
		State: State{Path: "/data/ts.db", BackupDir: "/backups/ticketsync", BackupSchedule: "0 3 * * *", BackupKeep: 14},
		HTTP:  HTTP{Listen: "127.0.0.1:9090", MetricsListen: "127.0.0.1:9091", MaxConnections: 64},
		Log:   Log{Level: "debug", Format: "json"},
		Mail: &Mail{
			Address: "help@acme.test",
			IMAP: IMAP{
				Addr: "imap.acme.test:143", TLS: TLSStartTLS, Auth: AuthPassword, Username: "helpuser", Password: "imap-pw",
				Mailbox: "Support", IDLE: false, PollSchedule: "@every 5m",
				ProcessedMailbox: "Support/Done", FailedMailbox: "Support/Failed", ImportWindow: 48 * time.Hour,
				AllowInsecure: true,
			},
			SMTP: SMTP{
				Addr: "smtp.acme.test:465", TLS: TLSImplicit, Auth: AuthPassword, Username: "smtpuser", Password: "smtp-pw",
				From: "Acme Help <help@acme.test>", AllowInsecure: true,
			},
			SubjectTag:        "(ticket {{.UUID}})",
			MaxMessageBytes:   1048576,
			WriteConcurrency:  4,
			Senders:           map[string]int{"john@acme.com": 15, "jane@acme.com": 16},
			DefaultUserID:     3,
			CreateContacts:    true,
			AllowedListIDs:    []string{"team.customer.example", "<ops.customer.example>"},
			MaxTicketsPerHour: 50,
			AcknowledgeMaxAge: 2 * time.Hour,
			Authentication: Authentication{
				TrustedAuthservIDs: []string{"mx.acme.test", MicrosoftAuthservID}, Verify: true,
			},
			AcknowledgeUnauthenticated: true,
			OAuth2: OAuth2{
				Provider: ProviderMicrosoft, TenantID: "acme.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001",
				ClientSecret: "oauth-secret", RefreshToken: "oauth-refresh", TokenURL: "https://login.acme.test/token",
				Scopes: []string{"https://outlook.office365.com/.default"},
			},
			MaxAcknowledgementsPerHour: 30,
		},
		Slack: &Slack{
			BotToken: "xoxb-bot", SigningSecret: "signing", AppToken: "xapp-app",
			APIURL: "http://127.0.0.1:9999/api/", Channel: "G0ABC", Command: "/helpdesk",
			ThreadDefault: ThreadReply, ReplyPrefix: "customer:",
			Agents:         map[string]int{"U0AAA": 8, "W0BBB": 9},
			DigestSchedule: "0 9 * * 1-5",
		},
	}
}

func TestParseFullRoundTrip(t *testing.T) {
	cfg, err := Parse([]byte(fullYAML), testOpts())
	require.NoError(t, err)
	assert.Equal(t, fullConfig(), *cfg)
	require.NoError(t, cfg.Validate())
}

// TestFullYAMLCoversEveryKey guards the round-trip test itself: a field
// added to Config without a line in fullYAML would otherwise pass silently.
func TestFullYAMLCoversEveryKey(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"fullYAML", fullYAML},
		{"config.example.yaml", readExample(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(tc.file), &doc))
			for _, p := range keyPaths(reflect.TypeOf(Config{}), "") {
				assert.True(t, hasPath(doc, p), "missing key %s", p)
			}
		})
	}
}

func keyPaths(t reflect.Type, prefix string) []string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if !t.Field(i).IsExported() {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		p := join(prefix, name)
		out = append(out, p)
		ft := t.Field(i).Type
		if ft != durationType && (ft.Kind() == reflect.Struct || ft.Kind() == reflect.Pointer) {
			out = append(out, keyPaths(ft, p)...)
		}
	}
	return out
}

func hasPath(doc map[string]any, path string) bool {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

func TestDefaults(t *testing.T) {
	t.Run("minimal config", func(t *testing.T) {
		cfg, err := Parse([]byte(minimalYAML), testOpts())
		require.NoError(t, err)
		want := Config{
			TaskIP: TaskIP{
				BaseURL: "https://taskip.test/api", SecretKey: "s3cret",
				Timeout: 15 * time.Second, PollSchedule: "@every 30s", MaxResponseBytes: DefaultMaxResponseBytes,
			},
			State: State{Path: "/var/lib/ticketsync/state.db", BackupSchedule: "@every 6h", BackupKeep: 7},
			HTTP:  HTTP{Listen: ":8080", MaxConnections: DefaultMaxConnections},
			Log:   Log{Level: "info", Format: "text"},
		}
		assert.Equal(t, want, *cfg)
		assert.Nil(t, cfg.Mail, "mail flows are off without the section")
		assert.Nil(t, cfg.Slack, "slack is off without the section")
	})
	t.Run("base_url defaults to the public API", func(t *testing.T) {
		cfg, err := Parse([]byte("taskip: {secret_key: k}"), testOpts())
		require.NoError(t, err)
		assert.Equal(t, DefaultBaseURL, cfg.TaskIP.BaseURL)
	})
	t.Run("mail and slack sections", func(t *testing.T) {
		cfg, err := Parse([]byte(minimalYAML+`
mail:
  address: support@example.com
  imap: {addr: "imap.example.com:993", username: u, password: p}
  smtp: {addr: "smtp.example.com:587"}
slack:
  bot_token: xoxb-1
  signing_secret: s
  channel: C0123
`), testOpts())
		require.NoError(t, err)
		assert.Equal(t, &Mail{
			Address: "support@example.com",
			IMAP: IMAP{
				Addr: "imap.example.com:993", TLS: TLSImplicit, Auth: AuthPassword, Username: "u", Password: "p",
				Mailbox: "INBOX", IDLE: true, PollSchedule: "@every 1m", ImportWindow: DefaultImportWindow,
			},
			SMTP:                       SMTP{Addr: "smtp.example.com:587", TLS: TLSStartTLS, Auth: AuthPassword, From: "support@example.com"},
			SubjectTag:                 "[#{{.UUID}}]",
			MaxMessageBytes:            26214400,
			WriteConcurrency:           8,
			LookupContacts:             true,
			CreateContacts:             false,
			AcknowledgeNew:             true,
			SendAgentReplies:           true,
			MaxTicketsPerHour:          DefaultMaxTicketsPerHour,
			AcknowledgeMaxAge:          DefaultAcknowledgeMaxAge,
			MaxAcknowledgementsPerHour: DefaultMaxAcknowledgementsPerHour,
		}, cfg.Mail)
		assert.Equal(t, &Slack{
			BotToken: "xoxb-1", SigningSecret: "s", Channel: "C0123",
			Command: "/ticket", ThreadDefault: ThreadNote, ReplyPrefix: "reply:", DigestSchedule: "",
		}, cfg.Slack)
		assert.False(t, cfg.Slack.SocketMode())
	})
	t.Run("tls follows the port", func(t *testing.T) {
		for addr, want := range map[string]TLSMode{
			"imap.example.com:143": TLSStartTLS, "imap.example.com:993": TLSImplicit,
		} {
			cfg, err := Parse([]byte(minimalYAML+`
mail:
  address: support@example.com
  imap: {addr: "`+addr+`", username: u, password: p}
  smtp: {addr: "smtp.example.com:465"}
`), testOpts())
			require.NoError(t, err)
			assert.Equal(t, want, cfg.Mail.IMAP.TLS, addr)
			assert.Equal(t, TLSImplicit, cfg.Mail.SMTP.TLS)
		}
	})
	t.Run("null keeps the default", func(t *testing.T) {
		cfg, err := Parse([]byte(minimalYAML+"  timeout:\nmail:\nslack: ~\n"), testOpts())
		require.NoError(t, err)
		assert.Equal(t, DefaultTimeout, cfg.TaskIP.Timeout)
		assert.Nil(t, cfg.Mail)
		assert.Nil(t, cfg.Slack)
	})
	t.Run("Default and Validate agree", func(t *testing.T) {
		cfg := Default()
		cfg.TaskIP.SecretKey = "k"
		m, s := DefaultMail(), DefaultSlack()
		assert.Equal(t, "INBOX", m.IMAP.Mailbox)
		assert.Equal(t, ThreadNote, s.ThreadDefault)
		require.NoError(t, cfg.Validate())
	})
}

func readExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../config.example.yaml")
	require.NoError(t, err)
	return string(data)
}

func TestExampleConfig(t *testing.T) {
	fake := map[string]string{
		"TASKIP_SECRET_KEY":    "test-secret",
		"IMAP_PASSWORD":        "imap-test",
		"SMTP_PASSWORD":        "smtp-test",
		"SLACK_BOT_TOKEN":      "xoxb-test",
		"SLACK_SIGNING_SECRET": "signing-test",
	}
	cfg, err := Load("../../config.example.yaml", LoadOptions{Getenv: env(fake)})
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, Secret("test-secret"), cfg.TaskIP.SecretKey)
	assert.Equal(t, Secret("xoxb-test"), cfg.Slack.BotToken)
	require.NotNil(t, cfg.Mail)

	t.Run("every secret is an env reference", func(t *testing.T) {
		for name, v := range fake {
			assert.NotContains(t, readExample(t), v, name)
		}
	})
	t.Run("unset variable is named", func(t *testing.T) {
		_, err := Load("../../config.example.yaml", LoadOptions{Getenv: env(nil)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "taskip.secret_key: environment variable TASKIP_SECRET_KEY is not set")
		assert.Contains(t, err.Error(), "config.example.yaml:")
	})
}

func TestTemplateHelpers(t *testing.T) {
	cfg := fullConfig()
	url, err := cfg.TaskIP.TicketURL(5, "abc")
	require.NoError(t, err)
	assert.Equal(t, "https://desk.test/t/abc", url)

	tag, err := cfg.Mail.SubjectTagFor(5, "abc")
	require.NoError(t, err)
	assert.Equal(t, "(ticket abc)", tag)

	empty, err := TaskIP{}.TicketURL(1, "x")
	require.NoError(t, err)
	assert.Empty(t, empty)

	assert.Equal(t, "DEBUG", Log{Level: "debug"}.SlogLevel().String())
	assert.Equal(t, "INFO", Log{Level: "nonsense"}.SlogLevel().String())
}
