package config

import (
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Problem is one wrong key or value. Message never contains a value from
// the file, so problems can be printed and logged as they are.
type Problem struct {
	Path    string // dotted, e.g. mail.imap.tls; map entries as mail.senders[a@b.c]
	Message string
	Line    int // 0 when unknown, e.g. for a config built in code
}

func (p Problem) String() string {
	path := p.Path
	if path == "" {
		path = "(document)"
	}
	return path + ": " + p.Message
}

// format renders p as `file:line: path: message`, the form editors and CI
// log matchers jump from. Parts that are unknown are left out; a problem of
// the whole document (a syntax error) has no path.
func (p Problem) format(file string) string {
	var b strings.Builder
	switch {
	case file != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", file, p.Line)
	case file != "":
		b.WriteString(file + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError carries every problem found, sorted by path (Format
// lists them in file order).
type ValidationError struct {
	File     string // set by Load
	Problems []Problem
}

func newValidationError(file string, probs []Problem) *ValidationError {
	sorted := append([]Problem(nil), probs...)
	// Stable so that two problems on one path keep the order they were found.
	slices.SortStableFunc(sorted, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
	return &ValidationError{File: file, Problems: sorted}
}

// Error lists one problem per line as Format does, under e.File.
func (e *ValidationError) Error() string {
	return strings.TrimSuffix(e.Format(""), "\n")
}

// Format lists the problems one per line, each ending in a newline, as
// `file:line: path: message`. file names the configuration as the user gave
// it; "" uses e.File.
func (e *ValidationError) Format(file string) string {
	if file == "" {
		file = e.File
	}
	// In file order, as an editor walks them; keys missing from the file
	// have no line and come last.
	probs := slices.Clone(e.Problems)
	slices.SortStableFunc(probs, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return a.Line - b.Line
	})
	var b strings.Builder
	for _, p := range probs {
		b.WriteString(p.format(file) + "\n")
	}
	return b.String()
}

// Validate reports every problem of a config at once. Load and Parse call
// it; it is exported for configs assembled in code (demo, tests).
func (c *Config) Validate() error {
	if probs := c.problems(); len(probs) > 0 {
		return newValidationError("", probs)
	}
	return nil
}

type checker []Problem

func (ch *checker) add(path, format string, args ...any) {
	*ch = append(*ch, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

var (
	slackChannelRe = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)
	slackUserRe    = regexp.MustCompile(`^[UW][A-Z0-9]+$`)
)

func (c *Config) problems() []Problem {
	var ch checker
	t := c.TaskIP
	ch.httpURL("taskip.base_url", t.BaseURL, true)
	if u, err := url.Parse(t.BaseURL); err == nil && u.Scheme == "http" && u.Host != "" && !t.AllowInsecure && !isLoopbackHost(u.Hostname()) {
		ch.add("taskip.base_url", "http:// would send taskip.secret_key in clear to a host other than loopback: use https, or set taskip.allow_insecure: true")
	}
	if t.MaxResponseBytes < 64<<10 {
		ch.add("taskip.max_response_bytes", "must be at least 65536")
	}
	ch.required("taskip.secret_key", string(t.SecretKey))
	if t.Timeout <= 0 {
		ch.add("taskip.timeout", "must be greater than 0")
	}
	ch.schedule("taskip.poll_schedule", t.PollSchedule, true)
	if t.AgentID < 0 {
		ch.add("taskip.agent_id", "must not be negative")
	}
	if t.TicketURLTemplate != "" {
		if out, ok := ch.template("taskip.ticket_url_template", t.TicketURLTemplate); ok && !isHTTPURL(out) {
			ch.add("taskip.ticket_url_template", "must render an absolute http(s) URL")
		}
	}
	ch.state(c.State)
	ch.hostPort("http.listen", c.HTTP.Listen, true)
	if ml := c.HTTP.MetricsListen; ml != "" {
		ch.hostPort("http.metrics_listen", ml, true)
		if ml == c.HTTP.Listen {
			ch.add("http.metrics_listen", "must differ from http.listen")
		}
	}
	if c.HTTP.MaxConnections < 16 {
		ch.add("http.max_connections", "must be at least 16")
	}
	if c.Mail != nil {
		ch.mail(c.Mail)
	}
	if c.Slack != nil {
		ch.slack(c.Slack)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		ch.add("log.level", `must be one of "debug", "info", "warn", "error"`)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		ch.add("log.format", `must be "text" or "json"`)
	}
	return ch
}

func (ch *checker) state(s State) {
	ch.required("state.path", s.Path)
	if s.BackupDir != "" {
		// Relative to what? The daemon's working directory is nobody's
		// choice in a container, and usually not writable.
		if !filepath.IsAbs(s.BackupDir) {
			ch.add("state.backup_dir", "must be an absolute path")
		} else if s.Path != "" && filepath.Clean(s.BackupDir) == filepath.Clean(s.Path) {
			ch.add("state.backup_dir", "must be a directory, not the state file itself")
		}
		ch.schedule("state.backup_schedule", s.BackupSchedule, true)
	}
	if s.BackupKeep < 1 {
		ch.add("state.backup_keep", "must be at least 1")
	}
}

func (ch *checker) mail(m *Mail) {
	if ch.required("mail.address", m.Address) {
		if !isBareAddress(m.Address) {
			ch.add("mail.address", "must be a bare email address such as support@example.com")
		} else if local, _, _ := strings.Cut(m.Address, "@"); strings.Contains(local, "+") {
			ch.add("mail.address", `must not contain "+": replies are addressed to address+<uuid>@domain`)
		}
	}

	i := m.IMAP
	ch.hostPort("mail.imap.addr", i.Addr, false)
	ch.tls("mail.imap.tls", i.TLS)
	ch.required("mail.imap.username", i.Username)
	switch i.Auth {
	case AuthPassword, "": // "" in a config built in code
		ch.required("mail.imap.password", string(i.Password))
	case AuthOAuth2:
		if i.Password != "" {
			ch.add("mail.imap.password", "not used with auth: oauth2; remove it")
		}
	default:
		ch.add("mail.imap.auth", `must be "password" or "oauth2"`)
	}
	ch.required("mail.imap.mailbox", i.Mailbox)
	ch.schedule("mail.imap.poll_schedule", i.PollSchedule, true)
	if i.TLS == TLSNone && !i.AllowInsecure && !isLoopbackAddr(i.Addr) {
		ch.add("mail.imap.tls", `"none" would send the password in clear to a host other than loopback: use implicit or starttls, or set mail.imap.allow_insecure: true`)
	}
	if i.ProcessedMailbox != "" && i.ProcessedMailbox == i.Mailbox {
		ch.add("mail.imap.processed_mailbox", "must differ from mail.imap.mailbox")
	}
	if i.FailedMailbox != "" && i.FailedMailbox == i.Mailbox {
		ch.add("mail.imap.failed_mailbox", "must differ from mail.imap.mailbox")
	}

	// SMTP is only needed when something is sent; intake alone can do without.
	s := m.SMTP
	if s.Addr != "" || m.AcknowledgeNew || m.SendAgentReplies {
		ch.hostPort("mail.smtp.addr", s.Addr, false)
		ch.tls("mail.smtp.tls", s.TLS)
		if s.TLS == TLSNone && s.Username != "" && !s.AllowInsecure && !isLoopbackAddr(s.Addr) {
			ch.add("mail.smtp.tls", `"none" would send the password in clear to a host other than loopback: use implicit or starttls, or set mail.smtp.allow_insecure: true`)
		}
		// One without the other is a half-configured AUTH, never intended.
		switch {
		case s.Auth != AuthPassword && s.Auth != AuthOAuth2 && s.Auth != "":
			ch.add("mail.smtp.auth", `must be "password" or "oauth2"`)
		case s.Auth == AuthOAuth2 && s.Username == "":
			ch.add("mail.smtp.username", "required with auth: oauth2: the mailbox to sign in as")
		case s.Auth == AuthOAuth2 && s.Password != "":
			ch.add("mail.smtp.password", "not used with auth: oauth2; remove it")
		case s.Auth == AuthOAuth2:
		case s.Username != "" && s.Password == "":
			ch.add("mail.smtp.password", "required when mail.smtp.username is set")
		case s.Username == "" && s.Password != "":
			ch.add("mail.smtp.username", "required when mail.smtp.password is set")
		}
		if ch.required("mail.smtp.from", s.From) {
			if _, err := mail.ParseAddress(s.From); err != nil {
				ch.add("mail.smtp.from", "must be an email address such as \"Support <support@example.com>\"")
			}
		}
	}

	if i.Auth == AuthOAuth2 || s.Auth == AuthOAuth2 {
		ch.oauth2(m.OAuth2)
	}

	if ch.required("mail.subject_tag", m.SubjectTag) {
		if out, ok := ch.template("mail.subject_tag", m.SubjectTag); ok && !strings.Contains(out, sampleTicket.UUID) {
			ch.add("mail.subject_tag", "must contain {{.UUID}} so that replies thread to their ticket")
		}
	}
	if m.MaxMessageBytes <= 0 {
		ch.add("mail.max_message_bytes", "must be greater than 0")
	}
	if m.WriteConcurrency < 0 || m.WriteConcurrency > 64 {
		ch.add("mail.write_concurrency", "must be between 1 and 64 (1 writes one mail at a time)")
	}
	for _, k := range slices.Sorted(maps.Keys(m.Senders)) {
		p := "mail.senders[" + k + "]"
		if !isBareAddress(k) {
			ch.add(p, "key must be a bare email address")
		} else if k != strings.ToLower(k) {
			ch.add(p, "key must be lower case")
		}
		if m.Senders[k] <= 0 {
			ch.add(p, "must be a TaskIP user id greater than 0")
		}
	}
	if m.DefaultUserID < 0 {
		ch.add("mail.default_user_id", "must not be negative")
	}
	if m.MaxTicketsPerHour <= 0 {
		ch.add("mail.max_tickets_per_hour", "must be greater than 0")
	}
	if m.IMAP.ImportWindow <= 0 {
		ch.add("mail.imap.import_window", "must be a duration greater than 0, such as 168h")
	}
	if m.AcknowledgeMaxAge <= 0 {
		ch.add("mail.acknowledge_max_age", "must be a duration greater than 0, such as 24h")
	}
	if m.MaxAcknowledgementsPerHour <= 0 {
		ch.add("mail.max_acknowledgements_per_hour", "must be greater than 0")
	}
	for i, id := range m.Authentication.TrustedAuthservIDs {
		if id == "" || strings.ContainsAny(id, " \t;") {
			ch.add(fmt.Sprintf("mail.authentication.trusted_authserv_ids[%d]", i),
				"must be an authserv-id such as mx.google.com, or %s", MicrosoftAuthservID)
		}
	}
	for i, id := range m.AllowedListIDs {
		if strings.TrimSpace(id) == "" {
			ch.add(fmt.Sprintf("mail.allowed_list_ids[%d]", i), "must not be empty")
		}
	}
}

func (ch *checker) slack(s *Slack) {
	if ch.required("slack.bot_token", string(s.BotToken)) && !strings.HasPrefix(string(s.BotToken), "xoxb-") {
		ch.add("slack.bot_token", `must start with "xoxb-"`)
	}
	if s.AppToken == "" {
		ch.required("slack.signing_secret", string(s.SigningSecret))
	} else if !strings.HasPrefix(string(s.AppToken), "xapp-") {
		ch.add("slack.app_token", `must start with "xapp-"`)
	}
	if s.APIURL != "" {
		ch.httpURL("slack.api_url", s.APIURL, false)
	}
	if ch.required("slack.channel", s.Channel) && !slackChannelRe.MatchString(s.Channel) {
		ch.add("slack.channel", "must be a channel id such as C0123ABC (starting with C, G or D), not a name")
	}
	if len(s.Command) < 2 || s.Command[0] != '/' || strings.ContainsAny(s.Command, " \t\n") {
		ch.add("slack.command", `must be a slash command such as "/ticket"`)
	}
	if s.ThreadDefault != ThreadNote && s.ThreadDefault != ThreadReply {
		ch.add("slack.thread_default", `must be "note" or "reply"`)
	}
	if strings.TrimSpace(s.ReplyPrefix) == "" {
		ch.add("slack.reply_prefix", "required")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Agents)) {
		p := "slack.agents[" + k + "]"
		if !slackUserRe.MatchString(k) {
			ch.add(p, "key must be a Slack user id such as U0123ABC (starting with U or W)")
		}
		if s.Agents[k] <= 0 {
			ch.add(p, "must be a TaskIP team member id greater than 0")
		}
	}
	ch.schedule("slack.digest_schedule", s.DigestSchedule, false)
}

// oauth2 checks that the provider's sign-in has what it needs; which
// grant is used follows from what is set (README "Signing in with OAuth").
func (ch *checker) oauth2(o OAuth2) {
	const p = "mail.oauth2."
	secret, cert, refresh := o.ClientSecret != "", o.ClientCertificateFile != "", o.RefreshToken != ""
	if (o.ClientCertificateFile == "") != (o.ClientKeyFile == "") {
		ch.add(p+"client_key_file", "client_certificate_file and client_key_file go together")
	}
	if secret && cert {
		ch.add(p+"client_secret", "set either client_secret or client_certificate_file, not both")
	}
	switch o.Provider {
	case ProviderMicrosoft:
		ch.required(p+"tenant_id", o.TenantID)
		ch.required(p+"client_id", o.ClientID)
		if !secret && !cert && !refresh {
			ch.add(p+"client_secret", "required: client_secret or client_certificate_file for app-only sign-in, or refresh_token (ticketsync mail authorize) for delegated sign-in")
		}
		if o.ServiceAccountFile != "" {
			ch.add(p+"service_account_file", "is for provider google")
		}
	case ProviderGoogle:
		if o.ServiceAccountFile == "" {
			ch.required(p+"client_id", o.ClientID)
			if !refresh {
				ch.add(p+"refresh_token", "required: service_account_file for a Workspace mailbox, or client_id, client_secret and refresh_token (ticketsync mail authorize) for one Gmail account")
			}
		}
		if cert {
			ch.add(p+"client_certificate_file", "is for provider microsoft")
		}
	case ProviderGeneric:
		ch.httpURL(p+"token_url", o.TokenURL, true)
		ch.required(p+"client_id", o.ClientID)
		if len(o.Scopes) == 0 {
			ch.add(p+"scopes", "required for provider generic")
		}
		if !secret && !refresh {
			ch.add(p+"client_secret", "required: client_secret for client credentials, or refresh_token")
		}
	case "":
		ch.add(p+"provider", `required with auth: oauth2: "microsoft", "google" or "generic"`)
	default:
		ch.add(p+"provider", `must be "microsoft", "google" or "generic"`)
	}
	if o.TokenURL != "" && o.Provider != ProviderGeneric {
		ch.httpURL(p+"token_url", o.TokenURL, false)
	}
	for i, sc := range o.Scopes {
		if strings.TrimSpace(sc) == "" || strings.ContainsAny(sc, " \t") {
			ch.add(fmt.Sprintf("%sscopes[%d]", p, i), "must be one scope without spaces")
		}
	}
}

// Warnings are settings that are valid but leave ticketsync exposed; they
// are printed by check-config and logged at start, and do not stop either.
func (c *Config) Warnings() []Problem {
	var ch checker
	if m := c.Mail; m != nil && !m.Authentication.On() {
		ch.add("mail.authentication", "sender authentication is off: anyone can write to a ticket as its customer or an agent "+
			"by forging From; list the receiving server in trusted_authserv_ids (or set verify: true)")
	}
	return ch
}

// isLoopbackAddr reports whether host:port names this machine; an address
// that does not parse is left to hostPort's problem.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err != nil || isLoopbackHost(host)
}

// isLoopbackHost takes only what needs no DNS: localhost and loopback IPs.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// required records a problem for an empty value and reports whether it is set.
func (ch *checker) required(path, v string) bool {
	if strings.TrimSpace(v) == "" {
		ch.add(path, "required")
		return false
	}
	return true
}

// httpURL never quotes the URL or url.Parse's error: a URL may carry
// credentials in its userinfo.
func (ch *checker) httpURL(path, v string, required bool) {
	if v == "" && !required {
		return
	}
	if ch.required(path, v) && !isHTTPURL(v) {
		ch.add(path, "must be an absolute http or https URL")
	}
}

func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// hostPort accepts port 0 only for listeners, where it asks for any port.
func (ch *checker) hostPort(path, v string, listen bool) {
	if !ch.required(path, v) {
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		ch.add(path, "must be host:port")
		return
	}
	n, err := strconv.Atoi(port)
	low := 1
	if listen {
		low = 0
	}
	if err != nil || n < low || n > 65535 {
		ch.add(path, "port must be a number from %d to 65535", low)
	}
	if !listen && host == "" {
		ch.add(path, "host is missing")
	}
}

func (ch *checker) tls(path string, v TLSMode) {
	if v != TLSImplicit && v != TLSStartTLS && v != TLSNone {
		ch.add(path, `must be "implicit", "starttls" or "none"`)
	}
}

// schedule accepts what the daemon's cron runner accepts: five fields or a
// descriptor such as "@every 30s".
func (ch *checker) schedule(path, spec string, required bool) {
	if spec == "" && !required {
		return
	}
	if !ch.required(path, spec) {
		return
	}
	if err := checkSchedule(spec); err != nil {
		ch.add(path, "not a cron schedule: %v", err)
	}
}

func checkSchedule(spec string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if _, err := cron.ParseStandard(spec); err != nil {
		return err
	}
	// cron silently rounds shorter intervals up to a second.
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < time.Second {
			return fmt.Errorf("@every needs at least 1s")
		}
	}
	return nil
}

// template parses and trial-runs a template against TemplateData so that a
// misspelt field fails at start-up, and returns the rendered sample.
func (ch *checker) template(path, text string) (string, bool) {
	tmpl, err := parseTemplate(path, text)
	if err != nil {
		ch.add(path, "not a valid template: %v", err)
		return "", false
	}
	var out strings.Builder
	if err := tmpl.Execute(&out, sampleTicket); err != nil {
		ch.add(path, "does not render with .ID and .UUID: %v", err)
		return "", false
	}
	return out.String(), true
}

func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
