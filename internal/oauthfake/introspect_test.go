package oauthfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// introspectAs sends tok the way Dovecot 2.3's oauth2 passdb does in each
// introspection_mode: post is "token=..." with no Content-Type at all,
// get appends the escaped token to introspection_url, auth is a Bearer
// header on a plain GET.
func introspectAs(t *testing.T, s *Server, mode, tok string, basic *url.Userinfo) (int, []byte) {
	t.Helper()
	var req *http.Request
	var err error
	switch mode {
	case IntrospectPost:
		req, err = http.NewRequest(http.MethodPost, s.IntrospectionURL(mode), strings.NewReader("token="+url.QueryEscape(tok)))
	case IntrospectGet:
		req, err = http.NewRequest(http.MethodGet, s.IntrospectionURL(mode)+url.QueryEscape(tok), nil)
	case IntrospectAuth:
		req, err = http.NewRequest(http.MethodGet, s.IntrospectionURL(mode), nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	require.NoError(t, err)
	if basic != nil {
		pw, _ := basic.Password()
		req.SetBasicAuth(basic.Username(), pw)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

var modes = []string{IntrospectPost, IntrospectGet, IntrospectAuth}

func TestIntrospectionActive(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s, clk := start(t, Options{Flavor: Microsoft})
			tok := s.IssueAccessToken(appID, mailbox, imapDelegated, "https://outlook.office.com/SMTP.Send")
			status, raw := introspectAs(t, s, mode, tok, nil)
			require.Equal(t, http.StatusOK, status, "%s", raw)

			// Dovecot's active_value = true compares against the JSON
			// literal's text, so a real boolean is what must be sent.
			var generic map[string]any
			require.NoError(t, json.Unmarshal(raw, &generic))
			assert.Equal(t, true, generic["active"])
			assert.True(t, bytes.Contains(raw, []byte(`"active":true`)), "%s", raw)
			assert.Equal(t, mailbox, generic["username"])
			assert.Equal(t, mailbox, generic["email"])
			assert.Equal(t, appID, generic["client_id"])
			assert.Equal(t, imapDelegated+" https://outlook.office.com/SMTP.Send", generic["scope"])
			assert.Equal(t, "Bearer", generic["token_type"])
			assert.EqualValues(t, clk.Now().Add(3599*time.Second).Unix(), generic["exp"])

			last := lastTo(t, s, PathIntrospect)
			assert.Equal(t, mode, last.IntrospectMode)
			assert.Equal(t, TokenID(tok), last.TokenID)
			assert.Equal(t, mailbox, last.Subject)
		})
	}
}

func TestIntrospectionInactive(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s, clk := start(t, Options{})
			expired := s.IssueAccessToken(appID, mailbox, "imap")
			clk.Advance(time.Hour)
			revoked := s.IssueAccessToken(appID, mailbox, "imap")
			s.Revoke(revoked)
			rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
			require.NoError(t, err)
			for name, tok := range map[string]string{"expired": expired, "revoked": revoked, "unknown": "nope", "refresh token": rt} {
				status, raw := introspectAs(t, s, mode, tok, nil)
				assert.Equal(t, http.StatusOK, status, name)
				assert.JSONEq(t, `{"active":false}`, string(raw), name)
				assert.Contains(t, lastTo(t, s, PathIntrospect).Detail, "inactive", name)
			}
		})
	}
}

// An app-only token has no user: Dovecot would answer "No username
// returned", which is right, since IMAP app-only access is Exchange's.
func TestIntrospectionAppOnly(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	tok, err := ccConfig(s, appSecret, 0, imapScope).Token(ctx(t))
	require.NoError(t, err)
	got := s.Introspect(tok.AccessToken)
	assert.True(t, got.Active)
	assert.Empty(t, got.Username)
	assert.Equal(t, appID, got.Sub)
}

func TestIntrospectionClientAuth(t *testing.T) {
	s, _ := start(t, Options{IntrospectionRequiresClientAuth: true})
	tok := s.IssueAccessToken(appID, mailbox, "imap")
	for _, mode := range []string{IntrospectPost, IntrospectGet} {
		status, _ := introspectAs(t, s, mode, tok, nil)
		assert.Equal(t, http.StatusUnauthorized, status, mode)
		status, _ = introspectAs(t, s, mode, tok, url.UserPassword(appID, "wrong"))
		assert.Equal(t, http.StatusUnauthorized, status, mode)
		status, raw := introspectAs(t, s, mode, tok, url.UserPassword(appID, appSecret))
		assert.Equal(t, http.StatusOK, status, mode)
		assert.Contains(t, string(raw), `"active":true`)
		assert.Equal(t, AuthSecretBasic, lastTo(t, s, PathIntrospect).ClientAuth)
	}
	status, _ := introspectAs(t, s, IntrospectAuth, tok, nil)
	assert.Equal(t, http.StatusOK, status, "the bearer token is its own credential")

	// Newer Dovecot 2.3 releases append their client_id and client_secret
	// settings to the get URL.
	q := url.Values{"client_id": {appID}, "client_secret": {appSecret}}.Encode()
	req, err := http.NewRequest(http.MethodGet, s.IntrospectionURL(IntrospectGet)+url.QueryEscape(tok)+"&"+q, nil)
	require.NoError(t, err)
	status, _, body := do(t, req)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"])
	assert.Equal(t, AuthSecretPost, lastTo(t, s, PathIntrospect).ClientAuth)
}

func TestIntrospectionRequestErrors(t *testing.T) {
	s, _ := start(t, Options{})
	status, _, body := postForm(t, s.IntrospectionURL(IntrospectPost), url.Values{}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_request", body["error"])

	req, err := http.NewRequest(http.MethodDelete, s.IntrospectionURL(IntrospectPost), nil)
	require.NoError(t, err)
	status, _, _ = do(t, req)
	assert.Equal(t, http.StatusMethodNotAllowed, status)

	// The ordinary RFC 7662 client, with a Content-Type, works as well.
	tok := s.IssueAccessToken(appID, mailbox, "imap")
	status, _, body = postForm(t, s.IntrospectionURL(IntrospectPost), url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"])
}

func TestDovecotConfig(t *testing.T) {
	s, _ := start(t, Options{})
	conf, err := s.DovecotConfig(IntrospectGet, "", "")
	require.NoError(t, err)
	assert.Equal(t, "introspection_mode = get\n"+
		"introspection_url = "+s.URL()+"/introspect?token=\n"+
		"username_attribute = username\n"+
		"active_attribute = active\n"+
		"active_value = true\n", conf)

	conf, err = s.DovecotConfig(IntrospectPost, appID, "p@ss")
	require.NoError(t, err)
	assert.Contains(t, conf, "introspection_url = http://"+appID+":p%40ss@127.0.0.1:")

	_, err = s.DovecotConfig(IntrospectAuth, appID, "x")
	assert.Error(t, err, "auth mode sends the token as the credential")
	_, err = s.DovecotConfig("local", "", "")
	assert.Error(t, err)
}
