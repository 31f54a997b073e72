package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// These tests sign in with tokens from an oauthfake server: against the
// in-process IMAP and SMTP servers, which ask the fake directly, and
// against a real Dovecot 2.3, whose oauth2 passdb asks the fake's
// introspection endpoint over HTTP.

const (
	oauthMailbox  = "support@example.com"
	oauthClientID = "11111111-2222-3333-4444-555555555555"
	oauthSecret   = "client-Secret~4711"
	oauthScope    = "https://outlook.office.com/IMAP.AccessAsUser.All"
)

var oauthMechanisms = []string{XOAUTH2, sasl.OAuthBearer}

// testClock is the fake's clock; advancing it expires tokens.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// providerError is the identity provider's refusal as its token endpoint
// answered it: the type a caller must reach with errors.As through what
// Inbox and Sender return.
type providerError struct {
	Status      int
	Code        string
	Description string
}

func (e *providerError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// fakeTokens is a TokenSource as internal/oauth is one: it redeems a
// refresh token at the fake's token endpoint over HTTP and caches the
// access token until it expires on the fake's clock. lagging keeps handing
// out the cached token past its expiry, as a source whose clock is behind
// the server's would: then only the server's refusal brings a new one.
type fakeTokens struct {
	fake    *oauthfake.Server
	http    *http.Client
	refresh string
	lagging bool

	mu                              sync.Mutex
	current                         string
	expires                         time.Time
	tokenCalls, renewCalls, fetches int
	issued                          []string // every access token handed out
}

func (f *fakeTokens) Token(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	if f.current != "" && (f.lagging || f.fake.Now().Before(f.expires)) {
		return f.current, nil
	}
	return f.fetch(ctx)
}

func (f *fakeTokens) Renew(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewCalls++
	f.current = ""
	return f.fetch(ctx)
}

func (f *fakeTokens) fetch(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {oauthfake.GrantRefreshToken}, "refresh_token": {f.refresh},
		"client_id": {oauthClientID}, "client_secret": {oauthSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.fake.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint: %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &providerError{Status: resp.StatusCode, Code: body.Error, Description: body.Description}
	}
	f.fetches++
	f.current = body.AccessToken
	f.expires = f.fake.Now().Add(time.Duration(body.ExpiresIn) * time.Second)
	f.issued = append(f.issued, body.AccessToken)
	return body.AccessToken, nil
}

// calls is (Token, Renew, tokens fetched from the provider).
func (f *fakeTokens) calls() [3]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return [3]int{f.tokenCalls, f.renewCalls, f.fetches}
}

func (f *fakeTokens) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{f.refresh, oauthSecret}, f.issued...)
}

// oauthEnv is one test's provider, token source and log.
type oauthEnv struct {
	clock  *testClock
	fake   *oauthfake.Server
	tokens *fakeTokens
	logs   *logtest.Buffer
	logger *slog.Logger
}

// newOAuthEnv grants the client a refresh token for subject: the mailbox
// its tokens open. Anything but oauthMailbox makes every server refuse
// them while the provider keeps issuing, as when the grant does not cover
// the mailbox signed in to.
func newOAuthEnv(t *testing.T, subject string, lagging bool) *oauthEnv {
	t.Helper()
	clock := &testClock{now: time.Now().Truncate(time.Second)}
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft, Now: clock.Now})
	fake.AddClient(oauthfake.Client{ID: oauthClientID, Secret: oauthSecret})
	fake.AddUser(subject)
	rt, err := fake.IssueRefreshToken(oauthClientID, subject, oauthScope, "offline_access")
	require.NoError(t, err)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	logs := &logtest.Buffer{}
	return &oauthEnv{
		clock:  clock,
		fake:   fake,
		tokens: &fakeTokens{fake: fake, http: &http.Client{Transport: transport, Timeout: 10 * time.Second}, refresh: rt, lagging: lagging},
		logs:   logs,
		logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *oauthEnv) validate(mailbox, token string) error { return e.fake.ValidateFor(token, mailbox) }

// startIMAP serves IMAP on kind ("mem" or "dovecot"), offering only mech
// of the OAuth mechanisms.
func (e *oauthEnv) startIMAP(t *testing.T, kind, mech string) mailtest.Server {
	t.Helper()
	if kind == "mem" {
		return mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.validate, OAuthMechanisms: []string{mech}})
	}
	return mailtest.StartDovecotWith(t, mailtest.DovecotOptions{
		OAuthIntrospectionURL: e.fake.IntrospectionURL(oauthfake.IntrospectPost),
		IntrospectionMode:     oauthfake.IntrospectPost,
		OAuthMechanisms:       []string{mech},
	})
}

func (e *oauthEnv) inbox(t *testing.T, addr string) *Inbox {
	t.Helper()
	ib := NewInbox(IMAPConfig{
		Addr: addr, TLS: TLSNone, Username: oauthMailbox, Tokens: e.tokens, IDLE: true,
		// Dovecot holds a login from an address that just failed one for
		// about 4 s.
		CommandTimeout: 15 * time.Second,
		Logger:         e.logger,
	})
	t.Cleanup(func() { _ = ib.Close() })
	return ib
}

