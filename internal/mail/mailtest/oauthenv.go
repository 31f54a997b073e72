package mailtest

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

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// OAuthMailbox is the mailbox an OAuthEnv's tokens are meant for, the
// username the IMAP and SMTP clients sign in as.
const OAuthMailbox = "support@example.com"

const (
	oauthClientID = "11111111-2222-3333-4444-555555555555"
	oauthSecret   = "client-Secret~4711"
	oauthScope    = "https://outlook.office.com/IMAP.AccessAsUser.All"
)

// OAuthEnv is one sign-in test's identity provider (an oauthfake server
// on a clock of its own), a token source that redeems a refresh token
// there, and the log the client under test writes. The IMAP and SMTP
// sign-in tests share it, as the clients share the TokenSource contract.
type OAuthEnv struct {
	Clock    *Clock
	Provider *oauthfake.Server
	Tokens   *Tokens
	Logs     *logtest.Buffer
	Logger   *slog.Logger // writes Logs, at debug level
}

// NewOAuthEnv grants the client a refresh token for subject: the mailbox
// its tokens open. Anything but OAuthMailbox makes every server refuse
// them while the provider keeps issuing, as when the grant does not cover
// the mailbox signed in to. lagging makes Tokens keep handing out its
// cached token past expiry (see Tokens).
func NewOAuthEnv(t testing.TB, subject string, lagging bool) *OAuthEnv {
	t.Helper()
	clock := NewClock(time.Now().Truncate(time.Second))
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft, Now: clock.Now})
	fake.AddClient(oauthfake.Client{ID: oauthClientID, Secret: oauthSecret})
	fake.AddUser(subject)
	rt, err := fake.IssueRefreshToken(oauthClientID, subject, oauthScope, "offline_access")
	if err != nil {
		t.Fatalf("issue refresh token: %v", err)
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	logs := &logtest.Buffer{}
	return &OAuthEnv{
		Clock:    clock,
		Provider: fake,
		Tokens:   &Tokens{fake: fake, http: &http.Client{Transport: transport, Timeout: 10 * time.Second}, refresh: rt, lagging: lagging},
		Logs:     logs,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// Validate is the OAuth check for MemOptions.OAuth and SMTPOptions.OAuth:
// the provider's word on whether token opens mailbox.
func (e *OAuthEnv) Validate(mailbox, token string) error {
	return e.Provider.ValidateFor(token, mailbox)
}

// AssertNoSecrets fails t when a token, the refresh token or the client
// secret got into the log or into texts (error messages).
func (e *OAuthEnv) AssertNoSecrets(t testing.TB, texts ...string) {
	t.Helper()
	texts = append(texts, e.Logs.String())
	for _, secret := range e.Tokens.secrets() {
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("a secret leaked into %q", text)
			}
		}
	}
}

// Clock is the provider's clock; advancing it expires tokens.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ProviderError is the identity provider's refusal as its token endpoint
// answered it: the type a caller must reach with errors.As through what
// the IMAP and SMTP clients return.
type ProviderError struct {
	Status      int
	Code        string
	Description string
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// Tokens is a TokenSource as internal/oauth is one: it redeems a refresh
// token at the provider's token endpoint over HTTP and caches the access
// token until it expires on the provider's clock. A lagging one keeps
// handing out the cached token past its expiry, as a source whose clock
// is behind the server's would: then only the server's refusal brings a
// new one.
type Tokens struct {
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

func (s *Tokens) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenCalls++
	if s.current != "" && (s.lagging || s.fake.Now().Before(s.expires)) {
		return s.current, nil
	}
	return s.fetch(ctx)
}

func (s *Tokens) Renew(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewCalls++
	s.current = ""
	return s.fetch(ctx)
}

func (s *Tokens) fetch(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {oauthfake.GrantRefreshToken}, "refresh_token": {s.refresh},
		"client_id": {oauthClientID}, "client_secret": {oauthSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.fake.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
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
		return "", &ProviderError{Status: resp.StatusCode, Code: body.Error, Description: body.Description}
	}
	s.fetches++
	s.current = body.AccessToken
	s.expires = s.fake.Now().Add(time.Duration(body.ExpiresIn) * time.Second)
	s.issued = append(s.issued, body.AccessToken)
	return body.AccessToken, nil
}

// Calls is (Token, Renew, tokens fetched from the provider).
func (s *Tokens) Calls() [3]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return [3]int{s.tokenCalls, s.renewCalls, s.fetches}
}

func (s *Tokens) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{s.refresh, oauthSecret}, s.issued...)
}
