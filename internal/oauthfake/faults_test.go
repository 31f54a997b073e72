package oauthfake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestFailNext(t *testing.T) {
	t.Run("explicit style fails at once", func(t *testing.T) {
		s, _ := start(t, Options{Flavor: Microsoft})
		s.FailNext(PathToken, 1, http.StatusServiceUnavailable)
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams, imapScope).Token(ctx(t))
		re := retrieveErr(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, re.Response.StatusCode)
		assert.Equal(t, "temporarily_unavailable", re.ErrorCode)
		assert.Contains(t, re.ErrorDescription, "AADSTS90033")
		assert.Equal(t, "1", re.Response.Header.Get("Retry-After"))
		assert.Equal(t, "status 503", lastTo(t, s, PathToken).Fault)
		assert.Zero(t, s.PendingFaults())

		_, err = ccConfig(s, appSecret, oauth2.AuthStyleInParams, imapScope).Token(ctx(t))
		require.NoError(t, err, "the fault is used up")
	})
	t.Run("auto-detect absorbs one failure", func(t *testing.T) {
		s, _ := start(t, Options{})
		s.FailNext(PathToken, 1, http.StatusInternalServerError)
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleAutoDetect).Token(ctx(t))
		require.NoError(t, err)
		reqs := s.RequestsTo(PathToken)
		require.Len(t, reqs, 2)
		assert.Equal(t, "server_error", reqs[0].Error)
	})
	t.Run("auto-detect needs two", func(t *testing.T) {
		s, _ := start(t, Options{})
		s.FailNext(PathToken, 2, http.StatusBadGateway)
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleAutoDetect).Token(ctx(t))
		assert.Equal(t, http.StatusBadGateway, retrieveErr(t, err).Response.StatusCode)
	})
	t.Run("only the path named", func(t *testing.T) {
		s, _ := start(t, Options{})
		s.FailNext(PathIntrospect, 1, http.StatusInternalServerError)
		assert.Equal(t, 1, s.PendingFaults())
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(ctx(t))
		require.NoError(t, err)
		status, _ := introspectAs(t, s, IntrospectPost, "x", nil)
		assert.Equal(t, http.StatusInternalServerError, status)
	})
	t.Run("reset", func(t *testing.T) {
		s, _ := start(t, Options{})
		s.FailNext("", 5, 500)
		s.DelayNext("", 5, time.Hour)
		assert.Equal(t, 10, s.PendingFaults())
		s.ResetFaults()
		assert.Zero(t, s.PendingFaults())
	})
}

func TestDelayNext(t *testing.T) {
	s, _ := start(t, Options{})
	s.DelayNext(PathToken, 1, 300*time.Millisecond)
	began := time.Now()
	_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(ctx(t))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)
	assert.Equal(t, "delay 300ms", lastTo(t, s, PathToken).Fault)
}

// A client that gives up ends the delay; the attempt is still logged.
func TestDelayEndsWhenClientGivesUp(t *testing.T) {
	s, _ := start(t, Options{})
	s.DelayNext(PathToken, 1, time.Hour)
	c, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
	defer cancel()
	_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(c)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.Eventually(t, func() bool { return len(s.RequestsTo(PathToken)) == 1 }, 5*time.Second, 10*time.Millisecond)
}

// Close must not wait out a delay: the test would hang for it.
func TestCloseEndsDelays(t *testing.T) {
	s := Start(Options{})
	s.AddClient(Client{ID: appID, Secret: appSecret})
	s.DelayNext(PathToken, 1, time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(ctx(t))
		done <- err
	}()
	require.Eventually(t, func() bool { return len(s.RequestsTo(PathToken)) == 1 }, 5*time.Second, 10*time.Millisecond)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the delay")
	}
	assert.Error(t, <-done)
	s.Close() // twice is harmless
}

// Nothing a test might print holds a secret, a code, a verifier or a
// token.
func TestLogHoldsNoSecrets(t *testing.T) {
	s, _, cfg, cb := codeFlow(t, Options{Flavor: Microsoft})
	v := oauth2.GenerateVerifier()
	code := cb.authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v))).Get("code")
	tok, err := cfg.Exchange(ctx(t), code, oauth2.VerifierOption(v))
	require.NoError(t, err)
	_, err = refresh(t, cfg, tok.RefreshToken)
	require.NoError(t, err)
	_, _ = ccConfig(s, "wrong-secret-value", 0, imapScope).Token(ctx(t))
	introspectAs(t, s, IntrospectAuth, tok.AccessToken, nil)
	introspectAs(t, s, IntrospectPost, tok.AccessToken, nil)

	printed := fmt.Sprintf("%+v %+v %+v", s.Requests(), s.Tokens(), s.Introspect(tok.AccessToken))
	for name, secret := range map[string]string{
		"secret": appSecret, "wrong secret": "wrong-secret-value", "code": code, "verifier": v,
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken,
	} {
		assert.False(t, strings.Contains(printed, secret), "%s leaked", name)
	}
	assert.Contains(t, printed, TokenID(tok.AccessToken))
}

func TestResetRequests(t *testing.T) {
	s, _ := start(t, Options{})
	_, _ = ccConfig(s, appSecret, oauth2.AuthStyleInParams).Token(ctx(t))
	require.Len(t, s.Requests(), 1)
	s.ResetRequests()
	assert.Empty(t, s.Requests())
}
