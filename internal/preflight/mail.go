package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/oauth"
)

func (c *checker) imap(ctx context.Context) []Result {
	m := c.cfg.Mail
	if m == nil {
		return []Result{skipped(ServiceIMAP, "no mail section: mail intake is off")}
	}
	return []Result{c.timed(ctx, ServiceIMAP, func(ctx context.Context) (string, error) {
		i := m.IMAP
		tokens, err := c.tokens(i.Auth, i.Username)
		if err != nil {
			return "", err
		}
		inbox := imap.NewInbox(imap.Config{
			Addr: i.Addr, TLS: mail.TLSMode(i.TLS), Username: i.Username, Password: i.Password.Reveal(),
			Mailbox: i.Mailbox, ProcessedMailbox: i.ProcessedMailbox, FailedMailbox: i.FailedMailbox,
			TLSConfig: c.opts.IMAPTLS, DialTimeout: c.opts.Timeout, CommandTimeout: c.opts.Timeout,
			AllowInsecure: i.AllowInsecure, Tokens: tokens,
		})
		got, err := inbox.Check(ctx)
		if err != nil {
			return "", imapProblem(err, i, c.opts)
		}
		return imapSummary(i, got), nil
	})}
}

// tokens is the OAuth 2.0 sign-in the daemon would use for mailbox, or
// nil for a password.
func (c *checker) tokens(auth, mailbox string) (mail.TokenSource, error) {
	if auth != config.AuthOAuth2 {
		return nil, nil
	}
	src, err := oauth.New(oauth.FromConfig(c.cfg, mailbox))
	if err != nil {
		return nil, failf("%v", err)
	}
	return src, nil
}

// oauthProblem explains a failed OAuth 2.0 sign-in: the identity provider
// refusing a token (its words and the key to change), or the mail server
// refusing the token it issued (the mailbox's grant to the app).
func oauthProblem(err error) error {
	var te *mail.TokenError
	if errors.As(err, &te) {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return failf("no OAuth token for %s: %v", te.Mailbox, oe)
		}
		return failf("no OAuth token for %s: %s: check mail.oauth2", te.Mailbox, cause(te.Err))
	}
	var re *mail.OAuthRefusedError
	if errors.As(err, &re) {
		return failf("%v", re)
	}
	return nil
}

func imapSummary(i config.IMAP, got imap.CheckResult) string {
	how := "login"
	if i.Auth == config.AuthOAuth2 {
		how = "OAuth 2.0 sign-in as"
	}
	parts := []string{
		fmt.Sprintf("%s %s at %s", how, i.Username, i.Addr),
		fmt.Sprintf("SELECT %s (%s %s)", i.Mailbox, formatCount(got.Status.Messages), plural(int(got.Status.Messages), "message", "messages")),
	}
	if n := len(got.Existing); n > 0 {
		parts = append(parts, fmt.Sprintf("%s %s %s", plural(n, "folder", "folders"), strings.Join(got.Existing, ", "), plural(n, "exists", "exist")))
	}
	if n := len(got.Created); n > 0 {
		parts = append(parts, fmt.Sprintf("created %s %s", plural(n, "folder", "folders"), strings.Join(got.Created, ", ")))
	}
	if i.ProcessedMailbox == "" && i.FailedMailbox == "" {
		parts = append(parts, "no processed or failed folder (mail is flagged in place)")
	}
	return strings.Join(parts, ", ")
}

