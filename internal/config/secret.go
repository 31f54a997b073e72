package config

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
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
// through Reveal, for check-config to print what it understood.
func (c Config) Redacted() Config {
	if c.Mail != nil {
		m := *c.Mail
		m.Senders = maps.Clone(m.Senders)
		m.OAuth2.Scopes = slices.Clone(m.OAuth2.Scopes)
		c.Mail = &m
	}
	if c.Slack != nil {
		s := *c.Slack
		s.Agents = maps.Clone(s.Agents)
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
