package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withMail and withSlack complete a minimal config with valid sections so a
// test can vary one key.
const validMail = `
mail:
  address: support@example.com
  imap: {addr: "imap.example.com:993", username: u, password: p}
  smtp: {addr: "smtp.example.com:587"}
`

const validSlack = `
slack:
  bot_token: xoxb-1
  signing_secret: s
  channel: C0123
`

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name, yaml string
		path, msg  string
	}{
		{"unknown top-level key", minimalYAML + "tasks: {}\n", "tasks", "unknown key"},
		{"unknown nested key", minimalYAML + validMail + "  imap2: {}\n", "mail.imap2", "unknown key"},
		{"typo gets a suggestion", minimalYAML + `
mail:
  address: support@example.com
  imap: {addr: "imap.example.com:993", tsl: starttls, username: u, password: p}
`, "mail.imap.tsl", `unknown key, did you mean "tls"?`},
		{"_file on a non-secret", minimalYAML + "  base_url_file: /x\n", "taskip.base_url_file", "unknown key"},
		{"duration type", minimalYAML + "  timeout: banana\n", "taskip.timeout", "must be a duration"},
		{"bare number is no duration", minimalYAML + "  timeout: 15\n", "taskip.timeout", "must be a duration"},
		{"int type", minimalYAML + validMail + "  max_message_bytes: lots\n", "mail.max_message_bytes", "must be an integer"},
		{"int in a map", minimalYAML + validMail + "  senders: {a@b.co: many}\n", "mail.senders[a@b.co]", "must be an integer"},
		{"bool type", minimalYAML + validMail + "  lookup_contacts: maybe\n", "mail.lookup_contacts", "must be true or false"},
		{"list type", minimalYAML + validMail + "  allowed_list_ids: team.customer.example\n", "mail.allowed_list_ids", "must be a list"},
		{"list element type", minimalYAML + validMail + "  allowed_list_ids: [[a]]\n", "mail.allowed_list_ids[0]", "must be a string"},
		{"tickets per hour", minimalYAML + validMail + "  max_tickets_per_hour: 0\n", "mail.max_tickets_per_hour", "must be greater than 0"},
		{"string type", minimalYAML + "state: {path: [a, b]}\n", "state.path", "must be a string"},
		{"section type", minimalYAML + "mail: [1, 2]\n", "mail", "must be a mapping"},
		{"nested section type", minimalYAML + "http: 8080\n", "http", "must be a mapping"},
		{"map type", minimalYAML + validSlack + "  agents: [U1]\n", "slack.agents", "must be a mapping"},
		{"duplicate key", minimalYAML + "  secret_key: again\n", "taskip.secret_key", "duplicate key (first on line 4)"},
		{"root not a mapping", "- a\n- b\n", "", "must be a mapping"},
		{"two documents", minimalYAML + "---\nstate: {}\n", "", "only one YAML document is allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), testOpts())
			probs := problems(t, err)
			assert.Contains(t, probs, findProblem(probs, tc.path), "paths: %v", paths(probs))
			assert.Contains(t, findProblem(probs, tc.path).Message, tc.msg)
		})
	}
}

func findProblem(probs []Problem, path string) Problem {
	for _, p := range probs {
		if p.Path == path {
			return p
		}
	}
	return Problem{Path: path, Message: "<no problem at this path>"}
}

func TestDecodeProblemsAreNotRepeated(t *testing.T) {
	t.Run("a failed value is not also reported by validation", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {secret_key: [x]}\nmail: {imap: 5}\n"), testOpts())
		probs := problems(t, err)
		assert.Equal(t, []string{"mail.address", "mail.imap", "mail.smtp.addr", "mail.smtp.from", "taskip.secret_key"}, paths(probs))
		assert.Equal(t, "must be a string", findProblem(probs, "taskip.secret_key").Message)
	})
	t.Run("all problems at once, in file order, with lines", func(t *testing.T) {
		_, err := Parse([]byte("taskip:\n  timeout: x\n  bogus: 1\nstate: {path: \"\"}\n"), testOpts())
		require.Error(t, err)
		assert.Equal(t, strings.Join([]string{
			"line 1: taskip.secret_key: required",
			"line 2: taskip.timeout: must be a duration such as 15s or 1m30s",
			"line 3: taskip.bogus: unknown key",
			"line 4: state.path: required",
		}, "\n"), err.Error())
	})
}

func TestSyntaxAndReadErrors(t *testing.T) {
	t.Run("yaml syntax", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {secret_key: \"unterminated\n"), testOpts())
		assert.Equal(t, []Problem{{Line: 1, Message: "YAML syntax error: a quoted value starts on this line and its closing quote is missing"}},
			problems(t, err))
	})
	t.Run("missing config file", func(t *testing.T) {
		_, err := Load("/nonexistent/ticketsync.yaml", testOpts())
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "config: read /nonexistent/ticketsync.yaml")
	})
	t.Run("empty file needs a secret", func(t *testing.T) {
		_, err := Parse(nil, testOpts())
		assert.Equal(t, []string{"taskip.secret_key"}, paths(problems(t, err)))
	})
}

