package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketsync/ticketsync/internal/mail"
)

// Config configures one Inbox. Zero durations take the defaults noted.
type Config struct {
	Addr               string // host:port
	TLS                mail.TLSMode
	Username, Password string
	// Tokens, when set, signs in with OAuth 2.0 (OAUTHBEARER when the
	// server offers it, else XOAUTH2) as Username, the mailbox address,
	// instead of the password. A token is asked for at every login and
	// kept no longer, so a reconnect never presents an expired one.
	Tokens mail.TokenSource

	Mailbox string // default INBOX
	// ProcessedMailbox receives handled mail; "" flags it \Seen in place.
	ProcessedMailbox string
	// FailedMailbox receives mail that can never succeed; "" flags it \Seen
	// and $TicketsyncFailed (when the server keeps keywords) in place.
	FailedMailbox string

	// IDLE enables push through IMAP IDLE when the server has it. The zero
	// value polls with NOOP; the daemon's config default is true.
	IDLE bool

	// TLSConfig overrides the system roots (tests trust a self-signed cert
	// here). ServerName defaults to the host of Addr.
	TLSConfig *tls.Config
	// AllowInsecure permits logging in over mail.TLSNone to a host other than
	// loopback, which sends the password in clear. Without it Connect
	// refuses before dialling (ErrCleartextLogin).
	AllowInsecure bool

	DialTimeout    time.Duration // default 15s: TCP connect plus TLS handshake
	CommandTimeout time.Duration // default 60s: every command except IDLE
	Logger         *slog.Logger
}

// MailboxStatus is what SELECT reported. UIDs are only comparable while
// UIDValidity stays the same.
type MailboxStatus struct {
	UIDValidity uint32
	UIDNext     uint32 // 0 when the server did not say
	Messages    uint32
}

// Envelope is the cheap summary of one message that List returns.
type Envelope struct {
	UID  uint32
	Size int64 // RFC822.SIZE: check it before fetching the body
	// MessageID is the Message-ID header field's id without <>. It is ""
	// when the field is missing or malformed; the parsed message is
	// authoritative.
	MessageID string
	Flags     []string
	// Received is the server's INTERNALDATE: when the message arrived in
	// the mailbox. Zero when the server did not say.
	Received time.Time
}

var (
	// ErrNotConnected: there is no session. Connect must be called (with
	// backoff). Connection-level failures (*ConnError) match it too, so one
	// errors.Is check tells the caller to reconnect.
	ErrNotConnected = errors.New("imap: not connected")
	// ErrAuth: the server refused the credentials. Retrying cannot help
	// until the configuration changes. With Tokens, the server refused a
	// renewed token as well (errors.As gives an *mail.OAuthRefusedError); a
	// failure to get a token is a *mail.TokenError instead, not ErrAuth.
	ErrAuth = errors.New("imap: authentication failed")
	// ErrGone: the UID no longer exists in the mailbox (another client moved
	// or expunged it).
	ErrGone = errors.New("imap: message no longer exists")
	// ErrCleartextLogin: the configuration would send the password without
	// TLS to a host other than loopback, and AllowInsecure is off. Nothing
	// was sent; retrying cannot help until the configuration changes.
	ErrCleartextLogin = errors.New("imap: refusing to log in without TLS to a host other than loopback")
)

// ConnError is a connection-level failure: the connection closed, timed out,
// or broke the protocol. The session is dropped; errors.Is(err,
// ErrNotConnected) is true.
type ConnError struct {
	Op  string
	Err error
}

func (e *ConnError) Error() string {
	if strings.HasPrefix(e.Op, "connect") {
		// Nothing was lost: the connection was never made (a name that
		// does not resolve reads "no such host", a closed port "refused").
		return "imap: " + e.Op + ": " + e.Err.Error()
	}
	return "imap: " + e.Op + ": connection lost: " + e.Err.Error()
}

func (e *ConnError) Unwrap() error        { return e.Err }
func (e *ConnError) Is(target error) bool { return target == ErrNotConnected }

// CommandError is a NO or BAD answer to one command. The session stays
// usable; whether a retry can help depends on the command and Code.
type CommandError struct {
	Op   string
	Type string // "NO" or "BAD"
	Code string // response code such as TRYCREATE or UNAVAILABLE, may be ""
	Text string
}

func (e *CommandError) Error() string {
	s := "imap: " + e.Op + ": " + e.Type
	if e.Code != "" {
		s += " [" + e.Code + "]"
	}
	return s + " " + e.Text
}

