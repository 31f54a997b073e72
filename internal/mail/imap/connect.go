package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/ticketsync/ticketsync/internal/mail"
)

// Connect dials, secures, logs in and selects the mailbox, replacing any
// previous session. It creates ProcessedMailbox and FailedMailbox when they
// are missing. A refused login returns ErrAuth (permanent until the config
// changes); everything else may be retried with backoff.
func (b *Inbox) Connect(ctx context.Context) (MailboxStatus, error) {
	return b.connect(ctx, &connectTrace{})
}

// connectTrace records how far a connection attempt got and which folders
// it had to create, so that Check can say which step failed.
type connectTrace struct {
	step    mail.ConnectStep
	mailbox string   // the folder of mail.StepCreate and mail.StepSelect
	created []string // folders that were missing and were created
}

func (tr *connectTrace) at(step mail.ConnectStep, mailbox string) {
	tr.step, tr.mailbox = step, mailbox
}

func (b *Inbox) connect(ctx context.Context, tr *connectTrace) (MailboxStatus, error) {
	if old := b.detach(nil); old != nil {
		_ = old.client.Close()
	}
	b.mu.Lock()
	closes := b.closes
	b.mu.Unlock()
	// A signal from an old session is stale: the SELECT below covers it.
	b.drainSignal()

	s, status, err := b.open(ctx, tr)
	if err != nil {
		return MailboxStatus{}, err
	}
	b.mu.Lock()
	if b.closes != closes {
		b.mu.Unlock()
		_ = s.client.Close()
		return MailboxStatus{}, fmt.Errorf("imap: connect: closed meanwhile: %w", ErrNotConnected)
	}
	b.sess = s
	b.connected.Store(true)
	b.mu.Unlock()

	// The server may hang up while no command is running (restart, idle
	// timeout); nobody would notice until the next call without this.
	go func() {
		<-s.client.Closed()
		if b.detach(s) != nil {
			level := slog.LevelWarn
			if s.conn.cancelled.Load() {
				level = slog.LevelDebug
			}
			b.log.Log(context.Background(), level, "imap connection closed")
		}
	}()
	return status, nil
}

func (b *Inbox) open(ctx context.Context, tr *connectTrace) (*imapSession, MailboxStatus, error) {
	cfg := b.cfg
	tr.at(mail.StepDial, "")
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, MailboxStatus{}, fmt.Errorf("imap: connect: address %q: %w", cfg.Addr, err)
	}
	// Every session logs in, and without TLS LOGIN and AUTHENTICATE PLAIN
	// carry the password as it is. Refused before dialling, like SMTP's
	// guard, so not even the greeting exchange reaches such a host.
	if cfg.TLS == mail.TLSNone && !cfg.AllowInsecure && !mail.IsLoopback(host) {
		tr.at(mail.StepConfig, "")
		return nil, MailboxStatus{}, fmt.Errorf("%w: %s (tls is none and allow_insecure is off)", ErrCleartextLogin, host)
	}
	if cfg.Tokens != nil && cfg.Username == "" {
		tr.at(mail.StepConfig, "")
		return nil, MailboxStatus{}, fmt.Errorf("imap: connect: %w", mail.ErrNoTokenUser)
	}
	tlsCfg := mail.ClientTLS(cfg.TLSConfig, host)

	conn, err := b.dial(ctx, tlsCfg, tr)
	if err != nil {
		return nil, MailboxStatus{}, err
	}
	dc := &deadlineConn{Conn: conn}
	g := dc.guard(ctx, cfg.CommandTimeout)
	defer g.release()

	opts := &imapclient.Options{
		TLSConfig: tlsCfg,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: it must not block.
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					b.signal()
				}
			},
		},
	}
	var c *imapclient.Client
	if cfg.TLS == mail.TLSStartTLS {
		tr.at(mail.StepStartTLS, "")
		if c, err = imapclient.NewStartTLS(dc, opts); err != nil {
			return nil, MailboxStatus{}, b.connectErr(ctx, "starttls", err)
		}
	} else {
		c = imapclient.New(dc, opts)
	}
	s := &imapSession{client: c, conn: dc}
	status, err := b.setup(ctx, s, g, tr)
	if err != nil {
		_ = c.Close()
		return nil, MailboxStatus{}, err
	}
	return s, status, nil
}

func (b *Inbox) dial(ctx context.Context, tlsCfg *tls.Config, tr *connectTrace) (net.Conn, error) {
	switch b.cfg.TLS {
	case mail.TLSImplicit, mail.TLSStartTLS, mail.TLSNone:
	default:
		return nil, fmt.Errorf("imap: connect: unknown tls mode %q", b.cfg.TLS)
	}
	dialCtx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	dial := b.dialContext
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	conn, err := dial(dialCtx, "tcp", b.cfg.Addr)
	if err != nil {
		return nil, b.connectErr(ctx, "dial", err)
	}
	if b.cfg.TLS != mail.TLSImplicit {
		return conn, nil
	}
	tr.at(mail.StepTLS, "")
	cfg := tlsCfg.Clone()
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(dialCtx); err != nil {
		_ = conn.Close()
		return nil, b.connectErr(ctx, "tls handshake", err)
	}
	return tc, nil
}

