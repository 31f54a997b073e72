package oauthfake

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// callback is the loopback listener `ticketsync mail authorize` runs to
// catch the redirect.
type callback struct {
	srv *httptest.Server
	got chan url.Values
}

func newCallback(t *testing.T) *callback {
	t.Helper()
	cb := &callback{got: make(chan url.Values, 4)}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.got <- r.URL.Query()
		_, _ = w.Write([]byte("You can close this window.\n"))
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callback) URL() string { return cb.srv.URL + "/callback" }

// authorize visits the authorization URL as a browser would and returns
// what reached the callback.
func (cb *callback) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the browser should end at the callback")
	select {
	case v := <-cb.got:
		return v
	default:
		t.Fatal("callback not reached")
		return nil
	}
}

// codeFlow starts a fake with one user signed in and a config for the
// authorization code flow with a loopback redirect.
func codeFlow(t *testing.T, opts Options) (*Server, *clock, *oauth2.Config, *callback) {
	t.Helper()
	s, clk := start(t, opts)
	s.SetSignedInUser(mailbox)
	cb := newCallback(t)
	cfg := delegatedConfig(s)
	cfg.RedirectURL = cb.URL()
	return s, clk, cfg, cb
}

func TestAuthorizationCodePKCE(t *testing.T) {
	s, _, cfg, cb := codeFlow(t, Options{Flavor: Microsoft})
	verifier := oauth2.GenerateVerifier()
	got := cb.authorize(t, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)))
	assert.Equal(t, "st-1", got.Get("state"))
	require.NotEmpty(t, got.Get("code"))

	auth := lastTo(t, s, PathAuthorize)
	assert.Equal(t, http.StatusFound, auth.Status)
	assert.Equal(t, PKCEChallenged, auth.PKCE)
	assert.Equal(t, mailbox, auth.Subject)

	tok, err := cfg.Exchange(ctx(t), got.Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken, "offline_access was asked for")
	last := lastTo(t, s, PathToken)
	assert.Equal(t, PKCEVerified, last.PKCE, "the verifier was checked")
	assert.Equal(t, GrantAuthorizationCode, last.GrantType)

	info, ok := s.Lookup(tok.AccessToken)
	require.True(t, ok)
	assert.Equal(t, GrantAuthorizationCode, info.Grant)
	assert.Equal(t, mailbox, info.Subject)
	assert.Equal(t, []string{imapDelegated, offlineAccessScope}, info.Scopes)

	_, err = refresh(t, cfg, tok.RefreshToken)
	require.NoError(t, err, "the refresh token from the code works")
}

func TestPKCEFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		challenge bool
		verifier  func(right string) string
		pkce      string
		desc      string
	}{
		{"wrong verifier", true, func(string) string { return oauth2.GenerateVerifier() }, PKCEMismatch, "AADSTS501481"},
		{"malformed verifier", true, func(string) string { return "short" }, PKCEMismatch, "AADSTS501481"},
		{"no verifier", true, func(string) string { return "" }, PKCEMissing, "AADSTS501481"},
		{"verifier without challenge", false, func(string) string { return oauth2.GenerateVerifier() }, PKCEUnexpected, "AADSTS9002313"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, cfg, cb := codeFlow(t, Options{Flavor: Microsoft})
			right := oauth2.GenerateVerifier()
			var opts []oauth2.AuthCodeOption
			if tc.challenge {
				opts = append(opts, oauth2.S256ChallengeOption(right))
			}
			code := cb.authorize(t, cfg.AuthCodeURL("st", opts...)).Get("code")
			var exOpts []oauth2.AuthCodeOption
			if v := tc.verifier(right); v != "" {
				exOpts = append(exOpts, oauth2.VerifierOption(v))
			}
			_, err := cfg.Exchange(ctx(t), code, exOpts...)
			re := retrieveErr(t, err)
			assert.Equal(t, "invalid_grant", re.ErrorCode)
			assert.Contains(t, re.ErrorDescription, tc.desc)
			// Auto-detection tried both client authentication styles, and
			// both times the verifier check failed the same way.
			reqs := s.RequestsTo(PathToken)
			require.Len(t, reqs, 2)
			for _, r := range reqs {
				assert.Equal(t, tc.pkce, r.PKCE)
			}
		})
	}
}

