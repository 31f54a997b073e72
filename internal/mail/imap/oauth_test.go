package imap

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// These tests sign in with tokens from an oauthfake server: against the
// in-process IMAP server, which asks the fake directly, and against a real
// Dovecot 2.3, whose oauth2 passdb asks the fake's introspection endpoint
// over HTTP.

var oauthMechanisms = []string{mail.XOAUTH2, sasl.OAuthBearer}

// startOAuthIMAP serves IMAP on kind ("mem" or "dovecot"), offering only
// mech of the OAuth mechanisms.
func startOAuthIMAP(t *testing.T, e *mailtest.OAuthEnv, kind, mech string) mailtest.Server {
	t.Helper()
	if kind == "mem" {
		return mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.Validate, OAuthMechanisms: []string{mech}})
	}
	return mailtest.StartDovecotWith(t, mailtest.DovecotOptions{
		OAuthIntrospectionURL: e.Provider.IntrospectionURL(oauthfake.IntrospectPost),
		IntrospectionMode:     oauthfake.IntrospectPost,
		OAuthMechanisms:       []string{mech},
	})
}

func oauthInbox(t *testing.T, e *mailtest.OAuthEnv, addr string) *Inbox {
	t.Helper()
	ib := NewInbox(Config{
		Addr: addr, TLS: mail.TLSNone, Username: mailtest.OAuthMailbox, Tokens: e.Tokens, IDLE: true,
		// Dovecot holds a login from an address that just failed one for
		// about 4 s.
		CommandTimeout: 15 * time.Second,
		Logger:         e.Logger,
	})
	t.Cleanup(func() { _ = ib.Close() })
	return ib
}

// memLogins is what a MemServer saw; nil from Dovecot, which the tests
// judge by its answers alone.
func memLogins(srv mailtest.Server) []mailtest.OAuthLogin {
	if m, ok := srv.(*mailtest.MemServer); ok {
		return m.OAuthLogins()
	}
	return nil
}

// eachOAuthIMAP runs f on the memory server and on Dovecot, each offering
// one OAuth mechanism and then the other.
func eachOAuthIMAP(t *testing.T, f func(t *testing.T, kind, mech string)) {
	for _, kind := range []string{"mem", "dovecot"} {
		for _, mech := range oauthMechanisms {
			t.Run(kind+"/"+mech, func(t *testing.T) {
				t.Parallel()
				f(t, kind, mech)
			})
		}
	}
}

func oauthTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestOAuthIMAPSignIn(t *testing.T) {
	t.Parallel()
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
		srv := startOAuthIMAP(t, e, kind, mech)
		uid := srv.Append(t, "INBOX", mailtest.Message("customer@example.net", mailtest.OAuthMailbox, "Help", "Body\n"))
		ib := oauthInbox(t, e, srv.Addr())
		ctx := oauthTestCtx(t)

		st, err := ib.Connect(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint32(1), st.Messages)
		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		require.Len(t, envs, 1)
		assert.Equal(t, uid, envs[0].UID)
		assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls(), "Token once, no Renew")
		if kind == "mem" {
			logins := memLogins(srv)
			require.Len(t, logins, 1)
			assert.Equal(t, mech, logins[0].Mechanism)
			assert.Equal(t, mailtest.OAuthMailbox, logins[0].Mailbox)
			assert.NoError(t, logins[0].Err)
		}
		e.AssertNoSecrets(t)
	})
}

// The cached token has expired on the provider's clock but the source
// still hands it out: the server refuses it, Renew runs once, and the
// renewed token signs in on the same connection.
func TestOAuthIMAPExpiredTokenRenewed(t *testing.T) {
	t.Parallel()
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, true)
		srv := startOAuthIMAP(t, e, kind, mech)
		ib := oauthInbox(t, e, srv.Addr())
		ctx := oauthTestCtx(t)
		_, err := ib.Connect(ctx)
		require.NoError(t, err)
		require.NoError(t, ib.Close())

		e.Clock.Advance(2 * time.Hour)
		_, err = ib.Connect(ctx)
		require.NoError(t, err)
		_, _, err = ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, [3]int{2, 1, 2}, e.Tokens.Calls(), "Renew exactly once")
		assert.Contains(t, e.Logs.String(), "imap server refused the OAuth token; renewing it")
		if kind == "mem" {
			logins := memLogins(srv)
			require.Len(t, logins, 3)
			assert.NoError(t, logins[0].Err)
			assert.ErrorIs(t, logins[1].Err, oauthfake.ErrTokenExpired)
			assert.NoError(t, logins[2].Err)
		}
		e.AssertNoSecrets(t)
	})
}

