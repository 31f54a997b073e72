package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
)

// smtpSession is one greeted (and logged-in) connection.
type smtpSession struct {
	client *gosmtp.Client
	conn   *smtpConn
}

// quit says goodbye within quitTimeout and closes the connection.
func (x *smtpSession) quit() {
	x.conn.setLimit(time.Now().Add(quitTimeout))
	if err := x.client.Quit(); err != nil {
		_ = x.client.Close()
	}
}

// connect dials, secures, greets and logs in. Failures are transient
// except a refused login, a missing mechanism and a refused cleartext
// password, which need the configuration changed.
func (s *Sender) connect(ctx context.Context) (*smtpSession, *SendError) {
	sess, _, err := s.open(ctx)
	return sess, err
}

// open is connect that also names the step a failure happened at, for
// Check.
func (s *Sender) open(ctx context.Context) (*smtpSession, mail.ConnectStep, *SendError) {
	cfg := s.cfg
	step := mail.StepConfig
	fail := func(err error, permanent bool) (*smtpSession, mail.ConnectStep, *SendError) {
		e := s.classify(ctx, "", "connect", err, false, false)
		e.Permanent = e.Permanent || permanent
		return nil, step, e
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fail(fmt.Errorf("address %q: %w", cfg.Addr, err), true)
	}
	switch cfg.TLS {
	case mail.TLSImplicit, mail.TLSStartTLS, mail.TLSNone:
	default:
		return fail(fmt.Errorf("unknown tls mode %q", cfg.TLS), true)
	}
	if cfg.TLS == mail.TLSNone && cfg.Username != "" && !cfg.AllowInsecure && !mail.IsLoopback(host) {
		secret := "password"
		if cfg.Tokens != nil {
			secret = "OAuth token"
		}
		return fail(fmt.Errorf("refusing to send the %s for %q in cleartext to %s (tls is none and allow_insecure is off)", secret, cfg.Username, host), true)
	}
	if cfg.Tokens != nil && cfg.Username == "" {
		return fail(mail.ErrNoTokenUser, true)
	}
	tlsCfg := mail.ClientTLS(cfg.TLSConfig, host)

	step = mail.StepDial
	dialCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dial := s.dialContext
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	raw, err := dial(dialCtx, "tcp", cfg.Addr)
	if err != nil {
		return fail(err, false)
	}
	conn := &smtpConn{Conn: raw, idle: cfg.Timeout}
	// The whole setup shares one deadline; ctx breaks it early.
	conn.setLimit(time.Now().Add(cfg.Timeout))
	stop := context.AfterFunc(ctx, conn.cancel)
	defer stop()

	var c *gosmtp.Client
	switch cfg.TLS {
	case mail.TLSImplicit:
		step = mail.StepTLS
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			_ = raw.Close()
			return fail(fmt.Errorf("tls handshake: %w", err), false)
		}
		c = newSMTPClient(tc, cfg.Timeout)
	case mail.TLSStartTLS:
		// The setup limit on conn bounds go-smtp's 5-minute defaults
		// until the timeouts are set.
		step = mail.StepStartTLS
		sc, err := gosmtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			return fail(fmt.Errorf("starttls: %w", err), false)
		}
		c = sc
		c.CommandTimeout = cfg.Timeout
		c.SubmissionTimeout = submissionFactor * cfg.Timeout
	default:
		c = newSMTPClient(conn, cfg.Timeout)
	}
	step = mail.StepGreeting
	if err := c.Hello(s.localName); err != nil {
		_ = c.Close()
		return fail(err, false)
	}
	if cfg.Tokens != nil {
		if e := s.oauthAuth(ctx, c, conn, &step); e != nil {
			_ = c.Close()
			s.log.Warn("smtp sign-in failed", "user", cfg.Username, "err", e)
			return nil, step, e
		}
	} else if cfg.Username != "" {
		step = mail.StepLogin
		if err := s.auth(c); err != nil {
			_ = c.Close()
			_, _, e := fail(err, false)
			e.Op = "auth"
			s.log.Warn("smtp login refused", "user", cfg.Username, "err", e)
			return nil, step, e
		}
	}
	conn.setLimit(time.Time{})
	s.log.Debug("smtp connected", "tls", cfg.TLS)
	return &smtpSession{client: c, conn: conn}, step, nil
}

func newSMTPClient(conn net.Conn, timeout time.Duration) *gosmtp.Client {
	c := gosmtp.NewClient(conn)
	c.CommandTimeout = timeout
	c.SubmissionTimeout = submissionFactor * timeout
	return c
}

// auth logs in with PLAIN, or LOGIN when the server offers only that.
func (s *Sender) auth(c *gosmtp.Client) error {
	var mech sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		mech = sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)
	case c.SupportsAuth(sasl.Login):
		mech = sasl.NewLoginClient(s.cfg.Username, s.cfg.Password)
	default:
		_, offered := c.Extension("AUTH")
		return &gosmtp.SMTPError{Code: 504, EnhancedCode: gosmtp.EnhancedCode{5, 7, 4},
			Message: fmt.Sprintf("server offers neither AUTH PLAIN nor LOGIN (offered: %q)", offered)}
	}
	if err := c.Auth(mech); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) {
			return err
		}
		// go-sasl's own errors could quote the exchange: keep the type
		// of failure, not its text.
		return fmt.Errorf("auth as %q: %w", s.cfg.Username, err)
	}
	return nil
}

