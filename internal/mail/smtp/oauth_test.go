package smtp

import (
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

var oauthMechanisms = []string{mail.XOAUTH2, sasl.OAuthBearer}

// startOAuthSMTP serves SMTP offering only mech of the OAuth mechanisms,
// refusing a token with an error challenge unless noChallenge.
func startOAuthSMTP(t *testing.T, e *mailtest.OAuthEnv, mech string, noChallenge bool) *mailtest.SMTPServer {
	t.Helper()
	return mailtest.StartSMTP(t, mailtest.SMTPOptions{
		AllowInsecureAuth: true, OAuth: e.Validate, OAuthMechanisms: []string{mech}, OAuthNoChallenge: noChallenge,
	})
}

func oauthSender(t *testing.T, e *mailtest.OAuthEnv, addr string) *Sender {
	t.Helper()
	s := NewSender(Config{
		Addr: addr, TLS: mail.TLSNone, Username: mailtest.OAuthMailbox, Tokens: e.Tokens,
		Timeout: 5 * time.Second, LocalName: "test.example", Logger: e.Logger,
	})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eachOAuthSMTP runs f on the go-smtp server offering one OAuth mechanism
// and then the other, refusing tokens with the JSON error challenge (as
// Gmail does) and without (535 at once).
func eachOAuthSMTP(t *testing.T, f func(t *testing.T, mech string, noChallenge bool)) {
	for _, mech := range oauthMechanisms {
		for _, noChallenge := range []bool{false, true} {
			name := mech + map[bool]string{false: "/challenge", true: "/535 at once"}[noChallenge]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f(t, mech, noChallenge)
			})
		}
	}
}

func TestOAuthSMTPSignIn(t *testing.T) {
	t.Parallel()
	for _, mech := range oauthMechanisms {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
			srv := startOAuthSMTP(t, e, mech, false)
			s := oauthSender(t, e, srv.Addr())
			require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
			got := srv.Messages()
			require.Len(t, got, 1)
			assert.Equal(t, mailtest.OAuthMailbox, got[0].Username)
			logins := srv.OAuthLogins()
			require.Len(t, logins, 1)
			assert.Equal(t, mech, logins[0].Mechanism)
			assert.NoError(t, logins[0].Err)
			assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls())

			check, err := oauthSender(t, e, srv.Addr()).Check(t.Context())
			require.NoError(t, err)
			assert.True(t, check.Authenticated)
			e.AssertNoSecrets(t)
		})
	}
}

// The server refuses the expired token the source still hands out; Renew
// runs once and the new token signs in on the same connection.
func TestOAuthSMTPExpiredTokenRenewed(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, true)
		srv := startOAuthSMTP(t, e, mech, noChallenge)
		s := oauthSender(t, e, srv.Addr())
		require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
		require.NoError(t, s.Close())

		e.Clock.Advance(2 * time.Hour)
		require.NoError(t, s.Deliver(t.Context(), testMessage(2), nil))
		assert.Len(t, srv.Messages(), 2)
		assert.Equal(t, [3]int{2, 1, 2}, e.Tokens.Calls(), "Renew exactly once")
		assert.Equal(t, 2, srv.Sessions(), "the renewed token was tried on the same connection")
		logins := srv.OAuthLogins()
		require.Len(t, logins, 3)
		assert.ErrorIs(t, logins[1].Err, oauthfake.ErrTokenExpired)
		assert.NoError(t, logins[2].Err)
		assert.Contains(t, e.Logs.String(), "smtp server refused the OAuth token; renewing it")
		e.AssertNoSecrets(t)
	})
}

// A revoked grant: the server refuses the cached token and the provider
// refuses to renew. The send fails transiently (the outbox backs off)
// with the provider's error inside.
func TestOAuthSMTPProviderRefuses(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
		srv := startOAuthSMTP(t, e, mech, noChallenge)
		s := oauthSender(t, e, srv.Addr())
		require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
		require.NoError(t, s.Close())

		e.Provider.RevokeAll()
		se := sendErr(t, s, testMessage(2))
		t.Logf("error: %v", se)
		assert.Equal(t, "auth", se.Op)
		exactlyOne(t, se, ErrTransient)
		var pe *mailtest.ProviderError
		require.ErrorAs(t, se, &pe)
		assert.Equal(t, "invalid_grant", pe.Code)
		var te *mail.TokenError
		require.ErrorAs(t, se, &te)
		assert.True(t, te.Renew)
		assert.Equal(t, [3]int{2, 1, 1}, e.Tokens.Calls(), "one Renew, no loop")
		assert.Len(t, srv.OAuthLogins(), 2)
		assert.Len(t, srv.Messages(), 1)

		_, err := oauthSender(t, e, srv.Addr()).Check(t.Context())
		var ce *mail.CheckError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, mail.StepToken, ce.Step)
		e.AssertNoSecrets(t, se.Error(), err.Error())
	})
}

