package preflight_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
	"github.com/ticketsync/ticketsync/internal/preflight"
)

// check-config --connect signs in with OAuth 2.0 as the daemon does, and
// tells an identity provider's refusal from the mail server's.
func TestConnectWithOAuth(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
	fake.AddClient(oauthfake.Client{ID: "app-1", Secret: "test-oauth-client-secret", Mailboxes: []string{mailAddress}})
	validate := func(mailbox, token string) error { return fake.ValidateFor(token, mailbox) }
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: validate})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{OAuth: validate, AllowInsecureAuth: true})
	cfg := baseConfig(t)
	m := withMail(cfg, imap.Addr(), smtp.Addr())
	m.IMAP.Auth, m.IMAP.Password = config.AuthOAuth2, ""
	m.SMTP.Auth, m.SMTP.Password = config.AuthOAuth2, ""
	m.SMTP.From = mailAddress
	m.OAuth2 = config.OAuth2{Provider: config.ProviderMicrosoft, TenantID: "acme", ClientID: "app-1",
		ClientSecret: "test-oauth-client-secret", TokenURL: fake.TokenURL()}
	require.NoError(t, cfg.Validate())

	res := byService(preflight.Run(context.Background(), cfg, preflight.Options{}))
	require.Equal(t, preflight.StatusOK, res["imap"][0].Status, res["imap"][0].Detail)
	assert.Contains(t, res["imap"][0].Detail, "OAuth 2.0 sign-in as "+mailAddress)
	require.Equal(t, preflight.StatusOK, res["smtp"][0].Status, res["smtp"][0].Detail)

	// The app's secret is wrong: the identity provider's words, the key.
	m.OAuth2.ClientSecret = "test-wrong-oauth-secret"
	res = byService(preflight.Run(context.Background(), cfg, preflight.Options{}))
	for _, svc := range []string{"imap", "smtp"} {
		r := res[svc][0]
		require.Equal(t, preflight.StatusFail, r.Status)
		assert.Contains(t, r.Detail, "no OAuth token for "+mailAddress)
		assert.Contains(t, r.Detail, "AADSTS7000215")
		assert.Contains(t, r.Detail, "mail.oauth2.client_secret")
		assert.False(t, strings.Contains(r.Detail, "test-wrong-oauth-secret"), r.Detail)
	}

	// The token is issued, but the mailbox is not granted to the app.
	m.OAuth2.ClientSecret = "test-oauth-client-secret"
	fake.AddClient(oauthfake.Client{ID: "app-1", Secret: "test-oauth-client-secret", Mailboxes: []string{"other@example.com"}})
	res = byService(preflight.Run(context.Background(), cfg, preflight.Options{}))
	r := res["imap"][0]
	require.Equal(t, preflight.StatusFail, r.Status)
	assert.Contains(t, r.Detail, "refused the OAuth token")
}