func (b *Inbox) connectErr(ctx context.Context, step string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("imap: connect: %s: %w", step, ctxErr)
	}
	var imapErr *goimap.Error
	if errors.As(err, &imapErr) {
		return &CommandError{Op: "connect: " + step, Type: string(imapErr.Type), Code: string(imapErr.Code), Text: imapErr.Text}
	}
	return &ConnError{Op: "connect: " + step, Err: err}
}

func (b *Inbox) setup(ctx context.Context, s *imapSession, g *cmdGuard, tr *connectTrace) (MailboxStatus, error) {
	c := s.client
	tr.at(mail.StepGreeting, "")
	if err := c.WaitGreeting(); err != nil {
		return MailboxStatus{}, b.connectErr(ctx, "greeting", err)
	}
	tr.at(mail.StepLogin, "")
	if err := b.login(ctx, c, g, tr); err != nil {
		return MailboxStatus{}, err
	}
	caps := c.Caps() // LOGIN invalidated the pre-login list
	if caps == nil {
		return MailboxStatus{}, b.connectErr(ctx, "capability", errors.New("no CAPABILITY answer"))
	}
	s.move, s.uidPlus, s.idle = caps.Has(goimap.CapMove), caps.Has(goimap.CapUIDPlus), caps.Has(goimap.CapIdle)

	for _, name := range []string{b.cfg.ProcessedMailbox, b.cfg.FailedMailbox} {
		if name == "" || name == b.cfg.Mailbox {
			continue
		}
		tr.at(mail.StepCreate, name)
		created, err := ensureMailboxCreated(c, name)
		if err != nil {
			return MailboxStatus{}, b.connectErr(ctx, "create "+name, err)
		}
		if created {
			tr.created = append(tr.created, name)
		}
	}
	tr.at(mail.StepSelect, b.cfg.Mailbox)
	status, err := b.selectMailbox(s)
	if err != nil {
		return MailboxStatus{}, b.connectErr(ctx, "select", err)
	}
	b.log.Debug("imap connected", "move", s.move, "uidplus", s.uidPlus, "idle", s.idle,
		"uidvalidity", status.UIDValidity, "messages", status.Messages)
	if (b.cfg.ProcessedMailbox != "" || b.cfg.FailedMailbox != "") && !s.move && !s.uidPlus {
		// COPY + EXPUNGE without UIDPLUS would expunge every
		// \Deleted message in the mailbox, not only ours.
		b.log.Info("imap server has neither MOVE nor UIDPLUS: mail is flagged in place instead of moved")
	}
	return status, nil
}

// login signs in with OAuth when Tokens is set, else uses LOGIN unless the
// server disabled it, then AUTHENTICATE PLAIN.
func (b *Inbox) login(ctx context.Context, c *imapclient.Client, g *cmdGuard, tr *connectTrace) error {
	caps := c.Caps()
	if caps == nil {
		return b.connectErr(ctx, "capability", errors.New("no CAPABILITY answer"))
	}
	if b.cfg.Tokens != nil {
		return b.oauthLogin(ctx, c, caps.AuthMechanisms(), g, tr)
	}
	var err error
	if caps.Has(goimap.CapLoginDisabled) {
		err = c.Authenticate(sasl.NewPlainClient("", b.cfg.Username, b.cfg.Password))
	} else {
		err = c.Login(b.cfg.Username, b.cfg.Password).Wait()
	}
	if err == nil {
		return nil
	}
	var imapErr *goimap.Error
	if !errors.As(err, &imapErr) {
		return b.connectErr(ctx, "login", err)
	}
	if temporaryLoginCode(imapErr.Code) {
		return b.connectErr(ctx, "login", err)
	}
	return fmt.Errorf("imap: login as %q: %w: %s %s", b.cfg.Username, ErrAuth, imapErr.Type, imapErr.Text)
}

// temporaryLoginCode: the server's auth backend is down or busy (Dovecot
// says UNAVAILABLE when its token introspection endpoint fails), so the
// login is worth a retry and says nothing about the credentials.
func temporaryLoginCode(code goimap.ResponseCode) bool {
	switch code {
	case goimap.ResponseCodeUnavailable, goimap.ResponseCodeServerBug, goimap.ResponseCodeLimit, goimap.ResponseCodeInUse:
		return true
	}
	return false
}

