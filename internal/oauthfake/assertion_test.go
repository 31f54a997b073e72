package oauthfake

import (
	"crypto/x509"
	"encoding/json"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// certApp registers a certificate-only app, as Microsoft's app-only IMAP
// setup recommends.
func certApp(t *testing.T, s *Server) *Certificate {
	t.Helper()
	cert := GenerateCertificate(t)
	s.AddClient(Client{ID: appID, Certificates: []*x509.Certificate{cert.Cert}, Mailboxes: []string{mailbox}})
	return cert
}

// assertionConfig is how ticketsync would ask x/oauth2 for an app-only
// token with a certificate: client credentials with the assertion as
// endpoint parameters and no secret.
func assertionConfig(s *Server, assertion string, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: appID, TokenURL: s.TokenURL(), Scopes: []string{imapScope}, AuthStyle: style,
		EndpointParams: url.Values{
			"client_assertion_type": {ClientAssertionTypeJWT},
			"client_assertion":      {assertion},
		},
	}
}

func TestCertificateFiles(t *testing.T) {
	cert := GenerateCertificate(t)
	certPEM, err := os.ReadFile(cert.CertFile)
	require.NoError(t, err)
	assert.Equal(t, cert.CertPEM, certPEM)
	st, err := os.Stat(cert.KeyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Len(t, cert.ThumbprintHex, 40)
	assert.Len(t, cert.Thumbprint, 27, "base64url of 20 bytes")
	assert.Equal(t, Thumbprint(cert.Cert), cert.Thumbprint)
}

func TestClientAssertion(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		s, clk := start(t, Options{Flavor: Microsoft})
		cert := certApp(t, s)
		assertion, err := cert.ClientAssertion(appID, s.TokenURL(), clk.Now())
		require.NoError(t, err)
		tok, err := assertionConfig(s, assertion, style).Token(ctx(t))
		require.NoError(t, err, "style %v", style)
		info, ok := s.Lookup(tok.AccessToken)
		require.True(t, ok)
		assert.True(t, info.AppOnly)
		assert.Equal(t, AuthPrivateKeyJWT, lastTo(t, s, PathToken).ClientAuth)
		assert.NoError(t, s.ValidateFor(tok.AccessToken, mailbox))
		assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, "ceo@example.com"), ErrMailboxDenied)
	}
}

