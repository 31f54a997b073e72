package oauthfake

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
)

const saEmail = "ticketsync@acme-mail.iam.gserviceaccount.com"

// serviceAccount starts a Google-flavoured fake with a delegated service
// account and returns its key file's contents.
func serviceAccount(t *testing.T) (*Server, *clock, *ServiceAccountKey) {
	t.Helper()
	s, clk := start(t, Options{Flavor: Google})
	key := s.WriteServiceAccount(t, t.TempDir(), saEmail, gmailScope)
	return s, clk, key
}

func TestServiceAccountKeyFile(t *testing.T) {
	s, _, key := serviceAccount(t)
	raw, err := os.ReadFile(key.Path)
	require.NoError(t, err)
	var f map[string]string
	require.NoError(t, json.Unmarshal(raw, &f))
	assert.Equal(t, "service_account", f["type"])
	assert.Equal(t, "acme-mail", f["project_id"])
	assert.Equal(t, saEmail, f["client_email"])
	assert.Equal(t, s.TokenURL(), f["token_uri"])
	assert.Len(t, f["private_key_id"], 40)
	assert.Len(t, f["client_id"], 21)
	assert.Contains(t, f["private_key"], "-----BEGIN PRIVATE KEY-----")
	st, err := os.Stat(key.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestServiceAccountDelegation(t *testing.T) {
	s, _, key := serviceAccount(t)
	cfg, err := google.JWTConfigFromJSON(key.JSON, gmailScope)
	require.NoError(t, err)
	cfg.Subject = mailbox
	tok, err := cfg.TokenSource(ctx(t)).Token()
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.Type())
	assert.Nil(t, tok.Extra("scope"), "Google sends no scope for this grant")

	info, ok := s.Lookup(tok.AccessToken)
	require.True(t, ok)
	assert.Equal(t, GrantJWTBearer, info.Grant)
	assert.Equal(t, mailbox, info.Subject)
	assert.Equal(t, key.ClientID, info.ClientID)
	assert.False(t, info.AppOnly)
	sub, ok := s.Validate(tok.AccessToken)
	assert.True(t, ok)
	assert.Equal(t, mailbox, sub)
	assert.NoError(t, s.ValidateFor(tok.AccessToken, "SUPPORT@example.com"), "mailbox compared without case")

	last := lastTo(t, s, PathToken)
	assert.Equal(t, GrantJWTBearer, last.GrantType)
	assert.Equal(t, saEmail, last.ClientID)
	assert.Equal(t, mailbox, last.Subject)
}

// google.CredentialsFromJSONWithTypeAndParams is the other way in, the
// one that checks the file is a service account key.
func TestServiceAccountCredentialsFromJSON(t *testing.T) {
	s, _, key := serviceAccount(t)
	creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx(t), key.JSON, google.ServiceAccount, google.CredentialsParams{
		Scopes: []string{gmailScope}, Subject: mailbox,
	})
	require.NoError(t, err)
	tok, err := creds.TokenSource.Token()
	require.NoError(t, err)
	sub, ok := s.Validate(tok.AccessToken)
	assert.True(t, ok)
	assert.Equal(t, mailbox, sub)
}

func TestServiceAccountWithoutSubject(t *testing.T) {
	s, _, key := serviceAccount(t)
	cfg, err := google.JWTConfigFromJSON(key.JSON, "https://www.googleapis.com/auth/cloud-platform")
	require.NoError(t, err)
	tok, err := cfg.TokenSource(ctx(t)).Token()
	require.NoError(t, err, "no delegation is needed to act as itself")
	sub, _ := s.Validate(tok.AccessToken)
	assert.Equal(t, saEmail, sub)
	assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, mailbox), ErrMailboxDenied)
}

