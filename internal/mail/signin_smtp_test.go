package mail

import (
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

func (e *oauthEnv) startSMTP(t *testing.T, mech string, noChallenge bool) *mailtest.SMTPServer {
	t.Helper()
	return mailtest.StartSMTP(t, mailtest.SMTPOptions{
		AllowInsecureAuth: true, OAuth: e.validate, OAuthMechanisms: []string{mech}, OAuthNoChallenge: noChallenge,
	})
}

func (e *oauthEnv) sender(t *testing.T, addr string) *Sender {
	t.Helper()
	s := NewSender(SMTPConfig{
		Addr: addr, TLS: TLSNone, Username: oauthMailbox, Tokens: e.tokens,
		Timeout: 5 * time.Second, LocalName: "test.example", Logger: e.logger,
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
			e := newOAuthEnv(t, oauthMailbox, false)
			srv := e.startSMTP(t, mech, false)
			s := e.sender(t, srv.Addr())
			require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
			got := srv.Messages()
			require.Len(t, got, 1)
			assert.Equal(t, oauthMailbox, got[0].Username)
			logins := srv.OAuthLogins()
			require.Len(t, logins, 1)
			assert.Equal(t, mech, logins[0].Mechanism)
			assert.NoError(t, logins[0].Err)
			assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls())

			check, err := e.sender(t, srv.Addr()).Check(t.Context())
			require.NoError(t, err)
			assert.True(t, check.Authenticated)
			e.assertNoSecrets(t)
		})
	}
}

// The server refuses the expired token the source still hands out; Renew
// runs once and the new token signs in on the same connection.
func TestOAuthSMTPExpiredTokenRenewed(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := newOAuthEnv(t, oauthMailbox, true)
		srv := e.startSMTP(t, mech, noChallenge)
		s := e.sender(t, srv.Addr())
		require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
		require.NoError(t, s.Close())

		e.clock.Advance(2 * time.Hour)
		require.NoError(t, s.Deliver(t.Context(), testMessage(2), nil))
		assert.Len(t, srv.Messages(), 2)
		assert.Equal(t, [3]int{2, 1, 2}, e.tokens.calls(), "Renew exactly once")
		assert.Equal(t, 2, srv.Sessions(), "the renewed token was tried on the same connection")
		logins := srv.OAuthLogins()
		require.Len(t, logins, 3)
		assert.ErrorIs(t, logins[1].Err, oauthfake.ErrTokenExpired)
		assert.NoError(t, logins[2].Err)
		assert.Contains(t, e.logs.String(), "smtp server refused the OAuth token; renewing it")
		e.assertNoSecrets(t)
	})
}

// A revoked grant: the server refuses the cached token and the provider
// refuses to renew. The send fails transiently (the outbox backs off)
// with the provider's error inside.
func TestOAuthSMTPProviderRefuses(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := newOAuthEnv(t, oauthMailbox, false)
		srv := e.startSMTP(t, mech, noChallenge)
		s := e.sender(t, srv.Addr())
		require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))
		require.NoError(t, s.Close())

		e.fake.RevokeAll()
		se := sendErr(t, s, testMessage(2))
		t.Logf("error: %v", se)
		assert.Equal(t, "auth", se.Op)
		exactlyOne(t, se, ErrTransient)
		var pe *providerError
		require.ErrorAs(t, se, &pe)
		assert.Equal(t, "invalid_grant", pe.Code)
		var te *TokenError
		require.ErrorAs(t, se, &te)
		assert.True(t, te.Renew)
		assert.Equal(t, [3]int{2, 1, 1}, e.tokens.calls(), "one Renew, no loop")
		assert.Len(t, srv.OAuthLogins(), 2)
		assert.Len(t, srv.Messages(), 1)

		_, err := e.sender(t, srv.Addr()).Check(t.Context())
		var ce *CheckError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, StepToken, ce.Step)
		e.assertNoSecrets(t, se.Error(), err.Error())
	})
}

