package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// RedactedText is what a set secret prints as, everywhere.
const RedactedText = "[redacted]"

// Secret holds a credential. Every way of printing or serialising it (fmt
// verbs including %#v, slog, YAML, JSON) yields "[redacted]", or "" when it
// is unset so that an operator can still tell the two apart. Use Reveal at
// the single point where the credential is handed to a client.
type Secret string

// Reveal returns the credential itself.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return RedactedText
}

// GoString implements fmt.GoStringer so %#v cannot leak.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format implements fmt.Formatter; without it %x or %d on the underlying
// string would print the bytes.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q', verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
	default:
		_, _ = io.WriteString(f, s.String())
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// secrets lists every secret field for redaction; TestSecretsListed fails
// when a Secret field is added to the structs but not here.
func (c *Config) secrets() []*Secret {
	out := []*Secret{&c.TaskIP.SecretKey}
	if c.Mail != nil {
		out = append(out, &c.Mail.IMAP.Password, &c.Mail.SMTP.Password, &c.Mail.OAuth2.ClientSecret, &c.Mail.OAuth2.RefreshToken)
	}
	if c.Slack != nil {
		out = append(out, &c.Slack.BotToken, &c.Slack.SigningSecret, &c.Slack.AppToken)
	}
	return out
}

// Redacted returns a deep copy whose set secrets read "[redacted]" even
// through Reveal, and whose URLs show no password, for check-config to
// print what it understood.
func (c Config) Redacted() Config {
	c.TaskIP.BaseURL = RedactURL(c.TaskIP.BaseURL)
	c.TaskIP.TicketURLTemplate = RedactURL(c.TaskIP.TicketURLTemplate)
	if c.Mail != nil {
		m := *c.Mail
		m.Senders = maps.Clone(m.Senders)
		m.OAuth2.Scopes = slices.Clone(m.OAuth2.Scopes)
		m.OAuth2.TokenURL = RedactURL(m.OAuth2.TokenURL)
		c.Mail = &m
	}
	if c.Slack != nil {
		s := *c.Slack
		s.Agents = maps.Clone(s.Agents)
		s.APIURL = RedactURL(s.APIURL)
		c.Slack = &s
	}
	for _, s := range c.secrets() {
		if *s != "" {
			*s = RedactedText
		}
	}
	return c
}

// String prints the effective configuration as YAML with secrets redacted,
// which is what check-config shows.
func (c Config) String() string {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		return fmt.Sprintf("config: marshal: %v", err)
	}
	_ = enc.Close()
	return b.String()
}

// plainConfig is Config without the methods below, so that they can encode
// a redacted copy without calling themselves.
type plainConfig Config

// MarshalYAML implements yaml.Marshaler. A URL's password is a plain
// string, which unlike a Secret cannot hide itself; this keeps the two
// equally safe to log.
func (c Config) MarshalYAML() (any, error) { return plainConfig(c.Redacted()), nil }

// MarshalJSON implements json.Marshaler, and so covers slog's JSON handler.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(plainConfig(c.Redacted())) }

// GoString implements fmt.GoStringer so %#v cannot leak.
func (c Config) GoString() string {
	s := fmt.Sprintf("%#v", plainConfig(c.Redacted()))
	return strings.Replace(s, "plainConfig", "Config", 1)
}

// RedactedPassword stands in for the password of a URL's user info, as in
// url.URL.Redacted.
const RedactedPassword = "xxxxx"

// RedactURL hides the password of a URL's user info, so that
// `https://user:pass@host/x` prints as `https://user:xxxxx@host/x`. Unlike
// url.URL.Redacted it leaves the rest as written rather than re-encoded, so
// the printed value is still recognisably the configured one, and it hides
// a user info without a password too: `https://TOKEN@host` is a common way
// to pass a token.
//
// Text that does not parse as a URL, such as a password with an unescaped
// "/", is cut at its last "@" instead: for a value that is already invalid,
// hiding too much beats showing the password.
func RedactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if u, err := url.Parse(s); err == nil {
		if u.User == nil {
			return s
		}
		// url.Parse ends the authority at the first of these.
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			at = strings.LastIndexByte(rest[:end], '@')
		}
	}
	if at < 0 {
		return s
	}
	hidden := RedactedPassword
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		hidden = user + ":" + RedactedPassword
	}
	return s[:i+3] + hidden + rest[at:]
}
