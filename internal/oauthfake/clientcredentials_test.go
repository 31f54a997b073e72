package oauthfake

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func ccConfig(s *Server, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: appID, ClientSecret: secret, TokenURL: s.TokenURL(), Scopes: scopes, AuthStyle: style}
}

func TestClientCredentialsSecret(t *testing.T) {
	for _, tc := range []struct {
		name       string
		style      oauth2.AuthStyle
		wantAuth   string
		wantTokens int // token requests the fetch takes
	}{
		{"basic", oauth2.AuthStyleInHeader, AuthSecretBasic, 1},
		{"form", oauth2.AuthStyleInParams, AuthSecretPost, 1},
		{"auto-detect", oauth2.AuthStyleAutoDetect, AuthSecretBasic, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := start(t, Options{Flavor: Microsoft})
			tok, err := ccConfig(s, appSecret, tc.style, imapScope).Token(ctx(t))
			require.NoError(t, err)
			assert.Equal(t, "Bearer", tok.Type())
			assert.EqualValues(t, 3599, tok.Extra("expires_in"))
			assert.WithinDuration(t, time.Now().Add(3599*time.Second), tok.Expiry, 5*time.Second)
			assert.EqualValues(t, 3599, tok.Extra("ext_expires_in"))
			assert.Empty(t, tok.RefreshToken, "no refresh token for an app-only grant")

			info, ok := s.Lookup(tok.AccessToken)
			require.True(t, ok)
			assert.Equal(t, GrantClientCredentials, info.Grant)
			assert.Equal(t, appID, info.ClientID)
			assert.Equal(t, appID, info.Subject)
			assert.True(t, info.AppOnly)
			assert.Equal(t, []string{imapScope}, info.Scopes)
			assert.Equal(t, clk.Now().Add(3599*time.Second), info.ExpiresAt)

			reqs := s.RequestsTo(PathToken)
			require.Len(t, reqs, tc.wantTokens)
			assert.Equal(t, tc.wantAuth, reqs[0].ClientAuth)
			assert.Equal(t, GrantClientCredentials, reqs[0].GrantType)
			assert.Equal(t, TokenID(tok.AccessToken), reqs[0].TokenID)
		})
	}
}

// x/oauth2 tries HTTP Basic first and the form second when the style is
// unknown; a provider that refuses one must make it fall back.
func TestAuthStyleRestriction(t *testing.T) {
	t.Run("form only: auto-detect falls back", func(t *testing.T) {
		s, _ := start(t, Options{AuthStyle: oauth2.AuthStyleInParams})
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleAutoDetect).Token(ctx(t))
		require.NoError(t, err)
		reqs := s.RequestsTo(PathToken)
		require.Len(t, reqs, 2)
		assert.Equal(t, "invalid_client", reqs[0].Error)
		assert.Equal(t, AuthSecretPost, reqs[1].ClientAuth)
		assert.Empty(t, reqs[1].Error)
	})
	t.Run("basic only: form refused with 401 and a challenge", func(t *testing.T) {
		s, _ := start(t, Options{AuthStyle: oauth2.AuthStyleInHeader})
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(ctx(t))
		re := retrieveErr(t, err)
		assert.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		assert.Equal(t, "invalid_client", re.ErrorCode)
	})
}

func TestClientCredentialsErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		flavor     Flavor
		secret     string
		scopes     []string
		setup      func(*Server)
		status     int
		code       string
		descPrefix string
	}{
		{"wrong secret microsoft", Microsoft, "nope", []string{imapScope}, nil, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided."},
		{"wrong secret google", Google, "nope", nil, nil, 401, "invalid_client", "Unauthorized"},
		{"wrong secret generic", Generic, "nope", nil, nil, 401, "invalid_client", "wrong client secret"},
		{"no secret microsoft", Microsoft, "", []string{imapScope}, nil, 401, "invalid_client", "AADSTS7000218:"},
		{"unknown app microsoft", Microsoft, appSecret, []string{imapScope},
			func(s *Server) {
				s.AddClient(Client{ID: "other", Secret: "x"})
				s.mu.Lock()
				delete(s.clients, appID)
				s.mu.Unlock()
			},
			400, "unauthorized_client", "AADSTS700016: Application with identifier '" + appID + "' was not found"},
		{"unknown client google", Google, appSecret, nil,
			func(s *Server) { s.mu.Lock(); delete(s.clients, appID); s.mu.Unlock() },
			401, "invalid_client", "The OAuth client was not found."},
		{"scope missing microsoft", Microsoft, appSecret, nil, nil, 400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'."},
		{"scope not .default microsoft", Microsoft, appSecret, []string{"https://outlook.office365.com/IMAP.AccessAsApp"}, nil,
			400, "invalid_scope", "AADSTS1002012:"},
		{"scope not allowed microsoft", Microsoft, appSecret, []string{"https://graph.microsoft.com/.default"},
			func(s *Server) { s.AddClient(Client{ID: appID, Secret: appSecret, Scopes: []string{imapScope}}) },
			400, "invalid_scope", "AADSTS70011:"},
		{"scope not allowed generic", Generic, appSecret, []string{"mail"},
			func(s *Server) { s.AddClient(Client{ID: appID, Secret: appSecret, Scopes: []string{"other"}}) },
			400, "invalid_scope", `scope "mail" not allowed`},
		{"grant not allowed generic", Generic, appSecret, nil,
			func(s *Server) {
				s.AddClient(Client{ID: appID, Secret: appSecret, Grants: []string{GrantAuthorizationCode}})
			},
			400, "unauthorized_client", "may not use grant"},
		{"grant not allowed google", Google, appSecret, nil,
			func(s *Server) {
				s.AddClient(Client{ID: appID, Secret: appSecret, Grants: []string{GrantAuthorizationCode}})
			},
			401, "unauthorized_client", "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := start(t, Options{Flavor: tc.flavor})
			if tc.setup != nil {
				tc.setup(s)
			}
			_, err := ccConfig(s, tc.secret, oauth2.AuthStyleInParams, tc.scopes...).Token(ctx(t))
			re := retrieveErr(t, err)
			assert.Equal(t, tc.status, re.Response.StatusCode)
			assert.Equal(t, tc.code, re.ErrorCode)
			if tc.flavor == Microsoft {
				assert.True(t, strings.HasPrefix(re.ErrorDescription, tc.descPrefix), "description %q", re.ErrorDescription)
			} else {
				assert.Contains(t, re.ErrorDescription, tc.descPrefix)
			}
			if tc.flavor == Microsoft {
				var body map[string]any
				_, body = decodeBody(t, re)
				assert.NotEmpty(t, body["trace_id"])
				assert.NotEmpty(t, body["correlation_id"])
				assert.Len(t, body["error_codes"], 1)
				assert.Contains(t, re.ErrorDescription, "\r\nTrace ID: ")
			}
			last := lastTo(t, s, PathToken)
			assert.Equal(t, tc.code, last.Error)
			assert.Equal(t, tc.status, last.Status)
		})
	}
}

