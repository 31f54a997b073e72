package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-value")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		t.Run(verb, func(t *testing.T) {
			out := fmt.Sprintf(verb, s)
			assert.NotContains(t, out, "hunter2")
			assert.NotContains(t, out, fmt.Sprintf("%x", "hunter2"))
			assert.Contains(t, out, RedactedText)
		})
	}
	t.Run("empty stays empty", func(t *testing.T) {
		assert.Equal(t, "", Secret("").String())
		assert.Equal(t, `""`, fmt.Sprintf("%#v", Secret("")))
	})
	t.Run("reveal", func(t *testing.T) {
		assert.Equal(t, "hunter2-value", s.Reveal())
	})
}

func loadedWithSecrets(t *testing.T) *Config {
	t.Helper()
	cfg := fullConfig()
	cfg.TaskIP.SecretKey = "LEAK-taskip"
	cfg.Mail.IMAP.Password = "LEAK-imap"
	cfg.Mail.SMTP.Password = "LEAK-smtp"
	cfg.Slack.BotToken = "xoxb-LEAK-bot"
	cfg.Slack.SigningSecret = "LEAK-signing"
	cfg.Slack.AppToken = "xapp-LEAK-app"
	require.NoError(t, cfg.Validate())
	return &cfg
}

func TestRedactedOutput(t *testing.T) {
	cfg := loadedWithSecrets(t)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "config", cfg, "key", cfg.TaskIP.SecretKey)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "config", *cfg, "key", cfg.Slack.BotToken)
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	ym, err := yaml.Marshal(cfg)
	require.NoError(t, err)

	outputs := map[string]string{
		"String":   cfg.String(),
		"%v":       fmt.Sprintf("%v", *cfg),
		"%+v":      fmt.Sprintf("%+v", *cfg),
		"%#v":      fmt.Sprintf("%#v", *cfg),
		"%#v ptr":  fmt.Sprintf("%#v", cfg.Mail),
		"%+v ptr":  fmt.Sprintf("%+v", cfg.Slack),
		"slog":     logs.String(),
		"json":     string(js),
		"yaml":     string(ym),
		"Redacted": fmt.Sprintf("%#v %#v %#v", cfg.Redacted().TaskIP.SecretKey.Reveal(), cfg.Redacted().Mail.IMAP.Password.Reveal(), cfg.Redacted().Slack.AppToken.Reveal()),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, out, "LEAK")
			assert.Contains(t, out, RedactedText)
		})
	}

	t.Run("String is the effective config", func(t *testing.T) {
		var back map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(cfg.String()), &back))
		assert.Equal(t, RedactedText, back["taskip"].(map[string]any)["secret_key"])
		assert.Equal(t, "45s", back["taskip"].(map[string]any)["timeout"])
		assert.Equal(t, 15, back["mail"].(map[string]any)["senders"].(map[string]any)["john@acme.com"])
	})
	t.Run("Redacted is a copy", func(t *testing.T) {
		r := cfg.Redacted()
		r.Mail.Senders["x@y.z"] = 1
		r.Slack.Agents["U9"] = 1
		assert.Equal(t, Secret("LEAK-taskip"), cfg.TaskIP.SecretKey)
		assert.Equal(t, Secret("xoxb-LEAK-bot"), cfg.Slack.BotToken)
		assert.NotContains(t, cfg.Mail.Senders, "x@y.z")
		assert.NotContains(t, cfg.Slack.Agents, "U9")
	})
	t.Run("unset secrets stay visibly unset", func(t *testing.T) {
		c := Default()
		assert.Equal(t, Secret(""), c.Redacted().TaskIP.SecretKey)
	})
}

// A URL's password is a plain string, so it is the whole Config that hides
// it, in every form the config can be printed or logged in.
func TestURLPasswordNeverPrints(t *testing.T) {
	cfg := fullConfig()
	cfg.TaskIP.BaseURL = "https://ops:LEAK-url@taskip.test/api/v2"
	cfg.TaskIP.TicketURLTemplate = "https://LEAK-token@desk.test/t/{{.UUID}}"
	cfg.Mail.OAuth2.TokenURL = "https://id:LEAK-token-url@login.test/token"
	cfg.Slack.APIURL = "https://bot:LEAK-api-url@slack.test/api/"
	require.NoError(t, cfg.Validate())

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "config", &cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "config", cfg)
	js, err := json.Marshal(&cfg)
	require.NoError(t, err)
	ym, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	for name, out := range map[string]string{
		"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", &cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"slog": logs.String(), "json": string(js), "yaml": string(ym),
	} {
		assert.NotContains(t, out, "LEAK", name)
		assert.Contains(t, out, "https://ops:xxxxx@taskip.test/api/v2", name)
	}
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%#v", cfg), "config.Config{"), "%#v", cfg)

	r := cfg.Redacted()
	assert.Equal(t, "https://ops:xxxxx@taskip.test/api/v2", r.TaskIP.BaseURL)
	assert.Equal(t, "https://xxxxx@desk.test/t/{{.UUID}}", r.TaskIP.TicketURLTemplate)
	assert.Equal(t, "https://id:xxxxx@login.test/token", r.Mail.OAuth2.TokenURL)
	assert.Equal(t, "https://bot:xxxxx@slack.test/api/", r.Slack.APIURL)
	assert.Equal(t, "https://ops:LEAK-url@taskip.test/api/v2", cfg.TaskIP.BaseURL, "Redacted changed the original")
	assert.Equal(t, "https://bot:LEAK-api-url@slack.test/api/", cfg.Slack.APIURL, "Redacted changed the original")
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pass@host/x", "https://user:xxxxx@host/x"},
		{"https://user:@host", "https://user:xxxxx@host"},
		{"https://token@host/x", "https://xxxxx@host/x"},
		{"http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"},
		{"https://host/a@b?c=d@e#f@g", "https://host/a@b?c=d@e#f@g"},
		// The rest stays as written, where url.URL.Redacted re-encodes.
		{"https://u:p@host/a%2fb/{{.UUID}}?q=a b", "https://u:xxxxx@host/a%2fb/{{.UUID}}?q=a b"},
		{"https://u:p@ss@host/x@y", "https://u:xxxxx@host/x@y"},
		{"https://u%40x:p@host", "https://u%40x:xxxxx@host"},
		// Unparsable, so cut at the last "@": the password has a "/".
		{"https://u:pa/ss@host/x", "https://u:xxxxx@host/x"},
		{"https://u:pa ss@host:port", "https://u:xxxxx@host:port"},
		{"https://host:port/x", "https://host:port/x"},
		{"user:pass@host", "user:pass@host"},
		{"", ""},
	} {
		got := RedactURL(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, got, RedactURL(got), "twice")
	}
}

