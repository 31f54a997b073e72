package mail

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestXOAuth2Client(t *testing.T) {
	c := newXOAuth2Client("support@example.com", "tok.en-1")
	mech, ir, err := c.Start()
	require.NoError(t, err)
	assert.Equal(t, "XOAUTH2", mech)
	assert.Equal(t, "user=support@example.com\x01auth=Bearer tok.en-1\x01\x01", string(ir))

	_, err = c.Next([]byte(`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`))
	var ce *challengeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "400", ce.Status)
	assert.Equal(t, "https://mail.google.com/", ce.Scope)
	assert.Equal(t, "XOAUTH2: server refused the token (status 400)", err.Error())
}

func TestDecodeChallenge(t *testing.T) {
	for _, tc := range []struct {
		challenge, status string
	}{
		{`{"status":"401","schemes":"bearer","scope":"mail"}`, "401"}, // Dovecot's XOAUTH2
		{`{"status":"invalid_token"}`, "invalid_token"},               // Dovecot's OAUTHBEARER
		{`{"status":401}`, "401"},
		{`not json`, ""},
		{`{"status":"` + strings.Repeat("x", 200) + `"}`, ""},
		{`{"status":"a\nb"}`, ""},
	} {
		assert.Equal(t, tc.status, decodeChallenge(XOAUTH2, []byte(tc.challenge)).Status, tc.challenge)
	}
}

// OAuthClient meets an error challenge one way for IMAP and another for
// SMTP, and remembers it either way.
func TestOAuthClientAnswers(t *testing.T) {
	for _, mech := range []string{XOAUTH2, sasl.OAuthBearer} {
		challenge := []byte(`{"status":"invalid_token","schemes":"bearer"}`)

		imapSide := NewOAuthClient(mech, "support@example.com", "tok", true)
		got, _, err := imapSide.Start()
		require.NoError(t, err)
		assert.Equal(t, mech, got)
		resp, err := imapSide.Next(challenge)
		require.NoError(t, err)
		assert.Equal(t, []byte{0x01}, resp, "RFC 7628's dummy response")
		status, refused := imapSide.Refusal()
		require.True(t, refused)
		assert.Equal(t, "invalid_token", status)

		smtpSide := NewOAuthClient(mech, "support@example.com", "tok", false)
		_, err = smtpSide.Next(challenge)
		var ce *challengeError
		require.True(t, errors.As(err, &ce), "%s: %v", mech, err)
		assert.Equal(t, "invalid_token", ce.Status)
		assert.NotContains(t, err.Error(), "tok\x01")
	}
}

func TestOAuthMechanism(t *testing.T) {
	assert.Equal(t, sasl.OAuthBearer, OAuthMechanism([]string{"PLAIN", "XOAUTH2", "oauthbearer"}))
	assert.Equal(t, XOAUTH2, OAuthMechanism([]string{"PLAIN", "XOAUTH2"}))
	assert.Equal(t, XOAUTH2, OAuthMechanism(nil), "a server offering neither answers for itself")
}

func TestOAuthAdvice(t *testing.T) {
	ms := oauthAdvice("imap", "outlook.office365.com")
	assert.Contains(t, ms, "IMAP.AccessAsApp")
	assert.NotContains(t, ms, "mail.google.com")
	g := oauthAdvice("smtp", "smtp.gmail.com")
	assert.Contains(t, g, "https://mail.google.com/")
	assert.NotContains(t, g, "SendAsApp")
	both := oauthAdvice("smtp", "mail.example.com")
	assert.Contains(t, both, "SMTP.SendAsApp")
	assert.Contains(t, both, "https://mail.google.com/")
	assert.Contains(t, oauthAdvice("imap", "notoutlook.com"), "https://mail.google.com/", "a look-alike domain is not Microsoft's")
}

// A server that echoes what it was sent must not carry the token into
// an error.
func TestRedactToken(t *testing.T) {
	assert.Equal(t, "NO bad token [redacted] here", RedactToken("NO bad token s3cr3t here", "s3cr3t"))
	assert.Equal(t, "NO text", RedactToken("NO text", ""))
}