func TestEnvExpansion(t *testing.T) {
	vars := env(map[string]string{"KEY": "k-1", "HOST": "imap.example.com", "EMPTY": "", "SECS": "20s", "MAX": "1000"})
	tests := []struct {
		name, value, want string
	}{
		{"whole value", "${KEY}", "k-1"},
		{"inside text", "pre-${KEY}-${KEY}", "pre-k-1-k-1"},
		{"bare dollar stays", "pa$word$", "pa$word$"},
		{"$NAME form stays", "$KEY", "$KEY"},
		{"double dollar stays", "a$$b", "a$$b"},
		{"$${ escapes", "$${KEY}", "${KEY}"},
		{"set but empty", "x${EMPTY}y", "xy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("taskip: {secret_key: '"+tc.value+"'}\n"), LoadOptions{Getenv: vars})
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg.TaskIP.SecretKey.Reveal())
		})
	}
	t.Run("typed values expand before decoding", func(t *testing.T) {
		cfg, err := Parse([]byte(minimalYAML+"  timeout: ${SECS}\n"+validMail+"  max_message_bytes: \"${MAX}\"\n"), LoadOptions{Getenv: vars})
		require.NoError(t, err)
		assert.Equal(t, 20*time.Second, cfg.TaskIP.Timeout)
		assert.EqualValues(t, 1000, cfg.Mail.MaxMessageBytes)
	})
	t.Run("comments are not expanded", func(t *testing.T) {
		_, err := Parse([]byte(minimalYAML+"# see ${NOT_SET}\n"), LoadOptions{Getenv: vars})
		require.NoError(t, err)
	})

	bad := []struct {
		name, value, path, msg string
	}{
		{"unset variable", "${NOPE}", "taskip.secret_key", "environment variable NOPE is not set"},
		{"several unset", "${A1}${B2}", "taskip.secret_key", "environment variables A1, B2 are not set"},
		{"unterminated", "${KEY", "taskip.secret_key", "malformed variable reference"},
		{"shell default syntax", "${KEY:-x}", "taskip.secret_key", "malformed variable reference"},
		{"empty name", "${}", "taskip.secret_key", "malformed variable reference"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("taskip: {secret_key: '"+tc.value+"'}\n"), LoadOptions{Getenv: vars})
			probs := problems(t, err)
			require.Len(t, probs, 1, "no follow-up 'required': %v", probs)
			assert.Equal(t, tc.path, probs[0].Path)
			assert.Contains(t, probs[0].Message, tc.msg)
		})
	}
	t.Run("unset variable in a typed value", func(t *testing.T) {
		_, err := Parse([]byte(minimalYAML+"  timeout: ${NOPE}\n"), LoadOptions{Getenv: vars})
		assert.Equal(t, "line 5: taskip.timeout: environment variable NOPE is not set", err.Error())
	})
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	taskipKey := write("taskip", "file-secret\n")
	imapPW := write("imap", "imap-file\r\n")
	write("relative", "rel-secret\n")
	bot := write("bot", "xoxb-from-file")
	signing := write("signing", "sign-file\n\n")
	app := write("app", "xapp-file\n")

	t.Run("every secret reads its _file", func(t *testing.T) {
		cfg, err := Parse([]byte(`
taskip: {secret_key_file: `+taskipKey+`}
mail:
  address: support@example.com
  imap: {addr: "imap.example.com:993", username: u, password_file: `+imapPW+`}
  smtp: {addr: "smtp.example.com:587", username: u, password_file: "${SMTP_FILE}"}
slack: {bot_token_file: `+bot+`, signing_secret_file: `+signing+`, app_token_file: `+app+`, channel: C1}
`), LoadOptions{Getenv: env(map[string]string{"SMTP_FILE": taskipKey})})
		require.NoError(t, err)
		assert.Equal(t, Secret("file-secret"), cfg.TaskIP.SecretKey)
		assert.Equal(t, Secret("imap-file"), cfg.Mail.IMAP.Password)
		assert.Equal(t, Secret("file-secret"), cfg.Mail.SMTP.Password)
		assert.Equal(t, Secret("xoxb-from-file"), cfg.Slack.BotToken)
		assert.Equal(t, Secret("sign-file"), cfg.Slack.SigningSecret)
		assert.Equal(t, Secret("xapp-file"), cfg.Slack.AppToken)
	})
	t.Run("relative path resolves against the config file", func(t *testing.T) {
		cfgPath := write("ticketsync.yaml", "taskip: {secret_key_file: relative}\n")
		cfg, err := Load(cfgPath, LoadOptions{Getenv: env(nil)})
		require.NoError(t, err)
		assert.Equal(t, Secret("rel-secret"), cfg.TaskIP.SecretKey)
	})
	t.Run("both given", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {secret_key: inline-secret, secret_key_file: "+taskipKey+"}\n"), testOpts())
		probs := problems(t, err)
		require.Len(t, probs, 1)
		assert.Equal(t, "taskip.secret_key", probs[0].Path)
		assert.Equal(t, "set either secret_key or secret_key_file, not both", probs[0].Message)
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nope")
		_, err := Parse([]byte(minimalYAML+validSlack+"  app_token_file: "+missing+"\n"), LoadOptions{Getenv: env(nil)})
		probs := problems(t, err)
		require.Len(t, probs, 1, "no follow-up problem on slack.app_token: %v", probs)
		assert.Equal(t, "slack.app_token_file", probs[0].Path)
		assert.Equal(t, "cannot read "+missing+": no such file or directory", probs[0].Message)
	})
	t.Run("empty file name", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {secret_key_file: ''}\n"), testOpts())
		assert.Equal(t, []string{"taskip.secret_key_file"}, paths(problems(t, err)))
	})
	t.Run("empty file content", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {secret_key_file: "+write("empty", "\n")+"}\n"), LoadOptions{Getenv: env(nil)})
		assert.Equal(t, []string{"taskip.secret_key"}, paths(problems(t, err)), "%v", err)
	})
}