// Inbox is one IMAP mailbox as the intake flow sees it. It is used by one
// goroutine; only Connected and Close may be called from others. It never
// reconnects by itself: after a connection-level error every call returns
// ErrNotConnected until Connect succeeds again, so the caller owns backoff.
type Inbox struct {
	cfg Config
	log *slog.Logger

	// newMail is signalled (never blocking: the client's reader goroutine
	// calls the handler) when the server reports EXISTS outside a command.
	newMail chan struct{}

	validity uint32 // last UIDVALIDITY seen, for the log; owner goroutine only

	mu        sync.Mutex
	sess      *imapSession // nil when disconnected
	closes    uint64       // Close calls, so a Connect racing one gives up
	connected atomic.Bool

	// dialContext replaces net.Dialer in tests, which need a host name
	// other than loopback to reach a loopback server without DNS.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// imapSession is one logged-in connection and what was learnt on it.
type imapSession struct {
	client   *imapclient.Client
	conn     *deadlineConn
	move     bool // MOVE: atomic move
	uidPlus  bool // UID EXPUNGE touches only our message
	idle     bool
	keywords bool // PERMANENTFLAGS allows new keywords

	// idling is read by Close from another goroutine: LOGOUT cannot be
	// sent while IDLE holds the client's writer.
	idling atomic.Bool
}

const (
	defaultDialTimeout    = 15 * time.Second
	defaultCommandTimeout = 60 * time.Second
	logoutTimeout         = 2 * time.Second
	failedKeyword         = goimap.Flag("$TicketsyncFailed")
	// doneKeyword marks mail filed in place as handled. \Seen alone says
	// nothing (a person may have read it); the keyword lets a restored
	// state file, whose cursor is older than the mailbox, tell mail it
	// handled since the backup from mail it never saw.
	doneKeyword = goimap.Flag("$TicketsyncDone")
)

// Handled reports whether flags carry the keyword ticketsync gives mail
// it filed in place, handled or quarantined (on servers that keep
// keywords: most do, Exchange Online does not).
func Handled(flags []string) bool {
	for _, f := range flags {
		if strings.EqualFold(f, string(doneKeyword)) || strings.EqualFold(f, string(failedKeyword)) {
			return true
		}
	}
	return false
}

// NewInbox applies defaults; it does no I/O.
func NewInbox(cfg Config) *Inbox {
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	if cfg.TLS == "" {
		cfg.TLS = mail.TLSImplicit
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = defaultCommandTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inbox{
		cfg:     cfg,
		log:     log.With("imap", cfg.Addr, "mailbox", cfg.Mailbox),
		newMail: make(chan struct{}, 1),
	}
}

// Connected reports whether a session is up. Safe from any goroutine.
func (b *Inbox) Connected() bool { return b.connected.Load() }

// Close logs out (waiting at most two seconds) and closes the connection.
// Safe from any goroutine, idempotent; Connect may be called afterwards.
func (b *Inbox) Close() error {
	b.mu.Lock()
	b.closes++
	b.mu.Unlock()
	s := b.detach(nil)
	if s == nil {
		return nil
	}
	if !s.idling.Load() {
		// A command may still be running in the owner goroutine: the
		// deadline and the timer bound the wait for it and for LOGOUT.
		s.conn.setLimit(time.Now().Add(logoutTimeout))
		done := make(chan struct{})
		go func() {
			_ = s.client.Logout().Wait()
			close(done)
		}()
		timer := time.NewTimer(logoutTimeout)
		select {
		case <-done:
		case <-timer.C:
		}
		timer.Stop()
	}
	if err := s.client.Close(); err != nil && !isClosedErr(err) {
		b.log.Debug("imap close", "err", err)
	}
	return nil
}

// detach drops the session if it is s (any session when s is nil) and
// returns what was dropped.
func (b *Inbox) detach(s *imapSession) *imapSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.sess
	if cur == nil || (s != nil && cur != s) {
		return nil
	}
	b.sess = nil
	b.connected.Store(false)
	return cur
}

func (b *Inbox) current() *imapSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sess
}

// signal records new mail without ever blocking the client's reader.
func (b *Inbox) signal() {
	select {
	case b.newMail <- struct{}{}:
	default:
	}
}

func (b *Inbox) drainSignal() {
	select {
	case <-b.newMail:
	default:
	}
}

// run executes one command exchange under the command timeout; the end of
// ctx breaks the connection, because an IMAP command cannot be abandoned
// half way.
func (b *Inbox) run(ctx context.Context, op string, f func(s *imapSession, g *cmdGuard) error) error {
	s := b.current()
	if s == nil {
		return fmt.Errorf("imap: %s: %w", op, ErrNotConnected)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("imap: %s: %w", op, err)
	}
	g := s.conn.guard(ctx, b.cfg.CommandTimeout)
	err := f(s, g)
	g.release()
	return b.classify(ctx, s, op, err)
}

// classify turns a go-imap error into ours and drops the session on any
// connection-level failure.
func (b *Inbox) classify(ctx context.Context, s *imapSession, op string, err error) error {
	if err == nil {
		return nil
	}
	var passthrough *callbackError
	if errors.As(err, &passthrough) {
		return fmt.Errorf("imap: %s: %w", op, passthrough.err)
	}
	if errors.Is(err, ErrGone) {
		return fmt.Errorf("imap: %s: %w", op, ErrGone)
	}
	var imapErr *goimap.Error
	if errors.As(err, &imapErr) {
		return &CommandError{Op: op, Type: string(imapErr.Type), Code: string(imapErr.Code), Text: imapErr.Text}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Cancellation broke the connection on purpose: no warning.
		b.drop(s, slog.LevelDebug, err)
		return fmt.Errorf("imap: %s: %w", op, ctxErr)
	}
	b.drop(s, slog.LevelWarn, err)
	return &ConnError{Op: op, Err: err}
}

// drop closes a session that failed at the connection level.
func (b *Inbox) drop(s *imapSession, level slog.Level, cause error) {
	if b.detach(s) == nil {
		return
	}
	b.log.Log(context.Background(), level, "imap connection lost", "err", cause)
	_ = s.client.Close()
}

// callbackError carries the caller's own error out of run untouched: it
// says nothing about the connection.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
