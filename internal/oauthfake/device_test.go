package oauthfake

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func deviceConfig(s *Server) *oauth2.Config {
	return &oauth2.Config{ClientID: "native", Endpoint: s.Endpoint(), Scopes: []string{imapDelegated, offlineAccessScope}}
}

// x/oauth2 polls once a second at the fastest, so these take a second or
// two each.
func TestDeviceFlow(t *testing.T) {
	for _, flavor := range []Flavor{Microsoft, Google} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			s, _ := start(t, Options{Flavor: flavor})
			s.AddClient(Client{ID: "native"})
			s.SetSignedInUser(mailbox)
			cfg := deviceConfig(s)
			da, err := cfg.DeviceAuth(ctx(t))
			require.NoError(t, err)
			assert.Regexp(t, `^[A-Z]{4}-[A-Z]{4}$`, da.UserCode)
			assert.Equal(t, s.URL()+PathDevice, da.VerificationURI, "x/oauth2 reads Google's verification_url too")
			assert.EqualValues(t, 1, da.Interval)

			tok, err := cfg.DeviceAccessToken(ctx(t), da)
			require.NoError(t, err)
			assert.NotEmpty(t, tok.RefreshToken)
			sub, ok := s.Validate(tok.AccessToken)
			assert.True(t, ok)
			assert.Equal(t, mailbox, sub)

			reqs := s.RequestsTo(PathToken)
			require.Len(t, reqs, 2)
			assert.Equal(t, "authorization_pending", reqs[0].Error)
			assert.Equal(t, GrantDeviceCode, reqs[1].GrantType)
			assert.Empty(t, reqs[1].Error)
			if flavor == Google {
				assert.Equal(t, 428, reqs[0].Status)
			}
		})
	}
}

func TestDeviceFlowDenied(t *testing.T) {
	s, _ := start(t, Options{Flavor: Microsoft})
	s.AddClient(Client{ID: "native"})
	s.SetSignedInUser(mailbox)
	s.DenyNextAuthorization(1)
	cfg := deviceConfig(s)
	da, err := cfg.DeviceAuth(ctx(t))
	require.NoError(t, err)
	_, err = cfg.DeviceAccessToken(ctx(t), da)
	re := retrieveErr(t, err)
	assert.Equal(t, "access_denied", re.ErrorCode)
	assert.Contains(t, re.ErrorDescription, "AADSTS65004")
}

// Expiry and unknown codes, by hand to avoid waiting on x/oauth2's poll.
func TestDeviceCodeErrors(t *testing.T) {
	s, clk := start(t, Options{})
	s.AddClient(Client{ID: "native"})
	s.SetSignedInUser(mailbox)
	status, _, body := postForm(t, s.DeviceAuthURL(), url.Values{"client_id": {"native"}, "scope": {"imap"}}, nil)
	require.Equal(t, 200, status)
	dc := body["device_code"].(string)
	poll := func(code string) (int, string) {
		status, _, body := postForm(t, s.TokenURL(), url.Values{"grant_type": {GrantDeviceCode}, "device_code": {code}, "client_id": {"native"}}, nil)
		e, _ := body["error"].(string)
		return status, e
	}
	_, e := poll(dc)
	assert.Equal(t, "authorization_pending", e)
	clk.Advance(16 * time.Minute)
	_, e = poll(dc)
	assert.Equal(t, "expired_token", e)
	_, e = poll("made-up")
	assert.Equal(t, "invalid_grant", e)

	status, _, body = postForm(t, s.DeviceAuthURL(), url.Values{"client_id": {"ghost"}}, nil)
	assert.Equal(t, 401, status)
	assert.Equal(t, "invalid_client", body["error"])
}

// With nobody signed in the poll stays pending.
func TestDeviceFlowWaitsForSignIn(t *testing.T) {
	s, _ := start(t, Options{})
	s.AddClient(Client{ID: "native"})
	_, _, body := postForm(t, s.DeviceAuthURL(), url.Values{"client_id": {"native"}}, nil)
	dc := body["device_code"].(string)
	form := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {dc}, "client_id": {"native"}}
	for range 3 {
		_, _, body := postForm(t, s.TokenURL(), form, nil)
		assert.Equal(t, "authorization_pending", body["error"])
	}
	s.SetSignedInUser(mailbox)
	status, _, body := postForm(t, s.TokenURL(), form, nil)
	assert.Equal(t, 200, status)
	assert.NotEmpty(t, body["access_token"])
	status, _, _ = postForm(t, s.TokenURL(), form, nil)
	assert.Equal(t, 400, status, "a device code is redeemed once")
}