// Tokens for another mailbox: the server refuses both, an auth failure
// with advice that the outbox retries (an administrator's grant fixes it)
// rather than failing the mail.
func TestOAuthSMTPServerRefusesTwice(t *testing.T) {
	t.Parallel()
	eachOAuthSMTP(t, func(t *testing.T, mech string, noChallenge bool) {
		e := newOAuthEnv(t, "sales@example.com", false)
		srv := e.startSMTP(t, mech, noChallenge)
		se := sendErr(t, e.sender(t, srv.Addr()), testMessage(1))
		t.Logf("error: %v", se)
		assert.Equal(t, "auth", se.Op)
		exactlyOne(t, se, ErrTransient)
		var re *OAuthRefusedError
		require.ErrorAs(t, se, &re)
		assert.Equal(t, "smtp", re.Protocol)
		assert.Equal(t, oauthMailbox, re.Mailbox)
		assert.Equal(t, mech, re.Mechanism)
		if noChallenge {
			assert.Empty(t, re.Status)
			assert.Equal(t, "535 5.7.8 Username and Password not accepted", re.Reply)
		} else {
			assert.Equal(t, map[string]string{XOAUTH2: "401", sasl.OAuthBearer: "invalid_token"}[mech], re.Status)
			assert.Empty(t, re.Reply, "the client cancelled the exchange after the challenge")
		}
		for _, want := range []string{oauthMailbox, "refused the OAuth token", "SMTP.SendAsApp", "admin consent",
			"SMTP AUTH is enabled", "https://mail.google.com/"} {
			assert.Contains(t, se.Error(), want)
		}
		assert.Equal(t, [3]int{1, 1, 2}, e.tokens.calls(), "Renew exactly once")
		assert.Equal(t, 1, srv.Sessions(), "both attempts on one connection")
		logins := srv.OAuthLogins()
		require.Len(t, logins, 2)
		assert.ErrorIs(t, logins[1].Err, oauthfake.ErrMailboxDenied)
		assert.Empty(t, srv.Messages())
		e.assertNoSecrets(t, se.Error())
	})
}

// The Sender keeps its connection; a new one after the server went away
// signs in with a new token.
func TestOAuthSMTPReconnect(t *testing.T) {
	t.Parallel()
	for _, lagging := range []bool{false, true} {
		t.Run(map[bool]string{false: "expiry known", true: "expiry unknown"}[lagging], func(t *testing.T) {
			t.Parallel()
			e := newOAuthEnv(t, oauthMailbox, lagging)
			srv := e.startSMTP(t, sasl.OAuthBearer, false)
			s := e.sender(t, srv.Addr())
			require.NoError(t, s.Deliver(t.Context(), testMessage(1), nil))

			e.clock.Advance(2 * time.Hour)
			require.NoError(t, s.Deliver(t.Context(), testMessage(2), nil), "an open session outlives its token")
			assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls())

			srv.SetDown(true)
			srv.SetDown(false)
			require.NoError(t, s.Deliver(t.Context(), testMessage(3), nil))
			if lagging {
				assert.Equal(t, [3]int{2, 1, 2}, e.tokens.calls())
			} else {
				assert.Equal(t, [3]int{2, 0, 2}, e.tokens.calls())
			}
			assert.Len(t, srv.Messages(), 3)
			e.assertNoSecrets(t)
		})
	}
}

// A server without OAuth answers 504: permanent, and no Renew.
func TestOAuthSMTPNotOffered(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, oauthMailbox, false)
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{AllowInsecureAuth: true, Username: oauthMailbox, Password: "pw"})
	se := sendErr(t, e.sender(t, srv.Addr()), testMessage(1))
	assert.Equal(t, "auth", se.Op)
	assert.Equal(t, 504, se.Code)
	exactlyOne(t, se, ErrPermanent)
	assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls())
}