func TestAuthorizationCodeReuseRevokes(t *testing.T) {
	_, _, cfg, cb := codeFlow(t, Options{Flavor: Google})
	v := oauth2.GenerateVerifier()
	code := cb.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.AccessTypeOffline)).Get("code")
	tok, err := cfg.Exchange(ctx(t), code, oauth2.VerifierOption(v))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)

	_, err = cfg.Exchange(ctx(t), code, oauth2.VerifierOption(v))
	re := retrieveErr(t, err)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	_, err = refresh(t, cfg, tok.RefreshToken)
	assert.Equal(t, "invalid_grant", retrieveErr(t, err).ErrorCode, "tokens from a replayed code are revoked")
}

func TestAuthorizationCodeErrors(t *testing.T) {
	t.Run("expired", func(t *testing.T) {
		_, clk, cfg, cb := codeFlow(t, Options{Flavor: Microsoft})
		code := cb.authorize(t, cfg.AuthCodeURL("st")).Get("code")
		clk.Advance(11 * time.Minute)
		_, err := cfg.Exchange(ctx(t), code)
		assert.Contains(t, retrieveErr(t, err).ErrorDescription, "AADSTS70008")
	})
	t.Run("redirect_uri differs", func(t *testing.T) {
		_, _, cfg, cb := codeFlow(t, Options{Flavor: Google})
		code := cb.authorize(t, cfg.AuthCodeURL("st")).Get("code")
		cfg.RedirectURL = "http://127.0.0.1:1/elsewhere"
		_, err := cfg.Exchange(ctx(t), code)
		re := retrieveErr(t, err)
		assert.Equal(t, "redirect_uri_mismatch", re.ErrorCode)
	})
	t.Run("unknown code", func(t *testing.T) {
		_, _, cfg, _ := codeFlow(t, Options{Flavor: Google})
		_, err := cfg.Exchange(ctx(t), "4/0Ab-made-up")
		re := retrieveErr(t, err)
		assert.Equal(t, "invalid_grant", re.ErrorCode)
		assert.Equal(t, "Malformed auth code.", re.ErrorDescription)
	})
	t.Run("code of another client", func(t *testing.T) {
		s, _, cfg, cb := codeFlow(t, Options{})
		code := cb.authorize(t, cfg.AuthCodeURL("st")).Get("code")
		s.AddClient(Client{ID: "other", Secret: "x"})
		other := *cfg
		other.ClientID, other.ClientSecret = "other", "x"
		_, err := other.Exchange(ctx(t), code)
		assert.Equal(t, "invalid_grant", retrieveErr(t, err).ErrorCode)
	})
}

// A native app has no secret; x/oauth2 then sends HTTP Basic with an
// empty password first, which must be taken as naming the client.
func TestPublicClientCodeFlow(t *testing.T) {
	s, _, cfg, cb := codeFlow(t, Options{RequirePKCE: true})
	s.AddClient(Client{ID: "native", RedirectURIs: []string{"http://127.0.0.1/callback"}})
	cfg.ClientID, cfg.ClientSecret = "native", ""
	v := oauth2.GenerateVerifier()
	code := cb.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v))).Get("code")
	_, err := cfg.Exchange(ctx(t), code, oauth2.VerifierOption(v))
	require.NoError(t, err)
	last := lastTo(t, s, PathToken)
	assert.Equal(t, AuthNone, last.ClientAuth)
	assert.Equal(t, "native", last.ClientID)
}

func TestOfflineAccessRules(t *testing.T) {
	for _, tc := range []struct {
		name        string
		flavor      Flavor
		scopes      []string
		opts        []oauth2.AuthCodeOption
		wantRefresh bool
	}{
		{"microsoft without offline_access", Microsoft, []string{imapDelegated}, nil, false},
		{"microsoft with offline_access", Microsoft, []string{imapDelegated, offlineAccessScope}, nil, true},
		{"google online", Google, []string{gmailScope}, nil, false},
		{"google offline", Google, []string{gmailScope}, []oauth2.AuthCodeOption{oauth2.AccessTypeOffline}, true},
		{"generic", Generic, []string{"imap"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, cfg, cb := codeFlow(t, Options{Flavor: tc.flavor})
			cfg.Scopes = tc.scopes
			code := cb.authorize(t, cfg.AuthCodeURL("st", tc.opts...)).Get("code")
			tok, err := cfg.Exchange(ctx(t), code)
			require.NoError(t, err)
			assert.Equal(t, tc.wantRefresh, tok.RefreshToken != "")
		})
	}
}