// oauthLogin signs in as Username with a token from Tokens. A token the
// server refuses is renewed once and tried again on the same connection,
// as IMAP allows another AUTHENTICATE after a failed one; a refusal of the
// renewed token is ErrAuth. Nothing keeps a token past this call.
func (b *Inbox) oauthLogin(ctx context.Context, c *imapclient.Client, offered []string, g *cmdGuard, tr *connectTrace) error {
	mech := mail.OAuthMechanism(offered)
	var refused *mail.OAuthRefusedError
	for _, renew := range []bool{false, true} {
		tr.at(mail.StepToken, "")
		token, err := mail.OAuthToken(ctx, b.cfg.Tokens, b.cfg.Username, renew, b.cfg.CommandTimeout)
		// The provider's time is not the mail server's: the setup
		// deadline starts again.
		g.extend()
		if err != nil {
			return fmt.Errorf("imap: login as %q: %w", b.cfg.Username, err)
		}
		tr.at(mail.StepLogin, "")
		if refused, err = b.authenticate(ctx, c, mech, offered, token); refused == nil {
			return err
		}
		if !renew {
			b.log.Info("imap server refused the OAuth token; renewing it", "user", b.cfg.Username,
				"mechanism", mech, "status", refused.Status, "reply", refused.Reply)
		}
	}
	return fmt.Errorf("imap: login as %q: %w: %w", b.cfg.Username, ErrAuth, refused)
}

// authenticate runs one AUTHENTICATE with token. A refusal of the token
// comes back as such; any other failure as the error to return, since a
// new token cannot mend it.
func (b *Inbox) authenticate(ctx context.Context, c *imapclient.Client, mech string, offered []string, token string) (*mail.OAuthRefusedError, error) {
	cl := mail.NewOAuthClient(mech, b.cfg.Username, token, true)
	err := c.Authenticate(cl)
	if err == nil {
		return nil, nil
	}
	var imapErr *goimap.Error
	if !errors.As(err, &imapErr) {
		return nil, b.connectErr(ctx, "login", err)
	}
	answer := &goimap.Error{Type: imapErr.Type, Code: imapErr.Code, Text: mail.RedactToken(imapErr.Text, token)}
	if temporaryLoginCode(answer.Code) {
		return nil, b.connectErr(ctx, "login", answer)
	}
	status, challenged := cl.Refusal()
	if !challenged && !slices.ContainsFunc(offered, func(m string) bool { return strings.EqualFold(m, mech) }) {
		others := "no SASL mechanism"
		if len(offered) > 0 {
			others = strings.Join(offered, " ")
		}
		return nil, fmt.Errorf("imap: login as %q: %w: the server offers neither XOAUTH2 nor OAUTHBEARER (it offers %s): %s",
			b.cfg.Username, ErrAuth, others, statusLine(answer))
	}
	if !challenged && answer.Type != goimap.StatusResponseTypeNo {
		// BAD without an error challenge: the server did not take the
		// mechanism or the command at all.
		return nil, fmt.Errorf("imap: login as %q with %s: %w: %s", b.cfg.Username, mech, ErrAuth, statusLine(answer))
	}
	return &mail.OAuthRefusedError{Protocol: "imap", Mailbox: b.cfg.Username, Mechanism: mech,
		Status: status, Reply: statusLine(answer), Addr: b.cfg.Addr}, nil
}

// statusLine is a tagged answer as the server sent it, minus the tag.
func statusLine(e *goimap.Error) string {
	s := string(e.Type)
	if e.Code != "" {
		s += " [" + string(e.Code) + "]"
	}
	return s + " " + e.Text
}

func ensureMailbox(c *imapclient.Client, name string) error {
	_, err := ensureMailboxCreated(c, name)
	return err
}

// ensureMailboxCreated is ensureMailbox that also reports whether this call
// created the folder.
func ensureMailboxCreated(c *imapclient.Client, name string) (bool, error) {
	found, err := c.List("", name, nil).Collect()
	if err != nil {
		return false, err
	}
	if len(found) > 0 {
		return false, nil
	}
	created := true
	if err := c.Create(name, nil).Wait(); err != nil {
		var imapErr *goimap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != goimap.ResponseCodeAlreadyExists {
			return false, err
		}
		created = false // someone else made it in between
	}
	// Subscribed, so a person looking with a mail client sees it.
	if err := c.Subscribe(name).Wait(); err != nil {
		var imapErr *goimap.Error
		if !errors.As(err, &imapErr) {
			return false, err
		}
	}
	return created, nil
}

// selectMailbox (re-)selects the configured mailbox. SELECT is the only
// place UIDVALIDITY and UIDNEXT are reported, so every List does it.
func (b *Inbox) selectMailbox(s *imapSession) (MailboxStatus, error) {
	data, err := s.client.Select(b.cfg.Mailbox, nil).Wait()
	if err != nil {
		return MailboxStatus{}, err
	}
	status := MailboxStatus{UIDValidity: data.UIDValidity, UIDNext: uint32(data.UIDNext), Messages: data.NumMessages}
	s.keywords = false
	for _, f := range data.PermanentFlags {
		if f == goimap.FlagWildcard || strings.EqualFold(string(f), string(failedKeyword)) || strings.EqualFold(string(f), string(doneKeyword)) {
			s.keywords = true
		}
	}
	if b.validity != 0 && b.validity != status.UIDValidity {
		b.log.Info("imap UIDVALIDITY changed", "old", b.validity, "new", status.UIDValidity)
	}
	b.validity = status.UIDValidity
	return status, nil
}