func imapProblem(err error, i config.IMAP, opts Options) error {
	var ce *mail.CheckError
	if !errors.As(err, &ce) {
		return fmt.Errorf("imap: %w", err)
	}
	addr := i.Addr
	if timedOut(err) && ce.Step != mail.StepDial {
		return stalled(addr, ce.Step, "mail.imap.tls", imapPorts, opts.Timeout)
	}
	switch ce.Step {
	case mail.StepDial:
		if s := unreachable(err, addr, "mail.imap.addr", opts.Timeout); s != "" {
			return failf("%s", s)
		}
	case mail.StepTLS, mail.StepStartTLS, mail.StepGreeting:
		if s := tlsFailure(err, addr, "mail.imap.tls", "mail.imap.addr", imapPorts); s != "" {
			return failf("%s", s)
		}
		if ce.Step == mail.StepStartTLS {
			return failf("STARTTLS with %s failed (%s): check mail.imap.tls: %s", addr, cause(err), imapPorts)
		}
		return failf("no IMAP greeting from %s (%s): check mail.imap.addr and mail.imap.tls: %s", addr, cause(err), imapPorts)
	case mail.StepToken, mail.StepLogin:
		if p := oauthProblem(err); p != nil {
			return p
		}
		if errors.Is(err, imap.ErrAuth) {
			return failf("login as %s refused (%s): check mail.imap.username and password", i.Username, authAnswer(err))
		}
		return failf("login as %s failed (%s): check mail.imap.username and password, or try again if the server is busy", i.Username, cause(err))
	case mail.StepCreate:
		key := "mail.imap.processed_mailbox"
		if ce.Mailbox == i.FailedMailbox {
			key = "mail.imap.failed_mailbox"
		}
		return failf("folder %s is missing and could not be created (%s): create it or fix %s", ce.Mailbox, cause(err), key)
	case mail.StepSelect:
		if imap.MailboxMissing(err) {
			return failf("mailbox %s does not exist: create it or fix mail.imap.mailbox", ce.Mailbox)
		}
		return failf("SELECT %s refused (%s): check mail.imap.mailbox", ce.Mailbox, cause(err))
	}
	return failf("%s at %s failed (%s): check mail.imap.addr and mail.imap.tls", ce.Step, addr, cause(err))
}

func (c *checker) smtp(ctx context.Context) []Result {
	m := c.cfg.Mail
	switch {
	case m == nil:
		return []Result{skipped(ServiceSMTP, "no mail section: no mail is sent")}
	case m.SMTP.Addr == "":
		return []Result{skipped(ServiceSMTP, "mail.smtp.addr is not set: no mail is sent")}
	}
	return []Result{c.timed(ctx, ServiceSMTP, func(ctx context.Context) (string, error) {
		s := m.SMTP
		tokens, err := c.tokens(s.Auth, s.Username)
		if err != nil {
			return "", err
		}
		sender := smtp.NewSender(smtp.Config{
			Addr: s.Addr, TLS: mail.TLSMode(s.TLS), Username: s.Username, Password: s.Password.Reveal(),
			TLSConfig: c.opts.SMTPTLS, Timeout: c.opts.Timeout, AllowInsecure: s.AllowInsecure, Tokens: tokens,
		})
		got, err := sender.Check(ctx)
		if err != nil {
			return "", smtpProblem(err, s, c.opts)
		}
		return smtpSummary(s, got), nil
	})}
}

func smtpSummary(s config.SMTP, got smtp.CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "EHLO at %s", s.Addr)
	switch {
	case s.TLS == config.TLSStartTLS && got.Encrypted:
		b.WriteString(" after STARTTLS")
	case got.Encrypted:
		b.WriteString(" over TLS")
	default:
		b.WriteString(" without TLS")
	}
	if got.Authenticated {
		fmt.Fprintf(&b, ", AUTH as %s accepted", s.Username)
	} else {
		b.WriteString(", no AUTH (mail.smtp.username is empty)")
	}
	b.WriteString(", QUIT (no mail sent)")
	return b.String()
}

