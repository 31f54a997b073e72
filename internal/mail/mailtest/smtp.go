package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configures StartSMTP. The zero value is an open cleartext
// server that accepts everything.
type SMTPOptions struct {
	// Username and Password, when set, make AUTH required: MAIL before a
	// successful AUTH is refused with 530, a wrong password with 535.
	Username, Password string
	// AuthMechanisms offered; default PLAIN and LOGIN.
	AuthMechanisms []string
	// AllowInsecureAuth offers AUTH on a cleartext connection.
	AllowInsecureAuth bool
	// ImplicitTLS speaks TLS from the first byte; StartTLS offers
	// STARTTLS. Both use a self-signed certificate for 127.0.0.1 that
	// ClientTLSConfig trusts.
	ImplicitTLS bool
	StartTLS    bool
	// MaxMessageBytes is advertised with SIZE and enforced; 0 is no limit.
	MaxMessageBytes int64
	// OAuth, when set, makes the server offer and accept AUTH XOAUTH2 and
	// OAUTHBEARER next to AuthMechanisms, makes AUTH required, and asks
	// OAuth whether token opens mailbox (with an oauthfake.Server:
	// func(mb, tok string) error { return fake.ValidateFor(tok, mb) }). A
	// refused token is answered as Gmail does: a 334 JSON error challenge,
	// then 535 5.7.8 once the client answers (501 if it cancels with "*").
	OAuth func(mailbox, token string) error
	// OAuthMechanisms limits the OAuth mechanisms offered to these
	// (XOAuth2, OAuthBearer); default both.
	OAuthMechanisms []string
	// OAuthNoChallenge refuses a token with 535 at once, without the
	// error challenge, as some servers (Microsoft 365 among them) do.
	OAuthNoChallenge bool
	// Deliver, when set, is called with every message before it is
	// accepted; an error answers 451 and nothing is recorded. The demo
	// hands mail for the support address on to the IMAP server this way,
	// so a mail client sending through this server opens tickets.
	Deliver func(Received) error
}

// Received is one message the server accepted.
type Received struct {
	From     string
	To       []string
	Data     []byte
	At       time.Time
	Username string // authenticated user, "" without AUTH
	TLS      bool   // the session was encrypted
}

// SMTPServer is a go-smtp server on 127.0.0.1 with a recording backend that
// can be told to fail. Its methods are safe from any goroutine.
type SMTPServer struct {
	opts      SMTPOptions
	addr      string
	serverTLS *tls.Config
	clientTLS *tls.Config
	mechs     []string // OAuth mechanisms offered
	oauth     oauthLog

	mu       sync.Mutex
	srv      *smtp.Server // nil while down
	ln       net.Listener // closed here too: go-smtp registers it only once Serve runs
	msgs     []Received
	conns    map[*smtp.Conn]bool
	fails    []smtp.SMTPError
	drops    int
	closed   bool
	serveErr chan error
}