// assertNoSecrets checks that no token, refresh token or client secret
// got into the log or into texts (error messages).
func (e *oauthEnv) assertNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	texts = append(texts, e.logs.String())
	for _, secret := range e.tokens.secrets() {
		for _, text := range texts {
			assert.NotContains(t, text, secret)
		}
	}
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
		e := newOAuthEnv(t, oauthMailbox, false)
		srv := e.startIMAP(t, kind, mech)
		uid := srv.Append(t, "INBOX", mailtest.Message("customer@example.net", oauthMailbox, "Help", "Body\n"))
		ib := e.inbox(t, srv.Addr())
		ctx := oauthTestCtx(t)

		st, err := ib.Connect(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint32(1), st.Messages)
		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		require.Len(t, envs, 1)
		assert.Equal(t, uid, envs[0].UID)
		assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls(), "Token once, no Renew")
		if kind == "mem" {
			logins := memLogins(srv)
			require.Len(t, logins, 1)
			assert.Equal(t, mech, logins[0].Mechanism)
			assert.Equal(t, oauthMailbox, logins[0].Mailbox)
			assert.NoError(t, logins[0].Err)
		}
		e.assertNoSecrets(t)
	})
}

// The cached token has expired on the provider's clock but the source
// still hands it out: the server refuses it, Renew runs once, and the
// renewed token signs in on the same connection.
func TestOAuthIMAPExpiredTokenRenewed(t *testing.T) {
	t.Parallel()
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := newOAuthEnv(t, oauthMailbox, true)
		srv := e.startIMAP(t, kind, mech)
		ib := e.inbox(t, srv.Addr())
		ctx := oauthTestCtx(t)
		_, err := ib.Connect(ctx)
		require.NoError(t, err)
		require.NoError(t, ib.Close())

		e.clock.Advance(2 * time.Hour)
		_, err = ib.Connect(ctx)
		require.NoError(t, err)
		_, _, err = ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, [3]int{2, 1, 2}, e.tokens.calls(), "Renew exactly once")
		assert.Contains(t, e.logs.String(), "imap server refused the OAuth token; renewing it")
		if kind == "mem" {
			logins := memLogins(srv)
			require.Len(t, logins, 3)
			assert.NoError(t, logins[0].Err)
			assert.ErrorIs(t, logins[1].Err, oauthfake.ErrTokenExpired)
			assert.NoError(t, logins[2].Err)
		}
		e.assertNoSecrets(t)
	})
}

// The grant was revoked: the server refuses the cached token and the
// provider refuses to renew it. The caller gets the provider's error, not
// ErrAuth, after one Renew.
func TestOAuthIMAPProviderRefuses(t *testing.T) {
	t.Parallel()
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := newOAuthEnv(t, oauthMailbox, false)
		srv := e.startIMAP(t, kind, mech)
		ib := e.inbox(t, srv.Addr())
		ctx := oauthTestCtx(t)
		_, err := ib.Connect(ctx)
		require.NoError(t, err)
		require.NoError(t, ib.Close())

		e.fake.RevokeAll()
		_, err = ib.Connect(ctx)
		require.Error(t, err)
		t.Logf("error: %v", err)
		var pe *providerError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "invalid_grant", pe.Code)
		var te *TokenError
		require.ErrorAs(t, err, &te)
		assert.True(t, te.Renew)
		assert.NotErrorIs(t, err, ErrAuth, "the mail server did not refuse the renewed token: it never got one")
		assert.False(t, ib.Connected())
		assert.Equal(t, [3]int{2, 1, 1}, e.tokens.calls(), "one Renew, no loop")
		if kind == "mem" {
			assert.Len(t, memLogins(srv), 2, "signed in, then one refused attempt")
		}

		// Check says the token step failed.
		_, err = e.inbox(t, srv.Addr()).Check(ctx)
		var ce *CheckError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, StepToken, ce.Step)
		require.ErrorAs(t, err, &pe)
		e.assertNoSecrets(t, errText(err))
	})
}

// Without any token yet, a provider that refuses stops the login before
// the server is asked.
func TestOAuthIMAPNoFirstToken(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, oauthMailbox, false)
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.validate})
	e.fake.RevokeAll()
	_, err := e.inbox(t, srv.Addr()).Connect(oauthTestCtx(t))
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.False(t, te.Renew)
	var pe *providerError
	require.ErrorAs(t, err, &pe)
	assert.NotErrorIs(t, err, ErrAuth)
	assert.Empty(t, memLogins(srv))
	assert.Equal(t, [3]int{1, 0, 0}, e.tokens.calls())
}