// The grant was revoked: the server refuses the cached token and the
// provider refuses to renew it. The caller gets the provider's error, not
// ErrAuth, after one Renew.
func TestOAuthIMAPProviderRefuses(t *testing.T) {
	t.Parallel()
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
		srv := startOAuthIMAP(t, e, kind, mech)
		ib := oauthInbox(t, e, srv.Addr())
		ctx := oauthTestCtx(t)
		_, err := ib.Connect(ctx)
		require.NoError(t, err)
		require.NoError(t, ib.Close())

		e.Provider.RevokeAll()
		_, err = ib.Connect(ctx)
		require.Error(t, err)
		t.Logf("error: %v", err)
		var pe *mailtest.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "invalid_grant", pe.Code)
		var te *mail.TokenError
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Renew)
		assert.NotErrorIs(t, err, ErrAuth, "the mail server did not refuse the renewed token: it never got one")
		assert.False(t, ib.Connected())
		assert.Equal(t, [3]int{2, 1, 1}, e.Tokens.Calls(), "one Renew, no loop")
		if kind == "mem" {
			assert.Len(t, memLogins(srv), 2, "signed in, then one refused attempt")
		}

		// Check says the token step failed.
		_, err = oauthInbox(t, e, srv.Addr()).Check(ctx)
		var ce *mail.CheckError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, mail.StepToken, ce.Step)
		require.ErrorAs(t, err, &pe)
		e.AssertNoSecrets(t, errText(err))
	})
}

// Without any token yet, a provider that refuses stops the login before
// the server is asked.
func TestOAuthIMAPNoFirstToken(t *testing.T) {
	t.Parallel()
	e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.Validate})
	e.Provider.RevokeAll()
	_, err := oauthInbox(t, e, srv.Addr()).Connect(oauthTestCtx(t))
	var te *mail.TokenError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Renew)
	var pe *mailtest.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.NotErrorIs(t, err, ErrAuth)
	assert.Empty(t, memLogins(srv))
	assert.Equal(t, [3]int{1, 0, 0}, e.Tokens.Calls())
}

// The provider issues tokens for another mailbox than the one signed in
// to (the service principal was not granted it): the server refuses the
// token and the renewed one, which is ErrAuth with advice.
func TestOAuthIMAPServerRefusesTwice(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, e *mailtest.OAuthEnv, err error, status string) {
		t.Helper()
		t.Logf("error: %v", err)
		require.ErrorIs(t, err, ErrAuth)
		assert.NotErrorIs(t, err, ErrNotConnected)
		var re *mail.OAuthRefusedError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "imap", re.Protocol)
		assert.Equal(t, mailtest.OAuthMailbox, re.Mailbox)
		assert.Equal(t, status, re.Status)
		assert.Contains(t, re.Reply, "NO [AUTHENTICATIONFAILED]")
		for _, want := range []string{mailtest.OAuthMailbox, "refused the OAuth token", "IMAP.AccessAsApp", "admin consent",
			"service principal", "https://mail.google.com/", "domain-wide delegation"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.Equal(t, [3]int{1, 1, 2}, e.Tokens.Calls(), "Renew exactly once")
		e.AssertNoSecrets(t, err.Error())
	}
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := mailtest.NewOAuthEnv(t, "sales@example.com", false)
		srv := startOAuthIMAP(t, e, kind, mech)
		_, err := oauthInbox(t, e, srv.Addr()).Connect(oauthTestCtx(t))
		status := map[string]string{mail.XOAUTH2: "401", sasl.OAuthBearer: "invalid_token"}[mech]
		check(t, e, err, status)
		if kind == "mem" {
			logins := memLogins(srv)
			require.Len(t, logins, 2)
			assert.ErrorIs(t, logins[1].Err, oauthfake.ErrMailboxDenied)
		}
	})
	for _, mech := range oauthMechanisms {
		t.Run("mem without challenge/"+mech, func(t *testing.T) {
			t.Parallel()
			e := mailtest.NewOAuthEnv(t, "sales@example.com", false)
			srv := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.Validate, OAuthMechanisms: []string{mech}, OAuthNoChallenge: true})
			_, err := oauthInbox(t, e, srv.Addr()).Connect(oauthTestCtx(t))
			check(t, e, err, "")
		})
	}
}

