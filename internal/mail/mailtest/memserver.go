package mailtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// What imapmemserver (go-imap v2.0.0-beta.8) does, checked in its source:
//
//   - Capabilities are what imapserver.Options.Caps lists. MemServer
//     advertises IMAP4rev1 with MOVE and UIDPLUS unless MemOptions.NoMove /
//     NoUIDPlus hide them (the server still executes the commands; the
//     client just must not use them), so the fallbacks can be tested.
//   - IDLE is always advertised after login (imapserver adds it for
//     IMAP4rev1) and works: an APPEND from any session queues EXISTS in
//     every other session's tracker, delivered during IDLE or at the next
//     NOOP/command. One gap: SessionTracker.Idle only waits for updates
//     queued after it started, so an APPEND that lands between the end of
//     the previous command and the IDLE is reported at DONE, not at once
//     (rare; the client's re-issue of IDLE bounds the delay).
//   - APPENDUID and COPYUID are always sent, whatever the capabilities.
//   - UIDVALIDITY comes from a per-user counter bumped by every CREATE, so
//     delete + create gives a new UIDVALIDITY and UIDs restart at 1. A
//     session that had the old mailbox selected keeps seeing the old one
//     (no BYE, no notification) until it selects again.
//   - "UID n:*" with n above the highest UID matches the highest UID, as
//     RFC 9051 says, so the cursor trap is reproduced.
//   - PERMANENTFLAGS includes \*, so keywords are kept.

// MemOptions configures StartMemServer.
type MemOptions struct {
	Username string // default support@example.com
	Password string // default test-password
	// Mailboxes are created next to INBOX.
	Mailboxes []string
	// NoMove and NoUIDPlus hide those capabilities.
	NoMove, NoUIDPlus bool
	// TLSConfig enables STARTTLS; with ImplicitTLS the listener speaks TLS
	// from the first byte instead.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// IdleSkipsPending keeps go-imap's own IDLE, which reports only what
	// changes after IDLE starts. By default IDLE first reports what
	// changed since the session's last command, as RFC 2177 servers
	// (Dovecot among them) do; otherwise mail that lands between a
	// client's last command and its IDLE waits for the client's next poll.
	IdleSkipsPending bool
	// OAuth, when set, makes the server offer and accept AUTHENTICATE
	// XOAUTH2 and OAUTHBEARER next to the password, for Username only, and
	// asks OAuth whether token opens mailbox (with an oauthfake.Server:
	// func(mb, tok string) error { return fake.ValidateFor(tok, mb) }). A
	// refused token is answered as Gmail and Dovecot do: a JSON error
	// challenge, then NO [AUTHENTICATIONFAILED] once the client answers.
	OAuth func(mailbox, token string) error
	// OAuthMechanisms limits the OAuth mechanisms offered to these
	// (XOAuth2, OAuthBearer); default both.
	OAuthMechanisms []string
	// OAuthNoChallenge refuses a token with NO [AUTHENTICATIONFAILED] at
	// once, without the error challenge, as some servers (Microsoft 365
	// among them) do.
	OAuthNoChallenge bool
}

// MemServer is go-imap's imapserver + imapmemserver on 127.0.0.1, one user.
type MemServer struct {
	opts    MemOptions
	backend *imapmemserver.Server
	user    *imapmemserver.User
	addr    string
	admin   *admin
	log     serverLog
	oauth   oauthLog
	mechs   []string // OAuth mechanisms offered

	mu     sync.Mutex
	srv    *imapserver.Server
	closed bool
}

var _ Server = (*MemServer)(nil)