// The provider issues tokens for another mailbox than the one signed in
// to (the service principal was not granted it): the server refuses the
// token and the renewed one, which is ErrAuth with advice.
func TestOAuthIMAPServerRefusesTwice(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, e *oauthEnv, err error, status string) {
		t.Helper()
		t.Logf("error: %v", err)
		require.ErrorIs(t, err, ErrAuth)
		assert.NotErrorIs(t, err, ErrNotConnected)
		var re *OAuthRefusedError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "imap", re.Protocol)
		assert.Equal(t, oauthMailbox, re.Mailbox)
		assert.Equal(t, status, re.Status)
		assert.Contains(t, re.Reply, "NO [AUTHENTICATIONFAILED]")
		for _, want := range []string{oauthMailbox, "refused the OAuth token", "IMAP.AccessAsApp", "admin consent",
			"service principal", "https://mail.google.com/", "domain-wide delegation"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.Equal(t, [3]int{1, 1, 2}, e.tokens.calls(), "Renew exactly once")
		e.assertNoSecrets(t, err.Error())
	}
	eachOAuthIMAP(t, func(t *testing.T, kind, mech string) {
		e := newOAuthEnv(t, "sales@example.com", false)
		srv := e.startIMAP(t, kind, mech)
		_, err := e.inbox(t, srv.Addr()).Connect(oauthTestCtx(t))
		status := map[string]string{XOAUTH2: "401", sasl.OAuthBearer: "invalid_token"}[mech]
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
			e := newOAuthEnv(t, "sales@example.com", false)
			srv := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: e.validate, OAuthMechanisms: []string{mech}, OAuthNoChallenge: true})
			_, err := e.inbox(t, srv.Addr()).Connect(oauthTestCtx(t))
			check(t, e, err, "")
		})
	}
}

// Dovecot answers NO [UNAVAILABLE] when its introspection endpoint fails:
// a temporary failure of the server, not a refused token.
func TestOAuthDovecotIntrospectionDown(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, oauthMailbox, false)
	srv := e.startIMAP(t, "dovecot", sasl.OAuthBearer)
	ib := e.inbox(t, srv.Addr())
	ctx := oauthTestCtx(t)

	e.fake.FailNext(oauthfake.PathIntrospect, 1, http.StatusServiceUnavailable)
	_, err := ib.Connect(ctx)
	require.Error(t, err)
	t.Logf("error: %v", err)
	assert.NotErrorIs(t, err, ErrAuth)
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "UNAVAILABLE", ce.Code)
	assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls(), "no Renew: the token was never judged")

	_, err = ib.Connect(ctx)
	require.NoError(t, err, "the endpoint is back")
	assert.Equal(t, [3]int{2, 0, 1}, e.tokens.calls())
	e.assertNoSecrets(t, errText(err))
}

// A server that offers no OAuth mechanism is told apart from a refused
// token: no Renew, and the error says what the server offers.
func TestOAuthIMAPNotOffered(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, oauthMailbox, false)
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	_, err := e.inbox(t, srv.Addr()).Connect(oauthTestCtx(t))
	require.ErrorIs(t, err, ErrAuth)
	assert.Contains(t, err.Error(), "offers neither XOAUTH2 nor OAUTHBEARER (it offers PLAIN)")
	assert.Equal(t, [3]int{1, 0, 1}, e.tokens.calls())
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
				e := newOAuthEnv(t, oauthMailbox, lagging)
				srv := e.startIMAP(t, kind, sasl.OAuthBearer)
				ib := e.inbox(t, srv.Addr())
				ctx := oauthTestCtx(t)
				_, err := ib.Connect(ctx)
				require.NoError(t, err)

				res := make(chan error, 1)
				go func() {
					_, err := ib.WaitForMail(ctx, time.Minute)
					res <- err
				}()
				time.Sleep(200 * time.Millisecond) // let IDLE start
				e.clock.Advance(2 * time.Hour)
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
					assert.Equal(t, [3]int{2, 1, 2}, e.tokens.calls(), "the refused token renewed once")
				} else {
					assert.Equal(t, [3]int{2, 0, 2}, e.tokens.calls(), "Token fetched a new one")
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
				srv.Append(t, "INBOX", mailtest.Message("customer@example.net", oauthMailbox, "After", "Body\n"))
				select {
				case w := <-res2:
					require.NoError(t, w.err)
					assert.True(t, w.got, "IDLE works on the new session")
				case <-time.After(25 * time.Second):
					t.Fatal("WaitForMail did not return")
				}
				e.assertNoSecrets(t)
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
			e := newOAuthEnv(t, oauthMailbox, false)
			srv := mailtest.StartDovecotWith(t, mailtest.DovecotOptions{
				OAuthIntrospectionURL: e.fake.IntrospectionURL(mode),
				IntrospectionMode:     mode,
			})
			_, err := e.inbox(t, srv.Addr()).Connect(oauthTestCtx(t))
			require.NoError(t, err)
			reqs := e.fake.RequestsTo(oauthfake.PathIntrospect)
			require.NotEmpty(t, reqs)
			assert.Equal(t, mode, reqs[len(reqs)-1].IntrospectMode)
		})
	}
}