// oauthAuth signs in as Username with a token from Tokens. A token the
// server refuses is renewed once and tried again on the same connection:
// RFC 4954 forbids another AUTH only after a successful one, and the
// servers that matter keep the connection after a 535. A server that
// hangs up anyway gives a transient error, and the next connection
// starts with the renewed token, which the TokenSource keeps. A refusal
// of the renewed token is transient, see below. Nothing keeps a token past
// this call.
func (s *Sender) oauthAuth(ctx context.Context, c *gosmtp.Client, conn *smtpConn, step *mail.ConnectStep) *SendError {
	_, offered := c.Extension("AUTH")
	mech := mail.OAuthMechanism(strings.Fields(offered))
	fail := func(err error) *SendError { return s.classify(ctx, "", "auth", err, false, false) }
	var refused *mail.OAuthRefusedError
	for _, renew := range []bool{false, true} {
		*step = mail.StepToken
		token, err := mail.OAuthToken(ctx, s.cfg.Tokens, s.cfg.Username, renew, s.cfg.Timeout)
		if err != nil {
			return fail(err)
		}
		// The provider's time is not the mail server's: the setup
		// deadline starts again.
		conn.setLimit(time.Now().Add(s.cfg.Timeout))
		*step = mail.StepLogin
		if refused, err = s.authenticate(c, mech, token); refused == nil {
			if err != nil {
				return fail(err)
			}
			return nil
		}
		if !renew {
			s.log.Info("smtp server refused the OAuth token; renewing it", "user", s.cfg.Username,
				"mechanism", mech, "status", refused.Status, "reply", refused.Reply)
		}
	}
	// Not permanent: a token the provider issued and the server refuses
	// is mostly a grant an administrator has yet to give (the mailbox to
	// the app, SMTP AUTH for the mailbox). The mail waits for it, within
	// the outbox's retry period, rather than being failed.
	return &SendError{Op: "auth", Err: refused}
}

// authenticate runs one AUTH with token. A refusal of the token (535, or
// an error challenge, which go-smtp cancels with "*") comes back as such;
// any other failure as the error, since a new token cannot mend it.
func (s *Sender) authenticate(c *gosmtp.Client, mech, token string) (*mail.OAuthRefusedError, error) {
	cl := mail.NewOAuthClient(mech, s.cfg.Username, token, false)
	err := c.Auth(cl)
	if err == nil {
		return nil, nil
	}
	r := &mail.OAuthRefusedError{Protocol: "smtp", Mailbox: s.cfg.Username, Mechanism: mech, Addr: s.cfg.Addr}
	if status, challenged := cl.Refusal(); challenged {
		r.Status = status
		return r, nil
	}
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		return nil, err
	}
	answer := &gosmtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: mail.RedactToken(se.Message, token)}
	if answer.Code != 535 {
		return nil, answer
	}
	r.Reply = replyLine(answer)
	return r, nil
}

// replyLine is an SMTP reply on one line: "535 5.7.8 Invalid credentials".
func replyLine(se *gosmtp.SMTPError) string {
	s := strconv.Itoa(se.Code)
	if c := se.EnhancedCode; c != gosmtp.EnhancedCodeNotSet && c != gosmtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
	}
	if m := mime.OneLine(se.Message); m != "" {
		s += " " + m
	}
	return s
}

// smtpConn bounds every network wait. go-smtp sets a deadline per command
// and clears it afterwards, leaving the DATA body without one: a cleared
// deadline becomes the idle timeout here, and each write extends its own.
// cancel (ctx ended) forces every deadline into the past; writeFailed
// records that some write did not go through.
type smtpConn struct {
	net.Conn
	idle time.Duration

	mu        sync.Mutex
	limit     time.Time // when non-zero, no deadline goes past it
	cancelled bool

	writeFailed atomic.Bool
}

func (c *smtpConn) effective(t time.Time) time.Time {
	switch {
	case c.cancelled:
		return mail.PastDeadline
	case t.IsZero():
		t = time.Now().Add(c.idle)
	}
	if !c.limit.IsZero() && t.After(c.limit) {
		t = c.limit
	}
	return t
}

func (c *smtpConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetDeadline(c.effective(t))
}

func (c *smtpConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.effective(t))
}

func (c *smtpConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.effective(t))
}

func (c *smtpConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	_ = c.Conn.SetWriteDeadline(c.effective(time.Time{}))
	c.mu.Unlock()
	n, err := c.Conn.Write(b)
	if err != nil {
		c.writeFailed.Store(true)
	}
	return n, err
}

func (c *smtpConn) setLimit(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = t
	if !t.IsZero() {
		_ = c.Conn.SetDeadline(c.effective(t))
	}
}

func (c *smtpConn) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = true
	_ = c.Conn.SetDeadline(mail.PastDeadline)
}

func localName(name string) string {
	if name != "" {
		return name
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