// StartSMTP starts a server on 127.0.0.1:0; t.Cleanup closes it.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s, err := NewSMTP(opts)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewSMTP is StartSMTP outside a test (the demo); the caller must Close it.
func NewSMTP(opts SMTPOptions) (*SMTPServer, error) {
	if len(opts.AuthMechanisms) == 0 {
		opts.AuthMechanisms = []string{sasl.Plain, sasl.Login}
	}
	s := &SMTPServer{opts: opts, conns: map[*smtp.Conn]bool{}}
	if opts.OAuth != nil {
		s.mechs = oauthMechanisms(opts.OAuthMechanisms)
	}
	if opts.ImplicitTLS || opts.StartTLS {
		var err error
		if s.serverTLS, s.clientTLS, err = selfSignedTLS(); err != nil {
			return nil, fmt.Errorf("smtp certificate: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

func (s *SMTPServer) serve(ln net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "mailtest.example"
	srv.AllowInsecureAuth = s.opts.AllowInsecureAuth
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = quietLog{}
	if s.opts.StartTLS {
		srv.TLSConfig = s.serverTLS
	}
	if s.opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.serverTLS)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.serveErr = done
	s.mu.Unlock()
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return s.addr }

// ClientTLSConfig trusts the server's certificate; nil without TLS.
func (s *SMTPServer) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns what was accepted so far, in order.
func (s *SMTPServer) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// OAuthLogins lists the OAuth sign-in attempts so far, in order.
func (s *SMTPServer) OAuthLogins() []OAuthLogin { return s.oauth.all() }

// Sessions counts the connections that got as far as EHLO/HELO.
func (s *SMTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// FailNext makes the next n messages fail at the end of DATA with the
// given reply, e.g. FailNext(1, 451, "4.3.0", "try again later").
// enhanced may be "" for none.
func (s *SMTPServer) FailNext(n int, code int, enhanced string, msg string) {
	e := smtp.SMTPError{Code: code, EnhancedCode: parseEnhanced(enhanced), Message: msg}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, e)
	}
}

// DropAfterDataNext makes the next n messages end with the connection
// closed after the data was received but before any reply: the client
// cannot know whether the message was taken. The message IS recorded, as
// when a server crashes after queueing it.
func (s *SMTPServer) DropAfterDataNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

// SetDown(true) closes the listener and every open connection, so dialling
// is refused; SetDown(false) listens again on the same address.
func (s *SMTPServer) SetDown(down bool) {
	s.mu.Lock()
	srv, ln, done, closed := s.srv, s.ln, s.serveErr, s.closed
	if down {
		s.srv, s.ln = nil, nil
	}
	s.mu.Unlock()
	if closed {
		return
	}
	if down {
		if srv != nil {
			_ = srv.Close() // its listener (once registered) and connections
			_ = ln.Close()
			<-done
		}
		return
	}
	if srv != nil {
		return // already up
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		panic("mailtest: smtp relisten on " + s.addr + ": " + err.Error())
	}
	s.serve(ln)
}

// Close stops the server for good. Idempotent.
func (s *SMTPServer) Close() {
	s.SetDown(true)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{srv: s, conn: c, tls: isTLS}, nil
}

// nextOutcome pops the fault to apply to the message being received.
func (s *SMTPServer) nextOutcome() (fail *smtp.SMTPError, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		return &f, false
	}
	if s.drops > 0 {
		s.drops--
		return nil, true
	}
	return nil, false
}

type smtpSession struct {
	srv  *SMTPServer
	conn *smtp.Conn
	tls  bool

	user string // "" until AUTH succeeded
	from string
	to   []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (x *smtpSession) AuthMechanisms() []string {
	return append(slices.Clone(x.srv.opts.AuthMechanisms), x.srv.mechs...)
}

// errSMTPOAuthRefused is Gmail's final answer to a refused token.
var errSMTPOAuthRefused = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted"}

func (x *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		o := x.srv.opts
		if o.Username == "" || user != o.Username || pass != o.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Invalid credentials"}
		}
		x.user = user
		return nil
	}
	offered := false
	for _, m := range x.srv.opts.AuthMechanisms {
		offered = offered || strings.EqualFold(m, mech)
	}
	switch {
	case offered && mech == sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Identity mismatch"}
			}
			return check(user, pass)
		}), nil
	case offered && mech == sasl.Login:
		return &loginServer{check: check}, nil
	case offers(x.srv.mechs, mech):
		return newOAuthServer(mech, func(mailbox, token string) error {
			if err := x.srv.opts.OAuth(mailbox, token); err != nil {
				return err
			}
			x.user = mailbox
			return nil
		}, errSMTPOAuthRefused, x.srv.opts.OAuthNoChallenge, &x.srv.oauth), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if (x.srv.opts.Username != "" || x.srv.opts.OAuth != nil) && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	fail, drop := x.srv.nextOutcome()
	if fail != nil {
		return fail
	}
	rec := Received{
		From: x.from, To: append([]string(nil), x.to...), Data: data, At: time.Now(),
		Username: x.user, TLS: x.tls,
	}
	if deliver := x.srv.opts.Deliver; deliver != nil {
		if err := deliver(rec); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Delivery failed, try again later"}
		}
	}
	x.srv.mu.Lock()
	x.srv.msgs = append(x.srv.msgs, rec)
	x.srv.mu.Unlock()
	if drop {
		// Closing the socket here, before go-smtp writes the 250, is the
		// "server took it but the client never heard" case.
		_ = x.conn.Conn().Close()
	}
	return nil
}

func (x *smtpSession) Reset() { x.from, x.to = "", nil }

func (x *smtpSession) Logout() error { return nil }

// loginServer is the server side of the obsolete LOGIN mechanism, which
// go-sasl only has a client for.
type loginServer struct {
	check func(user, pass string) error
	user  *string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch {
	case l.user == nil && response == nil:
		return []byte("Username:"), false, nil
	case l.user == nil:
		u := string(response)
		l.user = &u
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(*l.user, string(response))
	}
}

func parseEnhanced(s string) smtp.EnhancedCode {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.NoEnhancedCode
	}
	var c smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return smtp.NoEnhancedCode
		}
		c[i] = n
	}
	return c
}

// SelfSignedTLS makes a certificate for 127.0.0.1 and localhost, and a
// client config that trusts exactly it: for a test's own TLS listener.
func SelfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	server, client, err := selfSignedTLS()
	if err != nil {
		t.Fatalf("self-signed certificate: %v", err)
	}
	return server, client
}

// selfSignedTLS is SelfSignedTLS for a caller without a testing.TB.
func selfSignedTLS() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

// quietLog swallows go-smtp's server log (a test that drops connections
// on purpose would otherwise fill the output) and imapserver's outside a
// test.
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
func (quietLog) stop()                 {}

var _ smtp.Backend = (*SMTPServer)(nil)