func TestYAMLFeatures(t *testing.T) {
	const imapAnchor = minimalYAML + `
mail:
  address: support@example.com
  imap: &imap {addr: "mail.example.com:993", username: shared, password: pw, mailbox: Support}
  smtp:
    <<: *imap
    addr: "mail.example.com:465"
`
	t.Run("merged keys are checked like written ones", func(t *testing.T) {
		_, err := Parse([]byte(imapAnchor), testOpts())
		assert.Equal(t, []string{"mail.smtp.mailbox"}, paths(problems(t, err)))
	})
	t.Run("anchors need a known key", func(t *testing.T) {
		_, err := Parse([]byte(minimalYAML+"x-login: &login {username: shared}\n"), testOpts())
		assert.Equal(t, []string{"x-login"}, paths(problems(t, err)))
	})
	t.Run("explicit keys win over merged ones", func(t *testing.T) {
		doc := strings.Replace(imapAnchor, ", mailbox: Support", "", 1) + "    password: ${NONE}\n"
		_, err := Parse([]byte(doc), testOpts())
		assert.Equal(t, []string{"mail.smtp.password"}, paths(problems(t, err)))
	})
	t.Run("merge fills the rest", func(t *testing.T) {
		cfg, err := Parse([]byte(strings.Replace(imapAnchor, ", mailbox: Support", "", 1)), testOpts())
		require.NoError(t, err)
		assert.Equal(t, "shared", cfg.Mail.SMTP.Username)
		assert.Equal(t, Secret("pw"), cfg.Mail.SMTP.Password)
		assert.Equal(t, "mail.example.com:465", cfg.Mail.SMTP.Addr)
	})
	t.Run("senders are lower-cased", func(t *testing.T) {
		cfg, err := Parse([]byte(minimalYAML+validMail+"  senders: {' Ann@Example.COM ': 4}\n"), testOpts())
		require.NoError(t, err)
		assert.Equal(t, map[string]int{"ann@example.com": 4}, cfg.Mail.Senders)
	})
	t.Run("senders differing only in case", func(t *testing.T) {
		_, err := Parse([]byte(minimalYAML+validMail+"  senders: {ann@example.com: 4, ANN@example.com: 5}\n"), testOpts())
		assert.Equal(t, []string{"mail.senders[ann@example.com]"}, paths(problems(t, err)))
	})
}

func TestRootProblems(t *testing.T) {
	t.Run("a root that is no mapping hides the follow-ups", func(t *testing.T) {
		_, err := Parse([]byte("- a\n- b\n"), testOpts())
		assert.Equal(t, []string{""}, paths(problems(t, err)))
	})
	t.Run("a second document still validates the first", func(t *testing.T) {
		_, err := Parse([]byte("taskip: {}\n---\nx: 1\n"), testOpts())
		assert.Equal(t, []string{"", "taskip.secret_key"}, paths(problems(t, err)))
		assert.Contains(t, err.Error(), "line 2: only one YAML document is allowed")
	})
	t.Run("a trailing document marker is harmless", func(t *testing.T) {
		_, err := Parse([]byte(minimalYAML+"---\n"), testOpts())
		require.NoError(t, err)
	})
}

// A secret read from a file remembers the file, so it can be read again
// when a provider refuses it; an inline one does not.
func TestSecretFileIsRemembered(t *testing.T) {
	dir := t.TempDir()
	rt := filepath.Join(dir, "refresh_token")
	require.NoError(t, os.WriteFile(rt, []byte("rt-value\n"), 0o600))
	cfgPath := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`taskip: {secret_key: k}
mail:
  address: support@example.com
  acknowledge_new: false
  send_agent_replies: false
  imap: {addr: "imap.example.com:993", username: support@example.com, auth: oauth2}
  oauth2: {provider: microsoft, tenant_id: t, client_id: c, client_secret: s, refresh_token_file: refresh_token}
`), 0o600))
	cfg, err := Load(cfgPath, LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, "rt-value", cfg.Mail.OAuth2.RefreshToken.Reveal())
	assert.Equal(t, rt, cfg.SecretFile("mail.oauth2.refresh_token"))
	assert.Empty(t, cfg.SecretFile("mail.oauth2.client_secret"))
}