func smtpProblem(err error, s config.SMTP, opts Options) error {
	var ce *mail.CheckError
	var se *smtp.SendError
	if !errors.As(err, &ce) || !errors.As(err, &se) {
		return fmt.Errorf("smtp: %w", err)
	}
	addr := s.Addr
	reply := smtpReply(se)
	if se.Code == 0 && timedOut(err) && ce.Step != mail.StepDial {
		return stalled(addr, ce.Step, "mail.smtp.tls", smtpPorts, opts.Timeout)
	}
	switch ce.Step {
	case mail.StepConfig:
		return failf("%s: check mail.smtp.addr and mail.smtp.tls", cause(se.Err))
	case mail.StepDial:
		if msg := unreachable(err, addr, "mail.smtp.addr", opts.Timeout); msg != "" {
			return failf("%s", msg)
		}
	case mail.StepTLS, mail.StepStartTLS:
		if msg := tlsFailure(err, addr, "mail.smtp.tls", "mail.smtp.addr", smtpPorts); msg != "" {
			return failf("%s", msg)
		}
		if ce.Step == mail.StepStartTLS && se.Code == 0 && strings.Contains(se.Err.Error(), "doesn't support STARTTLS") {
			return failf("%s offers no STARTTLS: check mail.smtp.tls: %s", addr, smtpPorts)
		}
		return failf("%s with %s failed (%s): check mail.smtp.tls: %s", ce.Step, addr, reply, smtpPorts)
	case mail.StepGreeting:
		if msg := tlsFailure(err, addr, "mail.smtp.tls", "mail.smtp.addr", smtpPorts); msg != "" {
			return failf("%s", msg)
		}
		return failf("greeting or EHLO at %s failed (%s): check mail.smtp.addr and mail.smtp.tls: %s", addr, reply, smtpPorts)
	case mail.StepToken, mail.StepLogin:
		if p := oauthProblem(err); p != nil {
			return p
		}
		switch {
		case se.Code == 504 || se.Code == 538 || se.Code == 530:
			// No usable mechanism, or "encryption required": servers
			// commonly offer AUTH only on an encrypted session.
			return failf("AUTH not possible (%s): check mail.smtp.tls (servers often offer AUTH only after STARTTLS), or empty mail.smtp.username for a relay without AUTH", reply)
		case se.Code >= 500:
			return failf("AUTH refused (%s): check mail.smtp.username and password", reply)
		case se.Code >= 400:
			return failf("AUTH failed temporarily (%s): try again later; if it persists check mail.smtp.username and password", reply)
		}
		return failf("AUTH as %s failed (%s): check mail.smtp.username and password", s.Username, reply)
	}
	return failf("%s at %s failed (%s): check mail.smtp.addr and mail.smtp.tls", ce.Step, addr, reply)
}

// stalled phrases a server that was reached and then did not answer in
// time. Silence before the greeting is most often a TLS mode that does not
// match the port: each side waits for the other to speak first.
func stalled(addr string, step mail.ConnectStep, tlsKey, ports string, timeout time.Duration) error {
	switch step {
	case mail.StepTLS, mail.StepStartTLS, mail.StepGreeting:
		return failf("no answer from %s within %s during %s: check %s: %s", addr, timeout, step, tlsKey, ports)
	}
	return failf("no answer from %s within %s during %s: the server is slow or stuck; try again, or allow more time with --timeout", addr, timeout, step)
}

// smtpReply is the server's reply ("535 5.7.8 Invalid credentials"), or
// the cause of a failure without one.
func smtpReply(se *smtp.SendError) string {
	if se.Code == 0 {
		if se.Err != nil {
			return cause(se.Err)
		}
		return "no reply"
	}
	parts := []string{fmt.Sprint(se.Code)}
	if se.Enhanced != "" {
		parts = append(parts, se.Enhanced)
	}
	if msg := strings.Join(strings.Fields(se.Message), " "); msg != "" {
		parts = append(parts, msg)
	}
	return strings.Join(parts, " ")
}

// cause is the innermost text of an error chain built with ": "
// separators, which is the part a person can act on: "connection reset by
// peer", not the five layers naming our own steps.
func cause(err error) string {
	var ce *imap.CommandError
	if errors.As(err, &ce) {
		s := ce.Type
		if ce.Code != "" {
			s += " [" + ce.Code + "]"
		}
		return s + " " + ce.Text
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// authAnswer is the server's text from a refused IMAP login: it is the
// part of the message after ErrAuth (see mail.Inbox.Connect), and servers
// put hints there ("Application-specific password required").
func authAnswer(err error) string {
	msg := err.Error()
	marker := imap.ErrAuth.Error() + ": "
	if i := strings.LastIndex(msg, marker); i >= 0 {
		if s := strings.TrimSpace(msg[i+len(marker):]); s != "" {
			return s
		}
	}
	return "credentials not accepted"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
