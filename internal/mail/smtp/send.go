package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
)

// Config configures a Sender. Zero values take the defaults noted.
type Config struct {
	Addr string // host:port
	// TLS defaults to mail.TLSImplicit (port 465, preferred by RFC 8314);
	// mail.TLSStartTLS for port 587; mail.TLSNone only towards loopback, unless
	// AllowInsecure.
	TLS mail.TLSMode
	// Username enables AUTH (PLAIN, else LOGIN). The password is never
	// sent over a cleartext connection to a host other than loopback,
	// unless AllowInsecure says so.
	Username, Password string
	// Tokens, when set, signs in with OAuth 2.0 (OAUTHBEARER when the
	// server offers it, else XOAUTH2) as Username, the mailbox address,
	// instead of the password, under the same cleartext rule. A token is
	// asked for at every login and kept no longer.
	Tokens mail.TokenSource
	// TLSConfig overrides the system roots (tests trust a self-signed
	// cert here). ServerName defaults to the host of Addr.
	TLSConfig *tls.Config
	// Timeout bounds connecting (dial, TLS, greeting, EHLO, AUTH), each
	// command and each write; the reply to the end of DATA may take three
	// times as long (servers scan mail before answering). Default 1m.
	Timeout time.Duration
	// LocalName is the EHLO name; default the host name. With STARTTLS the
	// EHLO before TLS says "localhost" (a go-smtp limit).
	LocalName string
	Logger    *slog.Logger
	// AllowInsecure permits AUTH over mail.TLSNone to a host other than
	// loopback, which sends the password in clear.
	AllowInsecure bool
}

// Classes of SendError. Exactly one matches a SendError:
//
//   - ErrPermanent: the server refused with a 5xx reply (or the message or
//     configuration is unusable). Sending the same message again will fail
//     the same way.
//   - ErrTransient: a 4xx reply, a network failure or a cancellation
//     before the end of the data was sent. The server did not take the
//     message; send it again later.
//   - ErrOutcomeUnknown: the end of the data was sent but no reply came
//     (connection lost, timeout, cancellation). The server may have
//     accepted the message: resending risks a duplicate, not resending
//     risks a loss. The outbox decides.
var (
	ErrPermanent      = errors.New("smtp: permanent failure")
	ErrTransient      = errors.New("smtp: transient failure")
	ErrOutcomeUnknown = errors.New("smtp: outcome unknown")
)

// SendError is why one message was not (known to be) delivered.
type SendError struct {
	MessageID string
	// Op is the step that failed: "connect", "auth", "compose", "commit",
	// "mail from", "rcpt to", "data" or "end of data".
	Op string
	// Code, Enhanced ("5.1.1") and Message are the server's reply; Code is
	// 0 when there was none (network failure, local error), and for an
	// OAuth sign-in whose Err (*mail.OAuthRefusedError, *mail.TokenError) tells the
	// whole story.
	Code     int
	Enhanced string
	Message  string

	Permanent      bool
	OutcomeUnknown bool
	// Err is the underlying error when there was no reply: with Tokens,
	// a *mail.TokenError when no token could be had (transient: the provider
	// may be down, or refuses until the configuration changes, so the
	// caller backs off) or a *mail.OAuthRefusedError when the server refused
	// the token and a renewed one (permanent).
	Err error
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("smtp: send")
	if e.MessageID != "" {
		b.WriteString(" <" + e.MessageID + ">")
	}
	b.WriteString(": " + e.Op + ": ")
	switch {
	case e.Code != 0:
		fmt.Fprintf(&b, "%d", e.Code)
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		if e.Message != "" {
			b.WriteString(" " + mime.OneLine(e.Message))
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	if e.OutcomeUnknown {
		b.WriteString(" (the server may have accepted the message)")
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

func (e *SendError) Is(target error) bool {
	switch target {
	case ErrPermanent:
		return e.Permanent
	case ErrOutcomeUnknown:
		return e.OutcomeUnknown
	case ErrTransient:
		return !e.Permanent && !e.OutcomeUnknown
	}
	return false
}

// Sender delivers mime.Outgoing messages to one submission server over one
// connection, kept open between calls and reused. It reconnects when the
// server has closed it. Safe for concurrent use; sends are serialised.
type Sender struct {
	cfg       Config
	log       *slog.Logger
	localName string

	mu   sync.Mutex
	sess *smtpSession // nil when disconnected

	// dialContext replaces net.Dialer in tests, which need a host name
	// other than loopback to reach a loopback server without DNS.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	defaultSMTPTimeout = time.Minute
	submissionFactor   = 3
	quitTimeout        = 2 * time.Second
)

// NewSender applies defaults; it does no I/O.
func NewSender(cfg Config) *Sender {
	if cfg.TLS == "" {
		cfg.TLS = mail.TLSImplicit
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSMTPTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{cfg: cfg, log: log.With("smtp", cfg.Addr), localName: localName(cfg.LocalName)}
}

// Send delivers msgs in order over one connection and returns one error
// per message (nil: the server answered 250). Each error is a *SendError
// matching exactly one of ErrPermanent, ErrTransient and ErrOutcomeUnknown.
// A failure of one message does not stop the others, except that after
// ctx ends the rest fail at once with ctx's error (transient).
func (s *Sender) Send(ctx context.Context, msgs ...mime.Outgoing) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			errs[i] = &SendError{MessageID: m.MessageID, Op: "send", Err: err}
			continue
		}
		errs[i] = s.sendOne(ctx, m, nil)
	}
	return errs
}

// Deliver sends one message like Send and calls beforeEnd after the whole
// message was written and before the final dot that commits it. That is
// the last moment at which the server cannot have taken the message, so a
// caller records there that a crash from now on leaves the outcome
// unknown. An error from beforeEnd hangs up without the dot (the server
// discards the message) and is returned as a transient SendError.
func (s *Sender) Deliver(ctx context.Context, m mime.Outgoing, beforeEnd func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return &SendError{MessageID: m.MessageID, Op: "send", Err: err}
	}
	if err := s.sendOne(ctx, m, beforeEnd); err != nil {
		return err // a typed nil would not compare equal to nil
	}
	return nil
}

// Close says QUIT (waiting at most two seconds) and closes the connection.
// It waits for a Send in progress. Idempotent; Send may be called again
// afterwards and reconnects.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	s.sess.quit()
	s.sess = nil
	return nil
}