// TestNoSecretInErrors feeds secrets that are wrong in every way the loader
// can notice and checks that no error text carries any part of them.
func TestNoSecretInErrors(t *testing.T) {
	dir := t.TempDir()
	botFile := filepath.Join(dir, "bot")
	require.NoError(t, os.WriteFile(botFile, []byte("LEAK-file-bot\n"), 0o600))
	vars := env(map[string]string{"LEAKY": "LEAK-env-value", "SIGN": "LEAK-env-sign"})

	docs := map[string]string{
		"every secret malformed": `
taskip: {base_url: "ftp://user:LEAK-url@host", secret_key: "LEAK-taskip", timeout: LEAK-timeout}
mail:
  address: "LEAK-addr"
  imap: {addr: "LEAK-imap-addr", password: "LEAK-imap", tls: LEAK-tls}
  smtp: {addr: "smtp.example.com:25", password: "LEAK-smtp", from: "LEAK-from"}
  max_message_bytes: ${LEAKY}
slack:
  bot_token: "LEAK-bot"
  app_token: "LEAK-app"
  signing_secret: ${SIGN}
  api_url: "LEAK-api"
  channel: LEAK-channel
  bot_tokn: LEAK-typo
`,
		"secrets of the wrong shape": `
taskip: {secret_key: {nested: LEAK-nested}}
slack: {bot_token: [LEAK-seq], signing_secret: LEAK-dup, signing_secret: LEAK-dup2, channel: C1}
`,
		"malformed reference":  "taskip: {secret_key: 'LEAK-${broken'}\n",
		"both inline and file": "taskip: {secret_key: LEAK-both, secret_key_file: " + botFile + "}\n",
		"file content invalid": "taskip: {secret_key: k}\nslack: {bot_token_file: " + botFile + ", signing_secret: LEAK-s, channel: C1}\n",
		"unterminated quote":   "taskip:\n  secret_key: \"LEAK-syntax\n  timeout: 1s\n",
		"bad indentation":      "taskip:\n  secret_key: LEAK-indent\n   timeout: 1s\n",
		"tab indentation":      "taskip:\n\tsecret_key: LEAK-tab\n",
		"second document":      minimalYAML + "---\nLEAK-doc: LEAK-doc\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc), LoadOptions{Getenv: vars})
			require.Error(t, err)
			texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
			for e := err; e != nil; e = errors.Unwrap(e) {
				texts = append(texts, e.Error())
			}
			var verr *ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					texts = append(texts, p.String())
				}
			}
			for _, text := range texts {
				assert.NotContains(t, text, "LEAK")
			}
		})
	}
}

func TestSecretsListed(t *testing.T) {
	// secretFields finds every Secret in a config by reflection, so a field
	// added later is covered without editing this test.
	var secretFields func(v reflect.Value, path string, out map[string]reflect.Value)
	secretFields = func(v reflect.Value, path string, out map[string]reflect.Value) {
		switch {
		case v.Type() == secretType:
			out[path] = v
		case v.Kind() == reflect.Pointer && !v.IsNil():
			secretFields(v.Elem(), path, out)
		case v.Kind() == reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				secretFields(v.Field(i), join(path, v.Type().Field(i).Name), out)
			}
		}
	}
	cfg := Config{Mail: &Mail{}, Slack: &Slack{}}
	fields := map[string]reflect.Value{}
	secretFields(reflect.ValueOf(&cfg).Elem(), "", fields)
	assert.Len(t, fields, 8, "six secrets, and mail.oauth2's client secret and refresh token")
	for _, v := range fields {
		v.SetString("LEAK")
	}
	r := cfg.Redacted()
	redacted := map[string]reflect.Value{}
	secretFields(reflect.ValueOf(&r).Elem(), "", redacted)
	for path, v := range redacted {
		assert.Equal(t, RedactedText, v.String(), "%s must be listed in Config.secrets", path)
	}
}
