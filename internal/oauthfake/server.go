// Package oauthfake is an OAuth 2.0 authorization server spoken to over
// real HTTP on loopback, for tests and the demo. The real client libraries
// (golang.org/x/oauth2 and its clientcredentials, jwt and google packages)
// talk to it unchanged, so a misuse of them fails here as it would against
// Microsoft 365 or Google.
//
// It issues opaque random tokens for the client_credentials grant (with a
// client secret or a certificate-signed client assertion, as Microsoft's
// app-only flow does), the JWT bearer grant (Google service accounts with
// domain-wide delegation), refresh_token, authorization_code with PKCE, and
// the device code grant. It answers RFC 7662 introspection in the three
// forms Dovecot 2.3's oauth2 passdb sends, and lets in-process IMAP and
// SMTP test servers check a token directly (Validate, ValidateFor).
//
// Errors are shaped like the provider named by Options.Flavor: Microsoft's
// carry an AADSTS code, Google's its terse descriptions. Nothing it logs or
// returns for inspection holds a secret or a token in clear: tokens are
// known by a hash prefix (TokenID), secrets not at all.
package oauthfake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Paths served, relative to URL().
const (
	PathToken      = "/token"
	PathAuthorize  = "/authorize"
	PathDeviceCode = "/devicecode"
	PathDevice     = "/device" // verification_uri of the device flow; a page no test needs
	PathIntrospect = "/introspect"
)

// Grant types, as sent in grant_type, and the client assertion type.
const (
	GrantClientCredentials = "client_credentials"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantRefreshToken      = "refresh_token"
	GrantAuthorizationCode = "authorization_code"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

const (
	defaultTokenLifetime   = 3599 * time.Second // what Microsoft and Google both answer
	defaultRefreshLifetime = 90 * 24 * time.Hour
	codeLifetime           = 10 * time.Minute
	deviceLifetime         = 15 * time.Minute
	assertionSkew          = 5 * time.Minute
	maxAssertionLifetime   = time.Hour // Google refuses longer-lived assertions
	maxFormBytes           = 64 << 10
	tokenIDLen             = 12
	offlineAccessScope     = "offline_access"
	microsoftDefaultSuffix = "/.default"
)

// Flavor picks whose error shapes and quirks the fake imitates.
type Flavor string

const (
	// Generic follows RFC 6749 and nothing else.
	Generic Flavor = ""
	// Microsoft answers like the Microsoft identity platform (v2.0
	// endpoints): AADSTS codes, error_codes/trace_id members, ext_expires_in,
	// refresh tokens only with offline_access, scope required and ending in
	// /.default for client credentials.
	Microsoft Flavor = "microsoft"
	// Google answers like oauth2.googleapis.com: terse descriptions,
	// refresh tokens only with access_type=offline, 401 for a service
	// account not allowed to impersonate.
	Google Flavor = "google"
)

// ErrUnknownToken and its siblings are what Validate-style checks wrap.
var (
	ErrUnknownToken   = errors.New("oauthfake: unknown token")
	ErrTokenExpired   = errors.New("oauthfake: token expired")
	ErrTokenRevoked   = errors.New("oauthfake: token revoked")
	ErrNotAccessToken = errors.New("oauthfake: not an access token")
	ErrMailboxDenied  = errors.New("oauthfake: token does not grant this mailbox")
	ErrUnknownClient  = errors.New("oauthfake: unknown client")
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Flavor selects the provider whose answers are imitated.
	Flavor Flavor
	// Now is the clock for lifetimes, expiry and assertion time checks;
	// default time.Now. Advancing it expires tokens, and makes a client's
	// fresh assertion look stale, as a provider whose clock is ahead would.
	Now func() time.Time
	// TokenLifetime is the access token lifetime (expires_in); default 3599 s.
	TokenLifetime time.Duration
	// RefreshTokenLifetime is how long a refresh token may go unused before
	// it expires (Microsoft's inactivity window); default 90 days.
	RefreshTokenLifetime time.Duration
	// RotateRefreshTokens issues a new refresh token on every refresh and
	// revokes the one presented, so a client that keeps using the old one
	// fails. Microsoft rotates (without revoking), Google does not.
	RotateRefreshTokens bool
	// AuthStyle limits how clients may present a secret:
	// oauth2.AuthStyleInHeader (HTTP Basic only), oauth2.AuthStyleInParams
	// (form only), or oauth2.AuthStyleAutoDetect (default: either). The
	// other style is refused with invalid_client, which is what makes
	// x/oauth2's auto-detection retry in the other style.
	AuthStyle oauth2.AuthStyle
	// RequirePKCE refuses an authorization request without code_challenge.
	RequirePKCE bool
	// DevicePendingPolls is how many device-code polls answer
	// authorization_pending before the signed-in user is taken to have
	// approved; default 1. DeviceInterval is the polling interval
	// announced (whole seconds, at least 1; default 1 s).
	DevicePendingPolls int
	DeviceInterval     time.Duration
	// IntrospectionRequiresClientAuth makes the post and get introspection
	// forms require a registered client's credentials, as RFC 7662
	// recommends: in HTTP Basic (Dovecot sends them when introspection_url
	// has user:password@) or as client_id and client_secret parameters.
	// The auth form is always allowed: the bearer token is its own
	// credential.
	IntrospectionRequiresClientAuth bool
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu           sync.Mutex
	clients      map[string]*client
	serviceAccts map[string]*ServiceAccount // by email
	users        map[string]bool            // lower-cased mailboxes
	signedIn     string
	tokens       map[string]*token // by full hash
	codes        map[string]*authCode
	devices      map[string]*deviceAuth // by device_code hash
	denyNext     int
	faults       []*fault

	logMu sync.Mutex
	log   []*Request
}

var _ http.Handler = (*Server)(nil)

// New starts a fake on a loopback port; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := Start(opts)
	t.Cleanup(s.Close)
	return s
}

