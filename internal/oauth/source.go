// Package oauth signs ticketsync in to a mailbox with OAuth 2.0: it turns
// the mail.oauth2 configuration into access tokens for SASL XOAUTH2 and
// OAUTHBEARER, from golang.org/x/oauth2 (client credentials with a secret
// or a certificate for Microsoft 365, a service account with domain-wide
// delegation or a refresh token for Google, and any provider by token URL).
// Tokens are cached and renewed before they expire; a refusal names what
// the identity provider said and what to change. No token or secret is
// ever logged, put in an error, or stored.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Providers.
const (
	Microsoft = "microsoft"
	Google    = "google"
	Generic   = "generic"
)

// Scopes by provider and kind of sign-in.
var (
	microsoftAppScopes       = []string{"https://outlook.office365.com/.default"}
	microsoftDelegatedScopes = []string{"https://outlook.office365.com/IMAP.AccessAsUser.All",
		"https://outlook.office365.com/SMTP.Send", "offline_access"}
	googleScopes = []string{"https://mail.google.com/"}
)

// Config is one mailbox's OAuth 2.0 sign-in.
type Config struct {
	Provider string
	TenantID string // Microsoft
	ClientID string
	// ClientSecret and RefreshToken are read through these each time the
	// sign-in is (re)built, so a secret file an operator replaces is picked
	// up without a restart. nil means not set.
	ClientSecret func() (string, error)
	RefreshToken func() (string, error)
	// ClientCertificateFile and ClientKeyFile sign a client assertion
	// instead of a secret (Microsoft app-only).
	ClientCertificateFile, ClientKeyFile string
	// ServiceAccountFile is a Google service account key with domain-wide
	// delegation; Mailbox is its subject.
	ServiceAccountFile string
	// TokenURL overrides the provider's token endpoint (required for
	// Generic). Scopes override the provider's.
	TokenURL string
	Scopes   []string
	// Mailbox is the account signed in to: the SASL user and the subject
	// of a Google service account.
	Mailbox string
	// HTTPClient talks to the identity provider; nil builds one with a
	// 30 s timeout. Redirects are never followed.
	HTTPClient *http.Client
	// EarlyExpiry renews a token this long before it expires, so a login
	// never presents one that expires on the way; default 5 minutes.
	EarlyExpiry time.Duration
	// ReadFile reads the certificate, key and service account files;
	// default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Source hands out access tokens for one mailbox. Safe for concurrent use.
type Source struct {
	cfg Config

	mu    sync.Mutex
	cache oauth2.TokenSource // nil: rebuilt, with secrets read afresh, on the next use
}

// New checks the configuration (and reads the files it names, so a wrong
// path fails at start) and returns a Source; it fetches no token.
func New(cfg Config) (*Source, error) {
	if cfg.EarlyExpiry <= 0 {
		cfg.EarlyExpiry = 5 * time.Minute
	}
	if cfg.ReadFile == nil {
		cfg.ReadFile = readFile
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	// A token endpoint that redirects is misconfigured, and following it
	// would send the client secret to wherever it points.
	hc := *cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &hc
	s := &Source{cfg: cfg}
	if _, err := s.build(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// User is the mailbox the tokens are for.
func (s *Source) User() string { return s.cfg.Mailbox }

// Token returns a valid access token, from the cache while it lasts.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	src := s.cache
	s.mu.Unlock()
	if src == nil {
		var err error
		if src, err = s.build(ctx); err != nil {
			return "", err
		}
		s.mu.Lock()
		s.cache = src
		s.mu.Unlock()
	}
	tok, err := fetch(ctx, src)
	if err != nil {
		// The next attempt starts over, reading the secrets again: an
		// operator may be replacing a revoked one right now.
		s.mu.Lock()
		if s.cache == src {
			s.cache = nil
		}
		s.mu.Unlock()
		return "", s.explain(err)
	}
	return tok.AccessToken, nil
}

// Renew drops the cached token and gets a new one: the mail server refused
// the cached one (revoked, or its clock ahead of ours).
func (s *Source) Renew(ctx context.Context) (string, error) {
	s.mu.Lock()
	s.cache = nil
	s.mu.Unlock()
	return s.Token(ctx)
}

// fetch runs x/oauth2's Token, which takes no context, so that ctx still
// bounds the wait; the request itself is bounded by the HTTP client's
// timeout, after which the goroutine ends.
func fetch(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		if r.err == nil && (r.tok == nil || r.tok.AccessToken == "") {
			r.err = errors.New("the identity provider answered without an access token")
		}
		return r.tok, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// build makes the provider's token source, reading every secret and file
// afresh, wrapped in the cache that renews EarlyExpiry before expiry.
func (s *Source) build(ctx context.Context) (oauth2.TokenSource, error) {
	c := s.cfg
	// x/oauth2 uses this context for every request of the source it makes,
	// long after build returns: only its values matter, never its end.
	base := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, c.HTTPClient)
	secret, err := read(c.ClientSecret, "client_secret")
	if err != nil {
		return nil, err
	}
	refresh, err := read(c.RefreshToken, "refresh_token")
	if err != nil {
		return nil, err
	}
	var src oauth2.TokenSource
	switch c.Provider {
	case Microsoft:
		src, err = s.microsoft(base, secret, refresh)
	case Google:
		src, err = s.google(base, secret, refresh)
	case Generic:
		src, err = s.generic(base, secret, refresh)
	default:
		err = fmt.Errorf("oauth: provider %q: want microsoft, google or generic", c.Provider)
	}
	if err != nil {
		return nil, err
	}
	return oauth2.ReuseTokenSourceWithExpiry(nil, src, c.EarlyExpiry), nil
}

func read(get func() (string, error), what string) (string, error) {
	if get == nil {
		return "", nil
	}
	v, err := get()
	if err != nil {
		return "", fmt.Errorf("oauth: read mail.oauth2.%s: %w", what, err)
	}
	return strings.TrimSpace(v), nil
}

func (s *Source) scopes(def []string) []string {
	if len(s.cfg.Scopes) > 0 {
		return s.cfg.Scopes
	}
	return def
}