// sendOne runs one transaction, reconnecting once when a reused
// connection turns out to be dead before anything was sent.
func (s *Sender) sendOne(ctx context.Context, m mime.Outgoing, beforeEnd func() error) error {
	if err := m.Validate(); err != nil {
		return &SendError{MessageID: m.MessageID, Op: "compose", Permanent: true, Err: err}
	}
	log := s.log.With("message_id", m.MessageID, "ticket", m.TicketUUID)
	for attempt := 0; ; attempt++ {
		reused := s.sess != nil
		if !reused {
			sess, err := s.connect(ctx)
			if err != nil {
				err.MessageID = m.MessageID
				return err
			}
			s.sess = sess
		}
		err := s.transaction(ctx, m, beforeEnd)
		if err == nil {
			log.Debug("smtp sent", "reused_connection", reused)
			return nil
		}
		if reused && attempt == 0 && ctx.Err() == nil && staleConnection(err) {
			// The server dropped the idle connection (timeout, restart):
			// nothing was accepted, so a fresh connection may try again.
			log.Debug("smtp connection went stale; reconnecting", "err", err)
			continue
		}
		log.Debug("smtp send failed", "err", err)
		return err
	}
}

// staleConnection: MAIL FROM found the connection dead or the server
// closing it (421).
func staleConnection(err *SendError) bool {
	return err.Op == "mail from" && (err.Code == 0 || err.Code == 421)
}

// transaction sends m on s.sess. It drops the session whenever the
// connection can no longer be trusted.
func (s *Sender) transaction(ctx context.Context, m mime.Outgoing, beforeEnd func() error) *SendError {
	sess := s.sess
	stop := context.AfterFunc(ctx, sess.conn.cancel)
	defer func() {
		if !stop() && s.sess == sess {
			// ctx ended during the transaction: the deadline broke the
			// connection on purpose.
			s.drop()
		}
	}()
	c := sess.client

	fail := func(op string, err error, afterDot bool) *SendError {
		e := s.classify(ctx, m.MessageID, op, err, afterDot, sess.conn.writeFailed.Load())
		switch {
		case e.Code == 0 || e.Code == 421:
			s.drop()
		case !afterDot:
			// A refused MAIL, RCPT or DATA leaves a transaction open.
			if rerr := c.Reset(); rerr != nil {
				s.drop()
			}
		}
		return e
	}

	if err := c.Mail(strings.TrimSpace(m.From.Email), nil); err != nil {
		return fail("mail from", err, false)
	}
	if err := c.Rcpt(strings.TrimSpace(m.To.Email), nil); err != nil {
		return fail("rcpt to", err, false)
	}
	wc, err := c.Data()
	if err != nil {
		return fail("data", err, false)
	}
	if _, err := m.WriteTo(wc); err != nil {
		if sess.conn.writeFailed.Load() || ctx.Err() != nil {
			return fail("data", err, false)
		}
		// Our own failure (an attachment would not open): hang up before
		// the final dot so the server discards the partial message.
		s.drop()
		return &SendError{MessageID: m.MessageID, Op: "compose", Err: err}
	}
	if beforeEnd != nil {
		if err := beforeEnd(); err != nil {
			s.drop()
			return &SendError{MessageID: m.MessageID, Op: "commit", Err: err}
		}
	}
	if _, err := wc.CloseWithResponse(); err != nil {
		var se *gosmtp.SMTPError
		if errors.As(err, &se) && se.Code/100 == 2 {
			return nil // a 2xx other than 250 still means taken
		}
		return fail("end of data", err, true)
	}
	return nil
}

// classify turns a go-smtp error into a SendError. afterDot: the final
// dot may have been sent, so a missing reply leaves the outcome unknown
// unless a write failed (then the dot never left).
func (s *Sender) classify(ctx context.Context, id, op string, err error, afterDot, writeFailed bool) *SendError {
	e := &SendError{MessageID: id, Op: op}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		e.Code = se.Code
		if se.EnhancedCode != gosmtp.EnhancedCodeNotSet && se.EnhancedCode != gosmtp.NoEnhancedCode {
			c := se.EnhancedCode
			e.Enhanced = fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
		}
		e.Message = s.redact(se.Message)
		e.Permanent = se.Code >= 500
		return e
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		e.Err = ctxErr
	} else {
		e.Err = redactedError{s.redact(err.Error()), err}
	}
	e.OutcomeUnknown = afterDot && !writeFailed
	return e
}

// redact removes the password from text that came from elsewhere (a
// server echoing what it was sent); nothing of ours ever contains it.
func (s *Sender) redact(text string) string {
	if s.cfg.Password == "" {
		return text
	}
	return strings.ReplaceAll(text, s.cfg.Password, "[redacted]")
}

// redactedError keeps the chain of a network error for errors.Is/As while
// printing the redacted text.
type redactedError struct {
	text string
	err  error
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }

// drop closes the current connection without QUIT.
func (s *Sender) drop() {
	if s.sess != nil {
		_ = s.sess.client.Close()
		s.sess = nil
	}
}
