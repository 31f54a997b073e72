package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		path   string
		msg    string
	}{
		{"base_url missing", func(c *Config) { c.TaskIP.BaseURL = "" }, "taskip.base_url", "required"},
		{"base_url relative", func(c *Config) { c.TaskIP.BaseURL = "/api" }, "taskip.base_url", "absolute http or https URL"},
		{"base_url wrong scheme", func(c *Config) { c.TaskIP.BaseURL = "ftp://taskip.test" }, "taskip.base_url", "absolute http or https URL"},
		{"secret_key missing", func(c *Config) { c.TaskIP.SecretKey = "" }, "taskip.secret_key", "required"},
		{"timeout zero", func(c *Config) { c.TaskIP.Timeout = 0 }, "taskip.timeout", "greater than 0"},
		{"timeout negative", func(c *Config) { c.TaskIP.Timeout = -time.Second }, "taskip.timeout", "greater than 0"},
		{"poll_schedule empty", func(c *Config) { c.TaskIP.PollSchedule = "" }, "taskip.poll_schedule", "required"},
		{"poll_schedule garbage", func(c *Config) { c.TaskIP.PollSchedule = "every minute" }, "taskip.poll_schedule", "not a cron schedule"},
		{"poll_schedule six fields", func(c *Config) { c.TaskIP.PollSchedule = "0 */5 * * * *" }, "taskip.poll_schedule", "not a cron schedule"},
		{"poll_schedule sub-second", func(c *Config) { c.TaskIP.PollSchedule = "@every 100ms" }, "taskip.poll_schedule", "at least 1s"},
		{"agent_id negative", func(c *Config) { c.TaskIP.AgentID = -1 }, "taskip.agent_id", "negative"},
		{"ticket_url_template syntax", func(c *Config) { c.TaskIP.TicketURLTemplate = "https://x/{{.ID" }, "taskip.ticket_url_template", "not a valid template"},
		{"ticket_url_template field", func(c *Config) { c.TaskIP.TicketURLTemplate = "https://x/{{.Id}}" }, "taskip.ticket_url_template", "does not render"},
		{"ticket_url_template not a URL", func(c *Config) { c.TaskIP.TicketURLTemplate = "ticket {{.ID}}" }, "taskip.ticket_url_template", "absolute http(s) URL"},
		{"state.path empty", func(c *Config) { c.State.Path = "" }, "state.path", "required"},
		{"http.listen no port", func(c *Config) { c.HTTP.Listen = "localhost" }, "http.listen", "host:port"},
		{"http.listen bad port", func(c *Config) { c.HTTP.Listen = ":http-alt" }, "http.listen", "port must be a number"},
		{"http.listen empty", func(c *Config) { c.HTTP.Listen = "" }, "http.listen", "required"},
		{"mail.address missing", func(c *Config) { c.Mail.Address = "" }, "mail.address", "required"},
		{"mail.address invalid", func(c *Config) { c.Mail.Address = "support" }, "mail.address", "bare email address"},
		{"mail.address with name", func(c *Config) { c.Mail.Address = "Help <help@acme.test>" }, "mail.address", "bare email address"},
		{"mail.address with plus", func(c *Config) { c.Mail.Address = "help+x@acme.test" }, "mail.address", `must not contain "+"`},
		{"imap.addr missing", func(c *Config) { c.Mail.IMAP.Addr = "" }, "mail.imap.addr", "required"},
		{"imap.addr no port", func(c *Config) { c.Mail.IMAP.Addr = "imap.acme.test" }, "mail.imap.addr", "host:port"},
		{"imap.addr no host", func(c *Config) { c.Mail.IMAP.Addr = ":993" }, "mail.imap.addr", "host is missing"},
		{"imap.addr port 0", func(c *Config) { c.Mail.IMAP.Addr = "imap.acme.test:0" }, "mail.imap.addr", "from 1 to 65535"},
		{"imap.tls unknown", func(c *Config) { c.Mail.IMAP.TLS = "ssl" }, "mail.imap.tls", `"implicit", "starttls" or "none"`},
		{"imap.username missing", func(c *Config) { c.Mail.IMAP.Username = "" }, "mail.imap.username", "required"},
		{"imap.password missing", func(c *Config) { c.Mail.IMAP.Password = "" }, "mail.imap.password", "required"},
		{"imap.mailbox empty", func(c *Config) { c.Mail.IMAP.Mailbox = "" }, "mail.imap.mailbox", "required"},
		{"imap.poll_schedule bad", func(c *Config) { c.Mail.IMAP.PollSchedule = "@hourlyish" }, "mail.imap.poll_schedule", "not a cron schedule"},
		{"imap.processed_mailbox is the inbox", func(c *Config) { c.Mail.IMAP.ProcessedMailbox = c.Mail.IMAP.Mailbox }, "mail.imap.processed_mailbox", "must differ"},
		{"imap.failed_mailbox is the inbox", func(c *Config) { c.Mail.IMAP.FailedMailbox = c.Mail.IMAP.Mailbox }, "mail.imap.failed_mailbox", "must differ"},
		{"smtp.addr missing while sending", func(c *Config) { c.Mail.SMTP.Addr = ""; c.Mail.AcknowledgeNew = true }, "mail.smtp.addr", "required"},
		{"smtp.addr bad port", func(c *Config) { c.Mail.SMTP.Addr = "smtp.acme.test:99999" }, "mail.smtp.addr", "from 1 to 65535"},
		{"smtp.tls unknown", func(c *Config) { c.Mail.SMTP.TLS = "tls" }, "mail.smtp.tls", `"implicit", "starttls" or "none"`},
		{"smtp username without password", func(c *Config) { c.Mail.SMTP.Password = "" }, "mail.smtp.password", "required when mail.smtp.username is set"},
		{"smtp password without username", func(c *Config) { c.Mail.SMTP.Username = "" }, "mail.smtp.username", "required when mail.smtp.password is set"},
		{"smtp.from invalid", func(c *Config) { c.Mail.SMTP.From = "Acme Help" }, "mail.smtp.from", "email address"},
		{"smtp.from empty", func(c *Config) { c.Mail.SMTP.From = "" }, "mail.smtp.from", "required"},
		{"subject_tag empty", func(c *Config) { c.Mail.SubjectTag = "" }, "mail.subject_tag", "required"},
		{"subject_tag syntax", func(c *Config) { c.Mail.SubjectTag = "[#{{.UUID]" }, "mail.subject_tag", "not a valid template"},
		{"subject_tag without uuid", func(c *Config) { c.Mail.SubjectTag = "[#{{.ID}}]" }, "mail.subject_tag", "must contain {{.UUID}}"},
		{"subject_tag unknown field", func(c *Config) { c.Mail.SubjectTag = "[#{{.Uuid}}]" }, "mail.subject_tag", "does not render"},
		{"max_message_bytes zero", func(c *Config) { c.Mail.MaxMessageBytes = 0 }, "mail.max_message_bytes", "greater than 0"},
		{"senders bad key", func(c *Config) { c.Mail.Senders["john"] = 3 }, "mail.senders[john]", "bare email address"},
		{"senders upper-case key in code", func(c *Config) { c.Mail.Senders["Ann@acme.test"] = 3 }, "mail.senders[Ann@acme.test]", "lower case"},
		{"senders zero id", func(c *Config) { c.Mail.Senders["zero@acme.test"] = 0 }, "mail.senders[zero@acme.test]", "greater than 0"},
		{"default_user_id negative", func(c *Config) { c.Mail.DefaultUserID = -2 }, "mail.default_user_id", "negative"},
		{"bot_token missing", func(c *Config) { c.Slack.BotToken = "" }, "slack.bot_token", "required"},
		{"bot_token wrong kind", func(c *Config) { c.Slack.BotToken = "xoxp-user" }, "slack.bot_token", `must start with "xoxb-"`},
		{"signing_secret missing over HTTP", func(c *Config) { c.Slack.AppToken = ""; c.Slack.SigningSecret = "" }, "slack.signing_secret", "required"},
		{"app_token wrong kind", func(c *Config) { c.Slack.AppToken = "xoxb-bot" }, "slack.app_token", `must start with "xapp-"`},
		{"api_url relative", func(c *Config) { c.Slack.APIURL = "slack/api/" }, "slack.api_url", "absolute http or https URL"},
		{"channel missing", func(c *Config) { c.Slack.Channel = "" }, "slack.channel", "required"},
		{"channel by name", func(c *Config) { c.Slack.Channel = "#support" }, "slack.channel", "channel id"},
		{"channel user id", func(c *Config) { c.Slack.Channel = "U0123" }, "slack.channel", "channel id"},
		{"command without slash", func(c *Config) { c.Slack.Command = "ticket" }, "slack.command", "slash command"},
		{"command with space", func(c *Config) { c.Slack.Command = "/my ticket" }, "slack.command", "slash command"},
		{"thread_default unknown", func(c *Config) { c.Slack.ThreadDefault = "public" }, "slack.thread_default", `"note" or "reply"`},
		{"reply_prefix blank", func(c *Config) { c.Slack.ReplyPrefix = " " }, "slack.reply_prefix", "required"},
		{"agents bad key", func(c *Config) { c.Slack.Agents["alice"] = 3 }, "slack.agents[alice]", "Slack user id"},
		{"agents zero id", func(c *Config) { c.Slack.Agents["U0CCC"] = 0 }, "slack.agents[U0CCC]", "greater than 0"},
		{"digest_schedule bad", func(c *Config) { c.Slack.DigestSchedule = "9am weekdays" }, "slack.digest_schedule", "not a cron schedule"},
		{"http base_url off loopback", func(c *Config) { c.TaskIP.BaseURL = "http://taskip.test/api"; c.TaskIP.AllowInsecure = false },
			"taskip.base_url", "secret_key in clear"},
		{"max_response_bytes tiny", func(c *Config) { c.TaskIP.MaxResponseBytes = 100 }, "taskip.max_response_bytes", "at least 65536"},
		{"metrics_listen same as listen", func(c *Config) { c.HTTP.MetricsListen = c.HTTP.Listen }, "http.metrics_listen", "must differ"},
		{"metrics_listen no port", func(c *Config) { c.HTTP.MetricsListen = "localhost" }, "http.metrics_listen", "host:port"},
		{"max_connections tiny", func(c *Config) { c.HTTP.MaxConnections = 2 }, "http.max_connections", "at least 16"},
		{"imap cleartext off loopback", func(c *Config) { c.Mail.IMAP.TLS = TLSNone; c.Mail.IMAP.AllowInsecure = false },
			"mail.imap.tls", "password in clear"},
		{"smtp cleartext with AUTH off loopback", func(c *Config) { c.Mail.SMTP.TLS = TLSNone; c.Mail.SMTP.AllowInsecure = false },
			"mail.smtp.tls", "password in clear"},
		{"max_acknowledgements_per_hour zero", func(c *Config) { c.Mail.MaxAcknowledgementsPerHour = 0 }, "mail.max_acknowledgements_per_hour", "greater than 0"},
		{"trusted_authserv_ids blank", func(c *Config) { c.Mail.Authentication.TrustedAuthservIDs = []string{"mx.google.com", " x"} },
			"mail.authentication.trusted_authserv_ids[1]", "authserv-id"},
		{"log.level unknown", func(c *Config) { c.Log.Level = "verbose" }, "log.level", "must be one of"},
		{"log.format unknown", func(c *Config) { c.Log.Format = "logfmt" }, "log.format", `"text" or "json"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fullConfig()
			tc.mutate(&cfg)
			probs := problems(t, cfg.Validate())
			require.Len(t, probs, 1, "exactly one problem expected: %v", probs)
			assert.Equal(t, tc.path, probs[0].Path)
			assert.Contains(t, probs[0].Message, tc.msg)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"full config", func(*Config) {}},
		{"socket mode needs no signing secret", func(c *Config) { c.Slack.SigningSecret = "" }},
		{"intake only needs no smtp", func(c *Config) {
			c.Mail.SMTP = SMTP{}
			c.Mail.AcknowledgeNew, c.Mail.SendAgentReplies = false, false
		}},
		{"smtp without auth", func(c *Config) { c.Mail.SMTP.Username, c.Mail.SMTP.Password = "", "" }},
		{"listen on any port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:0" }},
		{"five-field schedule", func(c *Config) { c.TaskIP.PollSchedule = "*/5 * * * *" }},
		{"descriptor schedule", func(c *Config) { c.Mail.IMAP.PollSchedule = "@hourly" }},
		{"digest off", func(c *Config) { c.Slack.DigestSchedule = "" }},
		{"DM and private channels", func(c *Config) { c.Slack.Channel = "D0AB12" }},
		{"enterprise user", func(c *Config) { c.Slack.Agents = map[string]int{"W0123": 1} }},
		{"subject tag with spaces in the action", func(c *Config) { c.Mail.SubjectTag = "[{{ .ID }}/{{ .UUID }}]" }},
		{"no sections", func(c *Config) { c.Mail, c.Slack = nil, nil }},
		{"http base_url on loopback", func(c *Config) { c.TaskIP.BaseURL = "http://127.0.0.1:8081/api"; c.TaskIP.AllowInsecure = false }},
		{"http base_url allowed in clear", func(c *Config) { c.TaskIP.BaseURL = "http://taskip.test/api" }},
		{"imap cleartext to localhost", func(c *Config) {
			c.Mail.IMAP.TLS, c.Mail.IMAP.Addr, c.Mail.IMAP.AllowInsecure = TLSNone, "localhost:143", false
		}},
		{"smtp cleartext without AUTH", func(c *Config) {
			c.Mail.SMTP.TLS, c.Mail.SMTP.Username, c.Mail.SMTP.Password, c.Mail.SMTP.AllowInsecure = TLSNone, "", "", false
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fullConfig()
			tc.mutate(&cfg)
			assert.NoError(t, cfg.Validate())
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	cfg := fullConfig()
	cfg.Slack.Channel = ""
	cfg.HTTP.Listen = ""
	cfg.Log.Format = "xml"
	err := cfg.Validate()
	require.Error(t, err)
	assert.Equal(t, strings.Join([]string{
		"http.listen: required",
		"log.format: must be \"text\" or \"json\"",
		"slack.channel: required",
	}, "\n"), err.Error())

	withFile := &ValidationError{File: "ts.yaml", Problems: []Problem{
		{Path: "a", Message: "x", Line: 3}, {Path: "b", Message: "y"}, {Message: "z"},
	}}
	assert.Equal(t, "ts.yaml:3: a: x\nts.yaml: b: y\nts.yaml: z", withFile.Error())
	assert.Equal(t, "cfg/ts.yaml:3: a: x\ncfg/ts.yaml: b: y\ncfg/ts.yaml: z\n", withFile.Format("cfg/ts.yaml"))
	assert.Equal(t, withFile.Error()+"\n", withFile.Format(""))

	noFile := &ValidationError{Problems: []Problem{{Path: "a", Message: "x", Line: 3}, {Message: "z", Line: 1}}}
	assert.Equal(t, "line 1: z\nline 3: a: x", noFile.Error(), "in file order")
}

// Sender authentication off is valid but worth a warning; on, it is not.
func TestWarningsSayAuthenticationIsOff(t *testing.T) {
	cfg := fullConfig()
	cfg.Mail.Authentication = Authentication{}
	w := cfg.Warnings()
	require.Len(t, w, 1)
	assert.Equal(t, "mail.authentication", w[0].Path)
	assert.Contains(t, w[0].Message, "sender authentication is off")
	cfg.Mail.Authentication.TrustedAuthservIDs = []string{"mx.google.com"}
	assert.Empty(t, cfg.Warnings())
	cfg.Mail = nil
	assert.Empty(t, cfg.Warnings(), "no mail, nothing to authenticate")
}

// Which OAuth 2.0 sign-in is used follows from what is set; what is
// missing for it is named.
func TestValidateOAuth2(t *testing.T) {
	oauth := func(o OAuth2) func(c *Config) {
		return func(c *Config) {
			c.Mail.IMAP.Auth, c.Mail.IMAP.Password = AuthOAuth2, ""
			c.Mail.SMTP.Auth, c.Mail.SMTP.Password = AuthOAuth2, ""
			c.Mail.OAuth2 = o
		}
	}
	ms := OAuth2{Provider: ProviderMicrosoft, TenantID: "t", ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		path   string
		msg    string
	}{
		{"microsoft app-only with a secret", oauth(ms), "", ""},
		{"microsoft with a certificate", oauth(OAuth2{Provider: ProviderMicrosoft, TenantID: "t", ClientID: "c", ClientCertificateFile: "/c.pem", ClientKeyFile: "/k.pem"}), "", ""},
		{"microsoft delegated", oauth(OAuth2{Provider: ProviderMicrosoft, TenantID: "t", ClientID: "c", RefreshToken: "r"}), "", ""},
		{"google service account", oauth(OAuth2{Provider: ProviderGoogle, ServiceAccountFile: "/sa.json"}), "", ""},
		{"google one account", oauth(OAuth2{Provider: ProviderGoogle, ClientID: "c", ClientSecret: "s", RefreshToken: "r"}), "", ""},
		{"generic client credentials", oauth(OAuth2{Provider: ProviderGeneric, TokenURL: "https://idp.test/token", ClientID: "c", ClientSecret: "s", Scopes: []string{"mail"}}), "", ""},
		{"provider missing", oauth(OAuth2{}), "mail.oauth2.provider", "required with auth: oauth2"},
		{"provider unknown", oauth(OAuth2{Provider: "yahoo"}), "mail.oauth2.provider", `"microsoft", "google" or "generic"`},
		{"microsoft without any credential", oauth(OAuth2{Provider: ProviderMicrosoft, TenantID: "t", ClientID: "c"}), "mail.oauth2.client_secret", "ticketsync mail authorize"},
		{"microsoft without a tenant", oauth(OAuth2{Provider: ProviderMicrosoft, ClientID: "c", ClientSecret: "s"}), "mail.oauth2.tenant_id", "required"},
		{"certificate without its key", oauth(OAuth2{Provider: ProviderMicrosoft, TenantID: "t", ClientID: "c", ClientCertificateFile: "/c.pem"}), "mail.oauth2.client_key_file", "go together"},
		{"google with nothing", oauth(OAuth2{Provider: ProviderGoogle, ClientID: "c"}), "mail.oauth2.refresh_token", "service_account_file"},
		{"generic without a token URL", oauth(OAuth2{Provider: ProviderGeneric, ClientID: "c", ClientSecret: "s", Scopes: []string{"x"}}), "mail.oauth2.token_url", "required"},
		{"generic without scopes", oauth(OAuth2{Provider: ProviderGeneric, TokenURL: "https://idp.test/t", ClientID: "c", ClientSecret: "s"}), "mail.oauth2.scopes", "required"},
		{"a password next to oauth2", func(c *Config) { oauth(ms)(c); c.Mail.IMAP.Password = "pw" }, "mail.imap.password", "not used with auth: oauth2"},
		{"smtp oauth2 needs the mailbox", func(c *Config) { oauth(ms)(c); c.Mail.SMTP.Username = "" }, "mail.smtp.username", "the mailbox to sign in as"},
		{"auth unknown", func(c *Config) { c.Mail.IMAP.Auth = "kerberos" }, "mail.imap.auth", `"password" or "oauth2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fullConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.path == "" {
				assert.NoError(t, err)
				return
			}
			probs := problems(t, err)
			require.Len(t, probs, 1, "exactly one problem expected: %v", probs)
			assert.Equal(t, tc.path, probs[0].Path)
			assert.Contains(t, probs[0].Message, tc.msg)
		})
	}
}