// StartMemServer starts a server (cleartext, InsecureAuth) on a free port,
// logs the server's complaints to the test and stops it in t.Cleanup.
func StartMemServer(t testing.TB, opts MemOptions) *MemServer {
	t.Helper()
	m, err := newMemServer(opts, &tbLogger{t: t})
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// NewMemServer is StartMemServer outside a test (the demo): the server's
// complaints are dropped and the caller must Close it.
func NewMemServer(opts MemOptions) (*MemServer, error) {
	return newMemServer(opts, quietLog{})
}

func newMemServer(opts MemOptions, log serverLog) (*MemServer, error) {
	if opts.Username == "" {
		opts.Username = "support@example.com"
	}
	if opts.Password == "" {
		opts.Password = "test-password"
	}
	user := imapmemserver.NewUser(opts.Username, opts.Password)
	for _, name := range append([]string{"INBOX"}, opts.Mailboxes...) {
		if err := user.Create(name, nil); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
	}
	backend := imapmemserver.New()
	backend.AddUser(user)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	m := &MemServer{
		opts:    opts,
		backend: backend,
		user:    user,
		addr:    ln.Addr().String(),
		log:     log,
	}
	if opts.OAuth != nil {
		m.mechs = oauthMechanisms(opts.OAuthMechanisms)
	}
	m.admin = &admin{addr: m.addr, user: opts.Username, pass: opts.Password}
	if opts.TLSConfig != nil && opts.ImplicitTLS {
		m.admin.implicitTLS = true
		m.admin.tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test server's own cert
	}
	m.serve(ln)
	return m, nil
}

func (m *MemServer) serve(ln net.Listener) {
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}}
	if !m.opts.NoMove {
		caps[imap.CapMove] = struct{}{}
	}
	if !m.opts.NoUIDPlus {
		caps[imap.CapUIDPlus] = struct{}{}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if m.opts.OAuth != nil {
				s := &pendingIdleSession{user: m.user, skipPending: m.opts.IdleSkipsPending}
				return &oauthSession{pendingIdleSession: s, m: m}, nil, nil
			}
			if m.opts.IdleSkipsPending {
				return m.backend.NewSession(), nil, nil
			}
			return &pendingIdleSession{user: m.user}, nil, nil
		},
		Caps:         caps,
		Logger:       m.log,
		TLSConfig:    m.opts.TLSConfig,
		InsecureAuth: true,
	})
	if m.opts.ImplicitTLS && m.opts.TLSConfig != nil {
		ln = tls.NewListener(ln, m.opts.TLSConfig)
	}
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// OAuthLogins lists the OAuth sign-in attempts so far, in order.
func (m *MemServer) OAuthLogins() []OAuthLogin { return m.oauth.all() }

func (m *MemServer) Addr() string     { return m.addr }
func (m *MemServer) Username() string { return m.opts.Username }
func (m *MemServer) Password() string { return m.opts.Password }

func (m *MemServer) Append(t testing.TB, mailbox string, raw []byte) uint32 {
	t.Helper()
	uid, err := m.Deliver(mailbox, raw)
	if err != nil {
		t.Fatalf("mailtest: append to %s: %v", mailbox, err)
	}
	return uid
}

func (m *MemServer) AppendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32 {
	t.Helper()
	return m.admin.appendAt(t, mailbox, raw, received, flags...)
}

// Deliver is Append for callers without a test: it stores raw in mailbox
// over IMAP and returns its UID.
func (m *MemServer) Deliver(mailbox string, raw []byte) (uint32, error) {
	return m.admin.appendRaw(mailbox, raw)
}

func (m *MemServer) Messages(t testing.TB, mailbox string) []MemMessage {
	t.Helper()
	return m.admin.messages(t, mailbox)
}

// UIDValidity reads the backend directly: it works while the server is
// stopped.
func (m *MemServer) UIDValidity(t testing.TB, mailbox string) uint32 {
	t.Helper()
	data, err := m.user.Status(mailbox, &imap.StatusOptions{UIDValidity: true})
	if err != nil {
		t.Fatalf("mailtest: status %s: %v", mailbox, err)
	}
	return data.UIDValidity
}

func (m *MemServer) CreateMailbox(t testing.TB, name string) {
	t.Helper()
	err := m.user.Create(name, nil)
	var imapErr *imap.Error
	if err != nil && !(errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists) {
		t.Fatalf("mailtest: create %s: %v", name, err)
	}
}

