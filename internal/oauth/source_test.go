package oauth

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

const mailbox = "support@acme.example"

func constant(v string) func() (string, error) { return func() (string, error) { return v, nil } }

// fromFile reads a secret file each time, as the daemon's _file secrets do.
func fromFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		return string(b), err
	}
}

func tokenRequests(fake *oauthfake.Server) []oauthfake.Request {
	return fake.RequestsTo(oauthfake.PathToken)
}

func mustToken(t *testing.T, s *Source) string {
	t.Helper()
	tok, err := s.Token(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, tok)
	return tok
}

// Each provider's sign-in gets a token the provider would accept for the
// mailbox, through x/oauth2's own flows.
func TestSignInPerProvider(t *testing.T) {
	t.Run("microsoft app-only with a secret", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
		fake.AddClient(oauthfake.Client{ID: "app-1", Secret: "test-client-secret", Mailboxes: []string{mailbox}})
		s, err := New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-1", ClientSecret: constant("test-client-secret"),
			TokenURL: fake.TokenURL(), Mailbox: mailbox})
		require.NoError(t, err)
		tok := mustToken(t, s)
		require.NoError(t, fake.ValidateFor(tok, mailbox))
		r := tokenRequests(fake)
		require.Len(t, r, 1)
		assert.Equal(t, oauthfake.GrantClientCredentials, r[0].GrantType)
		assert.Equal(t, "https://outlook.office365.com/.default", r[0].Scope)
		assert.Equal(t, tok, mustToken(t, s), "cached while it lasts")
		assert.Len(t, tokenRequests(fake), 1)
	})
	t.Run("microsoft app-only with a certificate", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
		cert := oauthfake.GenerateCertificate(t)
		fake.AddClient(oauthfake.Client{ID: "app-2", Certificates: []*x509.Certificate{cert.Cert}, Mailboxes: []string{mailbox}})
		s, err := New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-2",
			ClientCertificateFile: cert.CertFile, ClientKeyFile: cert.KeyFile, TokenURL: fake.TokenURL(), Mailbox: mailbox})
		require.NoError(t, err)
		require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
		_, err = s.Renew(context.Background())
		require.NoError(t, err, "a second assertion is a new one (its jti may be used once)")
		assert.Equal(t, oauthfake.AuthPrivateKeyJWT, tokenRequests(fake)[0].ClientAuth)
	})
	t.Run("microsoft delegated with a refresh token", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
		fake.AddClient(oauthfake.Client{ID: "app-3"})
		fake.AddUser(mailbox)
		rt, err := fake.IssueRefreshToken("app-3", mailbox, microsoftDelegatedScopes...)
		require.NoError(t, err)
		s, err := New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-3", RefreshToken: constant(rt),
			TokenURL: fake.TokenURL(), Mailbox: mailbox})
		require.NoError(t, err)
		require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
		assert.Equal(t, oauthfake.GrantRefreshToken, tokenRequests(fake)[0].GrantType)
	})
	t.Run("google service account with domain-wide delegation", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Google})
		fake.AddUser(mailbox)
		key := fake.WriteServiceAccount(t, t.TempDir(), "ticketsync@acme-project.iam.gserviceaccount.com", "https://mail.google.com/")
		s, err := New(Config{Provider: Google, ServiceAccountFile: key.Path, Mailbox: mailbox})
		require.NoError(t, err)
		require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
		r := tokenRequests(fake)[0]
		assert.Equal(t, oauthfake.GrantJWTBearer, r.GrantType)
		assert.Equal(t, mailbox, r.Subject, "the mailbox is the delegation's subject")
	})
	t.Run("google one account with a refresh token", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Google})
		fake.AddClient(oauthfake.Client{ID: "installed-app", Secret: "test-installed-secret"})
		fake.AddUser(mailbox)
		rt, err := fake.IssueRefreshToken("installed-app", mailbox, googleScopes...)
		require.NoError(t, err)
		s, err := New(Config{Provider: Google, ClientID: "installed-app", ClientSecret: constant("test-installed-secret"),
			RefreshToken: constant(rt), TokenURL: fake.TokenURL(), Mailbox: mailbox})
		require.NoError(t, err)
		require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
	})
	t.Run("generic client credentials", func(t *testing.T) {
		fake := oauthfake.New(t, oauthfake.Options{})
		fake.AddClient(oauthfake.Client{ID: "dovecot-app", Secret: "test-generic-secret", Mailboxes: []string{mailbox}})
		s, err := New(Config{Provider: Generic, ClientID: "dovecot-app", ClientSecret: constant("test-generic-secret"),
			TokenURL: fake.TokenURL(), Scopes: []string{"imap", "smtp"}, Mailbox: mailbox})
		require.NoError(t, err)
		require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
		assert.Equal(t, "imap smtp", tokenRequests(fake)[0].Scope)
	})
}