func TestRotatedSecret(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	cfg := ccConfig(s, appSecret, oauth2.AuthStyleInParams, imapScope)
	_, err := cfg.Token(ctx(t))
	require.NoError(t, err)

	require.NoError(t, s.SetClientSecret(appID, "new-secret"))
	_, err = cfg.Token(ctx(t))
	re := retrieveErr(t, err)
	assert.Equal(t, "invalid_client", re.ErrorCode)
	assert.Contains(t, re.ErrorDescription, "AADSTS7000215")

	cfg.ClientSecret = "new-secret"
	_, err = cfg.Token(ctx(t))
	require.NoError(t, err)

	require.ErrorIs(t, s.SetClientSecret("nobody", "x"), ErrUnknownClient)
}

// A secret with characters that form encoding changes must survive
// x/oauth2's escaping in both styles.
func TestSecretEscaping(t *testing.T) {
	s, _ := start(t, Options{})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		_, err := ccConfig(s, appSecret, style).Token(ctx(t))
		require.NoError(t, err, "style %v", style)
	}
}

func TestTokenEndpointRequestChecks(t *testing.T) {
	s, _ := start(t, Options{})
	form := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {appID}, "client_secret": {appSecret}}

	status, hdr, body := postForm(t, s.TokenURL(), form, func(r *http.Request) { r.SetBasicAuth(appID, appSecret) })
	assert.Equal(t, 400, status, "two authentication methods")
	assert.Equal(t, "invalid_request", body["error"])
	assert.Equal(t, "no-store", hdr.Get("Cache-Control"))

	status, _, body = postForm(t, s.TokenURL(), form, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_request", body["error"])

	status, _, body = postForm(t, s.TokenURL()+"?x=1", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, nil)
	assert.Equal(t, 400, status, "repeated parameter")
	assert.Equal(t, "invalid_request", body["error"])

	status, _, body = postForm(t, s.TokenURL(), url.Values{"grant_type": {"password"}, "client_id": {appID}, "client_secret": {appSecret}}, nil)
	assert.Equal(t, 400, status)
	assert.Equal(t, "unsupported_grant_type", body["error"])

	status, hdr, body = postForm(t, s.TokenURL(), url.Values{"grant_type": {GrantClientCredentials}}, func(r *http.Request) {
		r.SetBasicAuth(appID, "wrong")
	})
	assert.Equal(t, 401, status)
	assert.Equal(t, "invalid_client", body["error"])
	assert.Equal(t, `Basic realm="oauthfake"`, hdr.Get("WWW-Authenticate"))

	req, err := http.NewRequest(http.MethodGet, s.TokenURL(), nil)
	require.NoError(t, err)
	status, hdr, _ = do(t, req)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "POST", hdr.Get("Allow"))
}

func TestPublicClientCannotUseClientCredentials(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	s.AddClient(Client{ID: "native-app"})
	cfg := &clientcredentials.Config{ClientID: "native-app", TokenURL: s.TokenURL(), Scopes: []string{imapScope}}
	_, err := cfg.Token(ctx(t))
	re := retrieveErr(t, err)
	assert.Equal(t, "invalid_client", re.ErrorCode)
	assert.Contains(t, re.ErrorDescription, "AADSTS7000218")

	cfg.ClientSecret = "anything"
	_, err = cfg.Token(ctx(t))
	re = retrieveErr(t, err)
	assert.Contains(t, re.ErrorDescription, "AADSTS700025", "a public client must not present a secret")
}