// RecreateMailbox deletes and creates mailbox in the backend: it is empty,
// has a new UIDVALIDITY and numbers from UID 1 again.
func (m *MemServer) RecreateMailbox(t testing.TB, mailbox string) {
	t.Helper()
	if err := m.user.Delete(mailbox); err != nil {
		t.Fatalf("mailtest: delete %s: %v", mailbox, err)
	}
	if err := m.user.Create(mailbox, nil); err != nil {
		t.Fatalf("mailtest: create %s: %v", mailbox, err)
	}
}

// DeleteMailbox removes a mailbox (MemServer only).
func (m *MemServer) DeleteMailbox(t testing.TB, name string) {
	t.Helper()
	if err := m.user.Delete(name); err != nil {
		t.Fatalf("mailtest: delete %s: %v", name, err)
	}
}

func (m *MemServer) AddFlags(t testing.TB, mailbox string, uid uint32, flags ...string) {
	t.Helper()
	m.admin.addFlags(t, mailbox, uid, flags...)
}

// Stop closes the listener and every session; the mail stays.
func (m *MemServer) Stop() {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart serves the same backend on the same address again.
func (m *MemServer) Restart(t testing.TB) {
	t.Helper()
	m.Stop()
	var ln net.Listener
	ok := waitFor(5*time.Second, func() bool {
		var err error
		ln, err = net.Listen("tcp", m.addr)
		return err == nil
	})
	if !ok {
		t.Fatalf("mailtest: relisten on %s failed", m.addr)
	}
	m.serve(ln)
}

func (m *MemServer) Close() {
	m.mu.Lock()
	done := m.closed
	m.closed = true
	m.mu.Unlock()
	if !done {
		m.Stop()
		m.log.stop()
	}
}

// serverLog receives imapserver's complaints until stop.
type serverLog interface {
	Printf(format string, args ...any)
	stop()
}

// tbLogger sends imapserver's complaints to the test log while the test
// runs; testing panics on a Logf after the test has finished.
type tbLogger struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *tbLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("imapserver: "+strings.TrimSuffix(format, "\n"), args...)
	}
}

func (l *tbLogger) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// pendingIdleSession is go-imap's memory session for the server's one
// user, whose IDLE starts by reporting what changed since the last command.
type pendingIdleSession struct {
	*imapmemserver.UserSession // nil until login, as in go-imap's own session
	user                       *imapmemserver.User
	skipPending                bool // MemOptions.IdleSkipsPending
}

func (s *pendingIdleSession) Login(username, password string) error {
	if err := s.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}

func (s *pendingIdleSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if !s.skipPending {
		if err := s.UserSession.Poll(w, true); err != nil {
			return err
		}
	}
	return s.UserSession.Idle(w, stop)
}

// oauthSession adds the OAuth mechanisms to a session. imapserver offers
// exactly the mechanisms a SASL session lists, so PLAIN is listed too.
type oauthSession struct {
	*pendingIdleSession
	m *MemServer
}

var _ imapserver.SessionSASL = (*oauthSession)(nil)

// errIMAPOAuthRefused is Dovecot's final answer to a refused token.
var errIMAPOAuthRefused = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeAuthenticationFailed,
	Text: "Authentication failed.",
}

func (s *oauthSession) AuthenticateMechanisms() []string {
	return append([]string{sasl.Plain}, s.m.mechs...)
}

func (s *oauthSession) Authenticate(mech string) (sasl.Server, error) {
	switch {
	case mech == sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed, Text: "SASL identity not supported"}
			}
			return s.Login(username, password)
		}), nil
	case offers(s.m.mechs, mech):
		return newOAuthServer(mech, s.signIn, errIMAPOAuthRefused, s.m.opts.OAuthNoChallenge, &s.m.oauth), nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
}

// signIn logs the session in when the token opens the server's mailbox.
func (s *oauthSession) signIn(mailbox, token string) error {
	if err := s.m.opts.OAuth(mailbox, token); err != nil {
		return err
	}
	if !strings.EqualFold(mailbox, s.m.opts.Username) {
		return fmt.Errorf("no mailbox %s here", mailbox)
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}
