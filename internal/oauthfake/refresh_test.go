package oauthfake

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

const imapDelegated = "https://outlook.office.com/IMAP.AccessAsUser.All"

func delegatedConfig(s *Server) *oauth2.Config {
	return &oauth2.Config{ClientID: appID, ClientSecret: appSecret, Endpoint: s.Endpoint(),
		Scopes: []string{imapDelegated, offlineAccessScope}}
}

// refresh asks x/oauth2 to renew: a token whose expiry has passed.
func refresh(t *testing.T, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	t.Helper()
	return cfg.TokenSource(ctx(t), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)}).Token()
}

func TestRefresh(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	rt, err := s.IssueRefreshToken(appID, mailbox, imapDelegated, offlineAccessScope)
	require.NoError(t, err)
	tok, err := refresh(t, delegatedConfig(s), rt)
	require.NoError(t, err)
	assert.Equal(t, rt, tok.RefreshToken, "not rotating: x/oauth2 keeps the one it had")

	info, ok := s.Lookup(tok.AccessToken)
	require.True(t, ok)
	assert.Equal(t, GrantRefreshToken, info.Grant)
	assert.Equal(t, mailbox, info.Subject)
	assert.False(t, info.AppOnly)
	assert.NoError(t, s.ValidateFor(tok.AccessToken, mailbox))
	assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, "other@example.com"), ErrMailboxDenied)

	// It keeps working: refresh tokens are reusable without rotation.
	_, err = refresh(t, delegatedConfig(s), rt)
	require.NoError(t, err)
}

// x/oauth2 sends no scope when refreshing, so this one is by hand.
func TestRefreshNarrowerScope(t *testing.T) {
	s, _ := start(t, Options{})
	rt, err := s.IssueRefreshToken(appID, mailbox, "imap", "smtp")
	require.NoError(t, err)
	form := func(scope string) url.Values {
		return url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}, "scope": {scope},
			"client_id": {appID}, "client_secret": {appSecret}}
	}
	status, _, body := postForm(t, s.TokenURL(), form("smtp"), nil)
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, "smtp", body["scope"])

	status, _, body = postForm(t, s.TokenURL(), form("calendar"), nil)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_scope", body["error"])
}

func TestRefreshRotation(t *testing.T) {
	s, _ := start(t, Options{RotateRefreshTokens: true})
	rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
	require.NoError(t, err)
	tok, err := refresh(t, delegatedConfig(s), rt)
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	assert.NotEqual(t, rt, tok.RefreshToken)
	assert.Equal(t, TokenID(tok.RefreshToken), lastTo(t, s, PathToken).RefreshTokenID)

	_, err = refresh(t, delegatedConfig(s), rt)
	re := retrieveErr(t, err)
	assert.Equal(t, "invalid_grant", re.ErrorCode, "the rotated-out token is dead")

	_, err = refresh(t, delegatedConfig(s), tok.RefreshToken)
	require.NoError(t, err)
}

// ReuseTokenSource renews on its own once x/oauth2 deems the token
// expired, which with a 1 s lifetime and its 10 s margin is at once.
func TestRefreshThroughReuseTokenSource(t *testing.T) {
	s, _ := start(t, Options{TokenLifetime: time.Second})
	rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
	require.NoError(t, err)
	src := delegatedConfig(s).TokenSource(ctx(t), &oauth2.Token{RefreshToken: rt})
	first, err := src.Token()
	require.NoError(t, err)
	second, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken, second.AccessToken)
	assert.Len(t, s.RequestsTo(PathToken), 2)
}

func TestRefreshErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flavor Flavor
		prep   func(*Server, *clock, string) string // returns the token to present
		status int
		code   string
		desc   string
	}{
		{"revoked microsoft", Microsoft, func(s *Server, _ *clock, rt string) string { s.Revoke(rt); return rt },
			400, "invalid_grant", "AADSTS50173: The provided grant has expired due to it being revoked"},
		{"revoked google", Google, func(s *Server, _ *clock, rt string) string { s.Revoke(rt); return rt },
			400, "invalid_grant", "Token has been expired or revoked."},
		{"revoke all", Generic, func(s *Server, _ *clock, rt string) string { s.RevokeAll(); return rt },
			400, "invalid_grant", "refresh token revoked"},
		{"inactive microsoft", Microsoft, func(_ *Server, c *clock, rt string) string { c.Advance(91 * 24 * time.Hour); return rt },
			400, "invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "},
		{"inactive google", Google, func(_ *Server, c *clock, rt string) string { c.Advance(91 * 24 * time.Hour); return rt },
			400, "invalid_grant", "Token has been expired or revoked."},
		{"unknown microsoft", Microsoft, func(*Server, *clock, string) string { return "0.AAAA-not-a-token" },
			400, "invalid_grant", "AADSTS9002313:"},
		{"unknown google", Google, func(*Server, *clock, string) string { return "1//0g-not-a-token" },
			400, "invalid_grant", "Bad Request"},
		{"access token as refresh token", Generic, func(s *Server, _ *clock, _ string) string {
			return s.IssueAccessToken(appID, mailbox, "imap")
		}, 400, "invalid_grant", "unknown refresh token"},
		{"other client's token google", Google, func(s *Server, _ *clock, _ string) string {
			s.AddClient(Client{ID: "other", Secret: "x"})
			rt, _ := s.IssueRefreshToken("other", mailbox, "imap")
			return rt
		}, 401, "unauthorized_client", "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := start(t, Options{Flavor: tc.flavor})
			rt, err := s.IssueRefreshToken(appID, mailbox, imapDelegated, offlineAccessScope)
			require.NoError(t, err)
			_, err = refresh(t, delegatedConfig(s), tc.prep(s, clk, rt))
			re := retrieveErr(t, err)
			assert.Equal(t, tc.status, re.Response.StatusCode)
			assert.Equal(t, tc.code, re.ErrorCode)
			assert.Contains(t, re.ErrorDescription, tc.desc)
		})
	}
}

// The inactivity window restarts with each use, as Microsoft's does.
func TestRefreshInactivityMessage(t *testing.T) {
	s, clk := start(t, Options{Flavor: Microsoft})
	rt, err := s.IssueRefreshToken(appID, mailbox, imapDelegated)
	require.NoError(t, err)
	clk.Advance(91*24*time.Hour + 90*time.Minute)
	_, err = refresh(t, delegatedConfig(s), rt)
	assert.Contains(t, retrieveErr(t, err).ErrorDescription, "and was inactive for 91.01:30:00.")
}

func TestRefreshInactivityWindowSlides(t *testing.T) {
	s, clk := start(t, Options{RefreshTokenLifetime: 10 * 24 * time.Hour})
	rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
	require.NoError(t, err)
	for range 3 {
		clk.Advance(9 * 24 * time.Hour)
		_, err := refresh(t, delegatedConfig(s), rt)
		require.NoError(t, err)
	}
	info, _ := s.Lookup(rt)
	assert.Equal(t, clk.Now().Add(10*24*time.Hour), info.ExpiresAt)
	clk.Advance(11 * 24 * time.Hour)
	_, err = refresh(t, delegatedConfig(s), rt)
	assert.Equal(t, "invalid_grant", retrieveErr(t, err).ErrorCode)
}

func TestRevokeRefreshLeavesAccessTokens(t *testing.T) {
	s, _ := start(t, Options{})
	rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
	require.NoError(t, err)
	tok, err := refresh(t, delegatedConfig(s), rt)
	require.NoError(t, err)
	assert.True(t, s.Revoke(rt))
	assert.False(t, s.Revoke("never-issued"))
	_, ok := s.Validate(tok.AccessToken)
	assert.True(t, ok, "access tokens live until they expire")
	s.RevokeAll()
	_, ok = s.Validate(tok.AccessToken)
	assert.False(t, ok)
	assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, mailbox), ErrTokenRevoked)
}

func TestIssueRefreshTokenUnknownClient(t *testing.T) {
	s, _ := start(t, Options{})
	_, err := s.IssueRefreshToken("ghost", mailbox)
	assert.ErrorIs(t, err, ErrUnknownClient)
}
