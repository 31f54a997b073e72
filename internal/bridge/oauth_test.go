package bridge

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauth"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// delegatedSignIn is an identity provider that issued mailbox a refresh
// token for the app, and the intake's sign-in from it.
func delegatedSignIn(t *testing.T, mailbox string) (*oauthfake.Server, *oauth.Source) {
	t.Helper()
	fake := oauthfake.New(t, oauthfake.Options{})
	fake.AddClient(oauthfake.Client{ID: oauthClient, Secret: oauthSecret})
	fake.AddUser(mailbox)
	rt, err := fake.IssueRefreshToken(oauthClient, mailbox, "mail")
	require.NoError(t, err)
	src, err := oauth.New(oauth.Config{Provider: oauth.Generic, ClientID: oauthClient,
		ClientSecret: func() (string, error) { return oauthSecret, nil }, RefreshToken: func() (string, error) { return rt, nil },
		TokenURL: fake.TokenURL(), Scopes: []string{"mail"}, Mailbox: mailbox})
	require.NoError(t, err)
	return fake, src
}

// signInWith makes the intake's IMAP session sign in with tokens only.
func signInWith(tokens mail.TokenSource) envOption {
	return func(_ *IntakeConfig, m *imap.Config) { m.Tokens, m.Password = tokens, "" }
}

func init() {
	// The intake cases run again with an OAuth 2.0 sign-in: on the memory
	// server, and on Dovecot checking each token at the provider.
	intakeServers["mem-oauth"] = func(t *testing.T, opts ...envOption) *intakeEnv {
		fake, src := delegatedSignIn(t, "support@example.com")
		srv := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: func(mb, tok string) error { return fake.ValidateFor(tok, mb) }})
		return newIntakeEnv(t, srv, append([]envOption{signInWith(src)}, opts...)...)
	}
	intakeServers["dovecot-oauth"] = func(t *testing.T, opts ...envOption) *intakeEnv {
		probe := mailtest.StartDovecot(t) // for its user name
		fake, src := delegatedSignIn(t, probe.Username())
		probe.Close()
		srv := mailtest.StartDovecotWith(t, mailtest.DovecotOptions{OAuthIntrospectionURL: fake.IntrospectionURL("post")})
		return newIntakeEnv(t, srv, append([]envOption{signInWith(src)}, opts...)...)
	}
}

func TestIntakeOnOAuthSignIn(t *testing.T) {
	for _, server := range []string{"mem-oauth", "dovecot-oauth"} {
		t.Run(server, func(t *testing.T) {
			for _, c := range intakeCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, intakeServers[server]) })
			}
		})
	}
}