// Start is New outside a test (the demo); the caller must Close it.
func Start(opts Options) *Server {
	s := NewHandler(opts)
	s.srv = httptest.NewServer(s)
	return s
}

// NewHandler returns a fake that is not listening, for mounting under
// another server; URL and the URL helpers are then empty, and audiences
// are checked against the host each request was sent to.
func NewHandler(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = defaultTokenLifetime
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = defaultRefreshLifetime
	}
	if opts.DevicePendingPolls <= 0 {
		opts.DevicePendingPolls = 1
	}
	if opts.DeviceInterval < time.Second {
		opts.DeviceInterval = time.Second
	}
	return &Server{
		opts:         opts,
		closed:       make(chan struct{}),
		clients:      map[string]*client{},
		serviceAccts: map[string]*ServiceAccount{},
		users:        map[string]bool{},
		tokens:       map[string]*token{},
		codes:        map[string]*authCode{},
		devices:      map[string]*deviceAuth{},
	}
}

// Close ends injected delays, then stops the listener and waits for
// requests in flight. Closing twice is harmless.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	if s.srv != nil {
		s.srv.Close()
	}
}

// URL is the base of every endpoint, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL
}

// TokenURL is also the audience client assertions and JWT bearer
// assertions must name.
func (s *Server) TokenURL() string      { return s.endpointURL(PathToken) }
func (s *Server) AuthURL() string       { return s.endpointURL(PathAuthorize) }
func (s *Server) DeviceAuthURL() string { return s.endpointURL(PathDeviceCode) }

// IntrospectionURL is the URL to configure for Dovecot's introspection_url
// in the given introspection_mode: for "get" Dovecot appends the escaped
// token to the URL as it is, so it must end in "?token=".
func (s *Server) IntrospectionURL(mode string) string {
	if mode == "get" {
		return s.endpointURL(PathIntrospect) + "?token="
	}
	return s.endpointURL(PathIntrospect)
}

// Endpoint is for oauth2.Config and clientcredentials.Config (its
// TokenURL). AuthStyle is left to auto-detection.
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.AuthURL(), TokenURL: s.TokenURL(), DeviceAuthURL: s.DeviceAuthURL()}
}

func (s *Server) endpointURL(path string) string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL + path
}

// Now is the fake's clock.
func (s *Server) Now() time.Time { return s.opts.Now() }

// ServeHTTP routes by path. Faults and delays apply before anything else,
// as a load balancer in front of the provider would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := s.logStart(r)
	sw := &statusWriter{ResponseWriter: w, s: s, entry: rec}
	if f := s.takeFault(r.URL.Path); f != nil {
		if !s.applyFault(f, sw, r) {
			return
		}
	}
	switch r.URL.Path {
	case PathToken:
		s.serveToken(sw, r)
	case PathAuthorize:
		s.serveAuthorize(sw, r)
	case PathDeviceCode:
		s.serveDeviceCode(sw, r)
	case PathDevice:
		sw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = sw.Write([]byte("Enter the code shown by the application.\n"))
	case PathIntrospect:
		s.serveIntrospect(sw, r)
	default:
		http.NotFound(sw, r)
	}
}

// TokenID is the name under which a token appears in the log and in
// TokenInfo: a prefix of its SHA-256, safe to print.
func TokenID(token string) string { return hashToken(token)[:tokenIDLen] }

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// audience is the token URL as the client addressed it: the listener's
// when there is one, else rebuilt from the request.
func (s *Server) audience(r *http.Request) string {
	if u := s.TokenURL(); u != "" {
		return u
	}
	return "http://" + r.Host + PathToken
}

// splitScope splits a space-delimited scope parameter, dropping repeats.
func splitScope(scope string) []string {
	var out []string
	seen := map[string]bool{}
	for _, sc := range strings.Fields(scope) {
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
