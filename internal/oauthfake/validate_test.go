package oauthfake

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestValidate(t *testing.T) {
	s, clk := start(t, Options{})
	tok := s.IssueAccessToken(appID, mailbox, "imap")
	sub, ok := s.Validate(tok)
	assert.True(t, ok)
	assert.Equal(t, mailbox, sub)
	info, _ := s.Lookup(tok)
	assert.Equal(t, GrantSeeded, info.Grant)

	_, ok = s.Validate("never-issued")
	assert.False(t, ok)
	assert.ErrorIs(t, s.ValidateFor("never-issued", mailbox), ErrUnknownToken)

	rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
	require.NoError(t, err)
	assert.ErrorIs(t, s.ValidateFor(rt, mailbox), ErrNotAccessToken, "a refresh token does not open a mailbox")

	clk.Advance(3598 * time.Second)
	_, ok = s.Validate(tok)
	assert.True(t, ok)
	clk.Advance(time.Second)
	_, ok = s.Validate(tok)
	assert.False(t, ok, "expired exactly at expires_in")
}

// App-only tokens open the mailboxes granted to the app, whatever user
// the SASL exchange names; Validate reports the app as the subject.
func TestValidateAppOnly(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	tok, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams, imapScope).Token(ctx(t))
	require.NoError(t, err)
	sub, ok := s.Validate(tok.AccessToken)
	assert.True(t, ok)
	assert.Equal(t, appID, sub)
	assert.NoError(t, s.ValidateFor(tok.AccessToken, "Support@Example.com"))
	assert.ErrorIs(t, s.ValidateFor(tok.AccessToken, "ceo@example.com"), ErrMailboxDenied)
}

func TestEndpointsAndHandler(t *testing.T) {
	s, _ := start(t, Options{})
	ep := s.Endpoint()
	assert.Equal(t, s.URL()+PathToken, ep.TokenURL)
	assert.Equal(t, s.URL()+PathAuthorize, ep.AuthURL)
	assert.Equal(t, s.URL()+PathDeviceCode, ep.DeviceAuthURL)
	assert.Equal(t, oauth2.AuthStyleAutoDetect, ep.AuthStyle)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, s.URL())

	req, err := http.NewRequest(http.MethodGet, s.URL()+"/nothing", nil)
	require.NoError(t, err)
	status, _, _ := do(t, req)
	assert.Equal(t, http.StatusNotFound, status)
}

// Mounted under another server, audiences follow the Host the client used.
func TestMountedHandler(t *testing.T) {
	h := NewHandler(Options{})
	h.AddClient(Client{ID: appID, Secret: appSecret})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cert := GenerateCertificate(t)
	require.NoError(t, h.AddClientCertificate(appID, cert.Cert))
	a, err := cert.ClientAssertion(appID, ts.URL+PathToken, time.Now())
	require.NoError(t, err)
	status, _, body := postForm(t, ts.URL+PathToken, url.Values{
		"grant_type": {GrantClientCredentials}, "client_id": {appID},
		"client_assertion_type": {ClientAssertionTypeJWT}, "client_assertion": {a},
	}, nil)
	assert.Equal(t, http.StatusOK, status, "%v", body)
	assert.Empty(t, h.URL())
}

// Many clients at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	s, _ := start(t, Options{RotateRefreshTokens: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt, err := s.IssueRefreshToken(appID, mailbox, "imap")
			if !assert.NoError(t, err) {
				return
			}
			for range 5 {
				tok, err := refresh(t, delegatedConfig(s), rt)
				if !assert.NoError(t, err, "worker %d", i) {
					return
				}
				rt = tok.RefreshToken
				_, ok := s.Validate(tok.AccessToken)
				assert.True(t, ok)
				_ = s.Introspect(tok.AccessToken)
			}
		}()
	}
	wg.Wait()
	assert.Len(t, s.Tokens(), 8+8*5*2)
}