func TestServiceAccountErrors(t *testing.T) {
	s, clk, key := serviceAccount(t)
	stranger := NewHandler(Options{}) // only to make a key the main fake does not know
	strangerKey, err := stranger.CreateServiceAccount(t.TempDir(), saEmail)
	require.NoError(t, err)

	base := func() *jwt.Config {
		cfg, err := google.JWTConfigFromJSON(key.JSON, gmailScope)
		require.NoError(t, err)
		cfg.Subject = mailbox
		return cfg
	}
	for _, tc := range []struct {
		name   string
		edit   func(*jwt.Config)
		before func()
		status int
		code   string
		desc   string
	}{
		{"scope not delegated", func(c *jwt.Config) { c.Scopes = []string{"https://www.googleapis.com/auth/admin.directory.user"} }, nil,
			401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."},
		{"unknown user", func(c *jwt.Config) { c.Subject = "nobody@example.com" }, nil, 400, "invalid_grant", "Invalid email or User ID"},
		{"no scope", func(c *jwt.Config) { c.Scopes = nil }, nil, 400, "invalid_scope", "Empty or missing scope not allowed."},
		{"wrong key", func(c *jwt.Config) { c.PrivateKey = privateKeyPEM(strangerKey) }, nil, 400, "invalid_grant", "Invalid JWT Signature."},
		{"wrong key id", func(c *jwt.Config) { c.PrivateKeyID = "0000" }, nil, 400, "invalid_grant", "Invalid JWT Signature."},
		{"unknown account", func(c *jwt.Config) { c.Email = "ghost@acme-mail.iam.gserviceaccount.com" }, nil, 400, "invalid_grant", "Invalid grant: account not found"},
		{"wrong audience", func(c *jwt.Config) { c.Audience = "https://oauth2.googleapis.com/token" }, nil,
			400, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is " + s.TokenURL()},
		{"too long-lived", func(c *jwt.Config) { c.Expires = 2 * time.Hour }, nil, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token"},
		{"provider clock ahead", nil, func() { clk.Advance(2 * time.Hour) }, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			cfg := base()
			if tc.edit != nil {
				tc.edit(cfg)
			}
			_, err := cfg.TokenSource(ctx(t)).Token()
			re := retrieveErr(t, err)
			assert.Equal(t, tc.status, re.Response.StatusCode)
			code, desc := errorBody(t, re)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, desc, tc.desc)
			assert.Equal(t, tc.code, lastTo(t, s, PathToken).Error)
		})
	}
}

// Token expiry runs on the fake's clock: advancing it kills the token
// for the mail server even though x/oauth2 still thinks it good.
func TestServiceAccountTokenExpires(t *testing.T) {
	s, clk, key := serviceAccount(t)
	cfg, err := google.JWTConfigFromJSON(key.JSON, gmailScope)
	require.NoError(t, err)
	cfg.Subject = mailbox
	tok, err := cfg.TokenSource(ctx(t)).Token()
	require.NoError(t, err)
	_, ok := s.Validate(tok.AccessToken)
	require.True(t, ok)
	clk.Advance(3599 * time.Second)
	_, ok = s.Validate(tok.AccessToken)
	assert.False(t, ok)
	assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, mailbox), ErrTokenExpired)
	assert.False(t, s.Introspect(tok.AccessToken).Active)
}

// privateKeyPEM is the key file's private key, for swapping keys.
func privateKeyPEM(k *ServiceAccountKey) []byte {
	var f map[string]string
	if err := json.Unmarshal(k.JSON, &f); err != nil {
		panic(err)
	}
	return []byte(f["private_key"])
}

// A tenant without service accounts refuses the grant as invalid_grant.
func TestJWTBearerOtherFlavor(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	cfg := &jwt.Config{Email: "x@y", PrivateKey: GenerateCertificate(t).KeyPEM, TokenURL: s.TokenURL(), Scopes: []string{imapScope}}
	_, err := cfg.TokenSource(ctx(t)).Token()
	re := retrieveErr(t, err)
	assert.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
	code, _ := errorBody(t, re)
	assert.Equal(t, "invalid_grant", code)
}
