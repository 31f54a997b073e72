package oauthfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

const (
	appID      = "11111111-2222-3333-4444-555555555555"
	appSecret  = "s3cret~value.with+odd/chars="
	mailbox    = "support@example.com"
	imapScope  = "https://outlook.office365.com/.default"
	gmailScope = "https://mail.google.com/"
)

// clock is a settable clock shared by the fake and a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start is New with the test clock and one confidential client.
func start(t *testing.T, opts Options) (*Server, *clock) {
	t.Helper()
	clk := newClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	s := New(t, opts)
	s.AddClient(Client{ID: appID, Secret: appSecret, Mailboxes: []string{mailbox}})
	s.AddUser(mailbox)
	return s, clk
}

// ctx carries a client whose requests the test can bound.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return context.WithValue(c, oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})
}

// retrieveErr unwraps the error x/oauth2 returns for a token endpoint
// error answer.
func retrieveErr(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	require.Error(t, err)
	var re *oauth2.RetrieveError
	require.True(t, errors.As(err, &re), "not a RetrieveError: %v", err)
	return re
}

// errorBody decodes an error body, for the jwt package, which does not
// parse it into RetrieveError.ErrorCode.
func errorBody(t *testing.T, re *oauth2.RetrieveError) (code, desc string) {
	t.Helper()
	var b struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	require.NoError(t, json.Unmarshal(re.Body, &b), "body %s", re.Body)
	return b.Error, b.Desc
}

// postForm is a deliberately plain form POST.
func postForm(t *testing.T, u string, form url.Values, mutate func(*http.Request)) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if mutate != nil {
		mutate(req)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &body), "body %s", raw)
	}
	return resp.StatusCode, resp.Header, body
}

// lastTo is the last logged request to path.
func lastTo(t *testing.T, s *Server, path string) Request {
	t.Helper()
	reqs := s.RequestsTo(path)
	require.NotEmpty(t, reqs, "no request to %s", path)
	return reqs[len(reqs)-1]
}