// PS256 with x5t#S256 is what Microsoft's current documentation shows.
func TestClientAssertionPS256(t *testing.T) {
	s, clk := start(t, Options{Flavor: Microsoft})
	cert := certApp(t, s)
	now := clk.Now()
	assertion, err := SignJWT(cert.Key, map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": cert.ThumbprintS256},
		map[string]any{"aud": s.TokenURL(), "iss": appID, "sub": appID, "jti": "j-1", "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	require.NoError(t, err)
	_, err = assertionConfig(s, assertion, oauth2.AuthStyleInParams).Token(ctx(t))
	require.NoError(t, err)
}

func TestClientAssertionErrors(t *testing.T) {
	s, clk := start(t, Options{Flavor: Microsoft})
	cert := certApp(t, s)
	other := GenerateCertificate(t)
	now := clk.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"aud": s.TokenURL(), "iss": appID, "sub": appID, "jti": newGUID(),
			"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(c *Certificate, header map[string]any, cl map[string]any) string {
		a, err := SignJWT(c.Key, header, cl)
		require.NoError(t, err)
		return a
	}
	x5t := func(c *Certificate) map[string]any {
		return map[string]any{"alg": "RS256", "typ": "JWT", "x5t": c.Thumbprint}
	}

	for _, tc := range []struct {
		name, assertion, code, aadsts string
	}{
		{"unregistered certificate", sign(other, x5t(other), claims(nil)), "invalid_client", "AADSTS700027: Client assertion failed signature validation. [Reason - The key was not found."},
		{"signed by another key", sign(other, x5t(cert), claims(nil)), "invalid_client", "AADSTS700027: Client assertion failed signature validation."},
		{"wrong audience", sign(cert, x5t(cert), claims(func(c map[string]any) { c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token" })), "invalid_client", "AADSTS700023:"},
		{"iss not client", sign(cert, x5t(cert), claims(func(c map[string]any) { c["iss"] = "someone-else" })), "invalid_client", "AADSTS700021:"},
		{"expired", sign(cert, x5t(cert), claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), "invalid_client", "AADSTS700024:"},
		{"not yet valid", sign(cert, x5t(cert), claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), "invalid_client", "AADSTS700024:"},
		{"no exp", sign(cert, x5t(cert), claims(func(c map[string]any) { delete(c, "exp") })), "invalid_client", "AADSTS700024:"},
		{"no jti", sign(cert, x5t(cert), claims(func(c map[string]any) { delete(c, "jti") })), "invalid_request", "AADSTS50027:"},
		{"no x5t", sign(cert, map[string]any{"alg": "RS256", "typ": "JWT"}, claims(nil)), "invalid_request", "AADSTS50027:"},
		{"alg none", "eyJhbGciOiJub25lIn0.e30.", "invalid_request", "AADSTS50027:"},
		{"garbage", "not-a-jwt", "invalid_request", "AADSTS50027:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assertionConfig(s, tc.assertion, oauth2.AuthStyleInParams).Token(ctx(t))
			re := retrieveErr(t, err)
			assert.Equal(t, tc.code, re.ErrorCode)
			assert.Contains(t, re.ErrorDescription, tc.aadsts)
		})
	}

	t.Run("wrong assertion type", func(t *testing.T) {
		cfg := assertionConfig(s, sign(cert, x5t(cert), claims(nil)), oauth2.AuthStyleInParams)
		cfg.EndpointParams.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		_, err := cfg.Token(ctx(t))
		assert.Equal(t, "invalid_request", retrieveErr(t, err).ErrorCode)
	})
	t.Run("assertion and secret together", func(t *testing.T) {
		cfg := assertionConfig(s, sign(cert, x5t(cert), claims(nil)), oauth2.AuthStyleInParams)
		cfg.ClientSecret = "also"
		_, err := cfg.Token(ctx(t))
		assert.Equal(t, "invalid_request", retrieveErr(t, err).ErrorCode)
	})
	t.Run("certificate rollover", func(t *testing.T) {
		require.NoError(t, s.AddClientCertificate(appID, other.Cert))
		_, err := assertionConfig(s, sign(other, x5t(other), claims(nil)), oauth2.AuthStyleInParams).Token(ctx(t))
		require.NoError(t, err)
		require.NoError(t, s.RemoveClientCertificate(appID, cert.Thumbprint))
		_, err = assertionConfig(s, sign(cert, x5t(cert), claims(nil)), oauth2.AuthStyleInParams).Token(ctx(t))
		assert.Contains(t, retrieveErr(t, err).ErrorDescription, "The key was not found")
	})
	t.Run("client_id may be omitted", func(t *testing.T) {
		status, _, body := postForm(t, s.TokenURL(), url.Values{
			"grant_type": {GrantClientCredentials}, "scope": {imapScope},
			"client_assertion_type": {ClientAssertionTypeJWT},
			"client_assertion":      {sign(other, x5t(other), claims(nil))},
		}, nil)
		assert.Equal(t, 200, status, "%v", body)
	})
}

// A generic provider takes a key without x5t by trying the client's
// certificates.
func TestClientAssertionGenericWithoutX5t(t *testing.T) {
	s, clk := start(t, Options{})
	cert := certApp(t, s)
	now := clk.Now()
	a, err := SignJWT(cert.Key, map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{
		"aud": s.TokenURL(), "iss": appID, "sub": appID, "jti": "1", "exp": now.Add(time.Minute).Unix()})
	require.NoError(t, err)
	tok, err := assertionConfig(s, a, oauth2.AuthStyleInParams).Token(ctx(t))
	require.NoError(t, err)
	_, hasScope := tok.Extra("scope").(string)
	assert.True(t, hasScope)
}

func decodeBody(t *testing.T, re *oauth2.RetrieveError) (string, map[string]any) {
	t.Helper()
	var body map[string]any
	require.NoError(t, json.Unmarshal(re.Body, &body))
	code, _ := body["error"].(string)
	return code, body
}