// Tokens for another mailbox: the server refuses both, an auth failure
// with advice that the outbox retries (an administrator's grant fixes it)
// rather than failing the mail.
func TestOAuthSMTPServerRefusesTwice(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := mailtest.NewOAuthEnv(t, "sales@example.com", false)
		srv := startOAuthSMTP(t, e, mech, noChallenge)
		se := sendErr(t, oauthSender(t, e, srv.Addr()), testMessage(1))
		t.Logf("error: %v", se)
		assert.Equal(t, "auth", se.Op)
		exactlyOne(t, se, ErrTransient)
		var re *mail.OAuthRefusedError
		require.ErrorAs(t, se, &re)
		assert.Equal(t, "smtp", re.Protocol)
		assert.Equal(t, mailtest.OAuthMailbox, re.Mailbox)
		assert.Equal(t, mech, re.Mechanism)
		if noChallenge {
			assert.Empty(t, re.Status)
			assert.Equal(t, "535 5.7.8 Username and Password not accepted", re.Reply)
		} else {
			assert.Equal(t, map[string]string{mail.XOAUTH2: "401", sasl.OAuthBearer: "invalid_token"}[mech], re.Status)
			assert.Empty(t, re.Reply, "the client cancelled the exchange after the challenge")
		}
		for _, want := range []string{mailtest.OAuthMailbox, "refused the OAuth token", "SMTP.SendAsApp", "admin consent",
			"SMTP AUTH is enabled", "https://mail.google.com/"} {
			assert.Contains(t, se.Error(), want)
		}
		assert.Equal(t, [3]int{1, 1, 2}, e.Tokens.Calls(), "Renew exactly once")
		assert.Equal(t, 1, srv.Sessions(), "both attempts on one connection")
		logins := srv.OAuthLogins()
		require.Len(t, logins, 2)
		assert.ErrorIs(t, logins[1].Err, oauthfake.ErrMailboxDenied)
		assert.Empty(t, srv.Messages())
		e.AssertNoSecrets(t, se.Error())
	})
}

// The Sender keeps its connection; a new one after the server went away
// signs in with a new token.
func TestOAuthSMTPReconnect(t *testing.T) {
	t.Parallel()
	for _, lagging := range []bool{false, true} {
		t.Run(map[bool]string{false: "expiry known", true: "expiry unknown"}[lagging], func(t *testing.T) {
			t.Parallel()
			e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, lagging)
			srv := startOAuthSMTP(t, e, sasl.OAuthBearer, false)
			s := oauthSender(t, e, srv.Addr())
			require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))

			e.Clock.Advance(2 * time.Hour)
			require.NoError(t, s.Deliver(t.Context(), testMessage(2), nil), "an open session outlives its token")
			assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls())

			srv.SetDown(true)
			srv.SetDown(false)
			require.NoError(t, s.Deliver(t.Context(), testMessage(3), nil))
			if lagging {
				assert.Equal(t, [3]int{2, 1, 2}, e.Tokens.Calls())
			} else {
				assert.Equal(t, [3]int{2, 0, 2}, e.Tokens.Calls())
			}
			assert.Len(t, srv.Messages(), 3)
			e.AssertNoSecrets(t)
		})
	}
}

// A server without OAuth answers 504: permanent, and no Renew.
func TestOAuthSMTPNotOffered(t *testing.T) {
	t.Parallel()
	e := mailtest.NewOAuthEnv(t, mailtest.OAuthMailbox, false)
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{AllowInsecureAuth: true, Username: mailtest.OAuthMailbox, Password: "pw"})
	se := sendErr(t, oauthSender(t, e, srv.Addr()), testMessage(1))
	assert.Equal(t, "auth", se.Op)
	assert.Equal(t, 504, se.Code)
	exactlyOne(t, se, ErrPermanent)
	assert.Equal(t, [3]int{1, 0, 1}, e.Tokens.Calls())
}