// What the provider says is what the operator reads, with what to change,
// and never the secret that was refused.
func TestRefusalsSayWhatToChange(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
	fake.AddClient(oauthfake.Client{ID: "app-1", Secret: "right-secret", Mailboxes: []string{mailbox}})
	s, err := New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-1", ClientSecret: constant("test-wrong-secret"),
		TokenURL: fake.TokenURL(), Mailbox: mailbox})
	require.NoError(t, err)
	_, err = s.Token(context.Background())
	var oe *Error
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "invalid_client", oe.Code)
	assert.Contains(t, oe.Description, "AADSTS7000215")
	assert.Contains(t, err.Error(), "update mail.oauth2.client_secret")
	assert.NotContains(t, err.Error(), "test-wrong-secret")
	assert.False(t, oe.Temporary)

	fake.AddUser(mailbox)
	rt, err := fake.IssueRefreshToken("app-1", mailbox, microsoftDelegatedScopes...)
	require.NoError(t, err)
	fake.Revoke(rt)
	s, err = New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-1", ClientSecret: constant("right-secret"),
		RefreshToken: constant(rt), TokenURL: fake.TokenURL(), Mailbox: mailbox})
	require.NoError(t, err)
	_, err = s.Token(context.Background())
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "invalid_grant", oe.Code)
	assert.Contains(t, err.Error(), "ticketsync mail authorize")
	assert.NotContains(t, err.Error(), rt)

	fake.FailNext(oauthfake.PathToken, 1, http.StatusServiceUnavailable)
	s, err = New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-1", ClientSecret: constant("right-secret"),
		TokenURL: fake.TokenURL(), Mailbox: mailbox})
	require.NoError(t, err)
	_, err = s.Token(context.Background())
	require.ErrorAs(t, err, &oe)
	assert.True(t, oe.Temporary, "a 5xx may pass: %v", err)
	_, err = s.Token(context.Background())
	assert.NoError(t, err, "and the next attempt signs in")
}

// A revoked refresh token fails until the operator replaces the secret
// file; the next attempt reads it again, with no restart.
func TestReplacedSecretFileIsReadAgain(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
	fake.AddClient(oauthfake.Client{ID: "app-3"})
	fake.AddUser(mailbox)
	rt1, err := fake.IssueRefreshToken("app-3", mailbox, microsoftDelegatedScopes...)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "refresh_token")
	require.NoError(t, os.WriteFile(file, []byte(rt1+"\n"), 0o600))
	s, err := New(Config{Provider: Microsoft, TenantID: "acme", ClientID: "app-3", RefreshToken: fromFile(file),
		TokenURL: fake.TokenURL(), Mailbox: mailbox})
	require.NoError(t, err)
	mustToken(t, s)

	fake.RevokeAll()
	_, err = s.Renew(context.Background())
	require.Error(t, err)
	_, err = s.Token(context.Background())
	require.Error(t, err, "still the revoked one")

	rt2, err := fake.IssueRefreshToken("app-3", mailbox, microsoftDelegatedScopes...)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(rt2), 0o600))
	tok := mustToken(t, s)
	require.NoError(t, fake.ValidateFor(tok, mailbox))
}

// A hung identity provider does not hang the sign-in beyond its context.
func TestTokenHonoursItsContext(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{})
	fake.AddClient(oauthfake.Client{ID: "c", Secret: "s", Mailboxes: []string{mailbox}})
	fake.DelayNext(oauthfake.PathToken, 1, time.Minute)
	s, err := New(Config{Provider: Generic, ClientID: "c", ClientSecret: constant("s"), TokenURL: fake.TokenURL(), Scopes: []string{"x"}, Mailbox: mailbox})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Token(ctx)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// Wrong files fail at start, naming the key to fix.
func TestNewChecksFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("not pem"), 0o600))
	_, err := New(Config{Provider: Microsoft, TenantID: "t", ClientID: "c", ClientCertificateFile: junk, ClientKeyFile: junk})
	assert.ErrorContains(t, err, "mail.oauth2.client_certificate_file")
	_, err = New(Config{Provider: Google, ServiceAccountFile: filepath.Join(dir, "missing.json")})
	assert.ErrorContains(t, err, "mail.oauth2.service_account_file")
	other := oauthfake.GenerateCertificate(t)
	mine := oauthfake.GenerateCertificate(t)
	_, err = New(Config{Provider: Microsoft, TenantID: "t", ClientID: "c", ClientCertificateFile: mine.CertFile, ClientKeyFile: other.KeyFile})
	assert.ErrorContains(t, err, "is not the key of")
	assert.False(t, strings.Contains(err.Error(), "PRIVATE KEY"))
}