// Dovecot answers NO [UNAVAILABLE] when its introspection endpoint fails:
// a temporary failure of the server, not a refused token.
func TestOAuthDovecotIntrospectionDown(t *testing.T) {
	t.Parallel()
	e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
	srv := startOAuthIMAP(t, e, "dovecot", sasl.OAuthBearer)
	ib := oauthInbox(t, e, srv.Addr())
	ctx := oauthTestCtx(t)

	e.Provider.FailNext(oauthfake.PathIntrospect, 1, http.StatusServiceUnavailable)
	_, err := ib.Connect(ctx)
	require.Error(t, err)
	t.Logf("error: %v", err)
	assert.NotErrorIs(t, err, ErrAuth)
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "UNAVAILABLE", ce.Code)
	assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls(), "no Renew: the token was never judged")

	_, err = ib.Connect(ctx)
	require.NoError(t, err, "the endpoint is back")
	assert.Equal(t, [3]int{2, 0, 1}, e.Tokens.Calls())
	e.AssertNoSecrets(t, errText(err))
}

// A server that offers no OAuth mechanism is told apart from a refused
// token: no Renew, and the error says what the server offers.
func TestOAuthIMAPNotOffered(t *testing.T) {
	t.Parallel()
	e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	_, err := oauthInbox(t, e, srv.Addr()).Connect(oauthTestCtx(t))
	require.ErrorIs(t, err, ErrAuth)
	assert.Contains(t, err.Error(), "offers neither XOAUTH2 nor OAUTHBEARER (it offers PLAIN)")
	assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls())
}

// Tokens are only used at login: a session that outlives its token is
// unaffected, and the reconnect after the server dropped it signs in with
// a new token, from Token when the source knows the old one expired, from
// Renew when only the server's refusal tells.
func TestOAuthIMAPIdleReconnect(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"mem", "dovecot"} {
		for _, lagging := range []bool{false, true} {
			name := kind + map[bool]string{false: "/expiry known", true: "/expiry unknown"}[lagging]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, lagging)
				srv := startOAuthIMAP(t, e, kind, sasl.OAuthBearer)
				ib := oauthInbox(t, e, srv.Addr())
				ctx := oauthTestCtx(t)
				_, err := ib.Connect(ctx)
				require.NoError(t, err)

				res := make(chan error, 1)
				go func() {
					_, err := ib.WaitForMail(ctx, time.Minute)
					res <- err
				}()
				time.Sleep(200 * time.Millisecond) // let IDLE start
				e.Clock.Advance(2 * time.Hour)
				srv.Stop()
				select {
				case err := <-res:
					require.ErrorIs(t, err, ErrNotConnected)
				case <-time.After(15 * time.Second):
					t.Fatal("a dropped connection did not end IDLE")
				}

				srv.Restart(t)
				_, err = ib.Connect(ctx)
				require.NoError(t, err)
				if lagging {
					assert.Equal(t, [3]int{2, 1, 2}, e.Tokens.Calls(), "the refused token renewed once")
				} else {
					assert.Equal(t, [3]int{2, 0, 2}, e.Tokens.Calls(), "Token fetched a new one")
				}

				type waited struct {
					got bool
					err error
				}
				res2 := make(chan waited, 1)
				go func() {
					got, err := ib.WaitForMail(ctx, 20*time.Second)
					res2 <- waited{got, err}
				}()
				time.Sleep(200 * time.Millisecond)
				srv.Append(t, "INBOX", mailtest.Message("customer@example.net", mailtest.OAuthMailbox, "After", "Body\n"))
				select {
				case w := <-res2:
					require.NoError(t, w.err)
					assert.True(t, w.got, "IDLE works on the new session")
				case <-time.After(25 * time.Second):
					t.Fatal("WaitForMail did not return")
				}
				e.AssertNoSecrets(t)
			})
		}
	}
}

// Each introspection_mode Dovecot can ask in.
func TestOAuthDovecotIntrospectionModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{oauthfake.IntrospectGet, oauthfake.IntrospectAuth} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
			srv := mailtest.StartDovecotWith(t, mailtest.DovecotOptions{
				OAuthIntrospectionURL: e.Provider.IntrospectionURL(mode),
				IntrospectionMode:     mode,
			})
			_, err := oauthInbox(t, e, srv.Addr()).Connect(oauthTestCtx(t))
			require.NoError(t, err)
			reqs := e.Provider.RequestsTo(oauthfake.PathIntrospect)
			require.NotEmpty(t, reqs)
			assert.Equal(t, mode, reqs[len(reqs)-1].IntrospectMode)
		})
	}
}
