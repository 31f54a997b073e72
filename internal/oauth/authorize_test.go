package oauth

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// browser plays the person at the terminal: it reads the address the
// sign-in prints and opens it; the fake signs in at once and sends the
// browser back to the loopback listener.
func browser(t *testing.T, out io.Reader, done <-chan struct{}) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "http://") {
			resp, err := http.Get(line)
			if assert.NoError(t, err) {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}
	}
	<-done
}

func authorizeAgainst(t *testing.T, fake *oauthfake.Server, cfg AuthorizeConfig) (string, error) {
	t.Helper()
	cfg.AuthURL, cfg.TokenURL, cfg.DeviceAuthURL = fake.AuthURL(), fake.TokenURL(), fake.DeviceAuthURL()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go browser(t, pr, done)
	rt, err := Authorize(context.Background(), cfg, pw)
	_ = pw.Close()
	close(done)
	return rt, err
}

// The delegated sign-in runs the code flow with PKCE over a loopback
// redirect and prints the refresh token the provider issued.
func TestAuthorizeWithPKCE(t *testing.T) {
	for _, tc := range []struct {
		provider string
		flavor   oauthfake.Flavor
		secret   string
	}{
		{Microsoft, oauthfake.Microsoft, ""},
		{Google, oauthfake.Google, "test-installed-secret"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			fake := oauthfake.New(t, oauthfake.Options{Flavor: tc.flavor, RequirePKCE: true})
			fake.AddClient(oauthfake.Client{ID: "desktop-app", Secret: tc.secret, RedirectURIs: []string{"http://127.0.0.1/"}})
			fake.AddUser(mailbox)
			fake.SetSignedInUser(mailbox)
			rt, err := authorizeAgainst(t, fake, AuthorizeConfig{Provider: tc.provider, ClientID: "desktop-app", ClientSecret: tc.secret, Mailbox: mailbox})
			require.NoError(t, err)
			info, ok := fake.Lookup(rt)
			require.True(t, ok, "the printed token is the one the provider issued")
			assert.Equal(t, oauthfake.RefreshToken, info.Kind)
			assert.Equal(t, mailbox, info.Subject)
			var exchanged bool
			for _, r := range fake.RequestsTo(oauthfake.PathToken) {
				if r.GrantType == oauthfake.GrantAuthorizationCode {
					exchanged = true
					assert.Equal(t, oauthfake.PKCEVerified, r.PKCE, "the code verifier was checked")
				}
			}
			assert.True(t, exchanged)

			// The token it printed signs the daemon in.
			s, err := New(Config{Provider: tc.provider, TenantID: "organizations", ClientID: "desktop-app", ClientSecret: constant(tc.secret),
				RefreshToken: constant(rt), TokenURL: fake.TokenURL(), Mailbox: mailbox})
			require.NoError(t, err)
			require.NoError(t, fake.ValidateFor(mustToken(t, s), mailbox))
		})
	}
}

// A refusal on the sign-in page comes back as a clear error.
func TestAuthorizeRefused(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
	fake.AddClient(oauthfake.Client{ID: "desktop-app"})
	fake.AddUser(mailbox)
	fake.SetSignedInUser(mailbox)
	fake.DenyNextAuthorization(1)
	_, err := authorizeAgainst(t, fake, AuthorizeConfig{Provider: Microsoft, ClientID: "desktop-app"})
	assert.ErrorContains(t, err, "access_denied")
}

// The device-code flow prints where to go and which code to enter.
func TestAuthorizeDeviceCode(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft})
	fake.AddClient(oauthfake.Client{ID: "desktop-app"})
	fake.AddUser(mailbox)
	fake.SetSignedInUser(mailbox)
	var out strings.Builder
	rt, err := Authorize(context.Background(), AuthorizeConfig{Provider: Microsoft, ClientID: "desktop-app", Device: true,
		TokenURL: fake.TokenURL(), DeviceAuthURL: fake.DeviceAuthURL()}, &out)
	require.NoError(t, err)
	info, ok := fake.Lookup(rt)
	require.True(t, ok)
	assert.Equal(t, oauthfake.RefreshToken, info.Kind)
	assert.Contains(t, out.String(), "enter the code")
	_, err = Authorize(context.Background(), AuthorizeConfig{Provider: Google, ClientID: "x", Device: true}, &out)
	assert.ErrorContains(t, err, "no device-code sign-in")
}