// noRedirects is a browser that stops at the first answer.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func visit(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := noRedirects.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// A bad client or redirect_uri must never be redirected to.
func TestAuthorizeRefusesWithoutRedirect(t *testing.T) {
	s, _, cfg, _ := codeFlow(t, Options{Flavor: Microsoft})
	s.AddClient(Client{ID: "registered", Secret: "x", RedirectURIs: []string{"http://localhost:8400/cb"}})
	for _, tc := range []struct {
		name, client, redirect string
	}{
		{"unknown client", "ghost", "http://127.0.0.1:9/cb"},
		{"https elsewhere", appID, "https://evil.example/cb"},
		{"private network", appID, "http://192.168.1.10/cb"},
		{"no redirect_uri", appID, ""},
		{"unregistered path", "registered", "http://localhost:8400/other"},
		{"unregistered host", "registered", "http://127.0.0.1:8400/cb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.ClientID, c.RedirectURL = tc.client, tc.redirect
			resp := visit(t, c.AuthCodeURL("st"))
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Location"))
			assert.NotEmpty(t, lastTo(t, s, PathAuthorize).Error)
		})
	}
	t.Run("loopback port may differ", func(t *testing.T) {
		c := *cfg
		c.ClientID, c.RedirectURL = "registered", "http://localhost:53111/cb"
		resp := visit(t, c.AuthCodeURL("st"))
		assert.Equal(t, http.StatusFound, resp.StatusCode)
	})
}

func TestAuthorizeErrorRedirects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		prep   func(*Server)
		params []oauth2.AuthCodeOption
		code   string
		desc   string
	}{
		{"user declines", Options{Flavor: Microsoft}, func(s *Server) { s.DenyNextAuthorization(1) }, nil,
			"access_denied", "AADSTS65004: User declined to consent to access the app."},
		{"plain PKCE", Options{}, nil, []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
			"invalid_request", "code_challenge_method must be S256"},
		{"PKCE required", Options{RequirePKCE: true}, nil, nil, "invalid_request", "code_challenge is required"},
		{"implicit flow", Options{}, nil, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_type", "token")},
			"unsupported_response_type", ""},
		{"nobody signed in", Options{Flavor: Microsoft}, func(s *Server) { s.SetSignedInUser("") }, nil,
			"interaction_required", "AADSTS50058"},
		{"scope not allowed", Options{}, func(s *Server) {
			s.AddClient(Client{ID: appID, Secret: appSecret, Scopes: []string{"smtp"}})
		}, nil, "invalid_scope", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, cfg, cb := codeFlow(t, tc.opts)
			if tc.prep != nil {
				tc.prep(s)
			}
			got := cb.authorize(t, cfg.AuthCodeURL("st-9", tc.params...))
			assert.Equal(t, tc.code, got.Get("error"))
			assert.Contains(t, got.Get("error_description"), tc.desc)
			assert.Equal(t, "st-9", got.Get("state"))
			assert.Empty(t, got.Get("code"))
		})
	}
}

// DenyNextAuthorization counts: the second sign-in goes through.
func TestDenyOnce(t *testing.T) {
	s, _, cfg, cb := codeFlow(t, Options{})
	s.DenyNextAuthorization(1)
	assert.Equal(t, "access_denied", cb.authorize(t, cfg.AuthCodeURL("a")).Get("error"))
	assert.NotEmpty(t, cb.authorize(t, cfg.AuthCodeURL("b")).Get("code"))
}

func TestLoginHint(t *testing.T) {
	s, _, cfg, cb := codeFlow(t, Options{})
	s.AddUser("sales@example.com")
	code := cb.authorize(t, cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("login_hint", "sales@example.com"))).Get("code")
	tok, err := cfg.Exchange(ctx(t), code)
	require.NoError(t, err)
	sub, _ := s.Validate(tok.AccessToken)
	assert.Equal(t, "sales@example.com", sub)
}
