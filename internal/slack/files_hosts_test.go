package slack

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// authRecorder is a server the bot token must never reach; it notes every
// request it gets and the Authorization it carried.
type authRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (a *authRecorder) handler(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Host+r.URL.Path+" "+r.Header.Get("Authorization"))
	a.mu.Unlock()
	_, _ = io.WriteString(w, "stolen")
}

func (a *authRecorder) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// dialRecorder notes every connection the transport opens. Loopback
// addresses are dialled for real; anything else fails at once, so that no
// test ever resolves or reaches a name outside this machine.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
	to    string // when set, every dial goes here instead
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	to := d.to
	d.mu.Unlock()
	if to != "" {
		addr = to
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: %s is not loopback", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialRecorder) dials() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func filePoster(t *testing.T, apiURL string, tr *http.Transport, mod ...func(*PosterConfig)) *Poster {
	t.Helper()
	cfg := PosterConfig{Token: slackfake.DefaultToken, APIURL: apiURL, HTTPClient: &http.Client{Transport: tr}}
	for _, m := range mod {
		m(&cfg)
	}
	p, err := NewPoster(cfg)
	require.NoError(t, err)
	return p
}

// assertNoSecret checks a refusal error carries neither the token nor user
// info from the URL it refused.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	assert.NotContains(t, err.Error(), slackfake.DefaultToken)
	assert.NotContains(t, err.Error(), "xoxb")
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), "mallory")
}

func TestOpenFileRefusesHostsOtherThanSlacks(t *testing.T) {
	fake := slackfake.New(t)
	var thief authRecorder
	other := httptest.NewServer(http.HandlerFunc(thief.handler))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")

	var dr dialRecorder
	p := filePoster(t, fake.URL(), &http.Transport{DialContext: dr.dial})

	for _, tt := range []struct{ url, host string }{
		{"https://evil.example/files-pri/T1-F1/download/a.txt", "evil.example"},
		{"http://files.slack.com/files-pri/T1-F1/download/a.txt", "files.slack.com"},
		{"https://files.slack.com:8443/files-pri/T1-F1/download/a.txt", "files.slack.com:8443"},
		{"https://files.slack.com.evil.example/files-pri/a.txt", "files.slack.com.evil.example"},
		{"https://evil.files.slack.com/files-pri/a.txt", "evil.files.slack.com"},
		{"https://slack.com/files-pri/a.txt", "slack.com"}, // not the configured API host here
		{other.URL + "/files-pri/F0001/a.txt", otherHost},
		{"http://mallory:hunter2@" + otherHost + "/files-pri/F0001/a.txt", otherHost},
	} {
		t.Run(tt.url, func(t *testing.T) {
			body, err := p.OpenFile(context.Background(), tt.url)
			if body != nil {
				_ = body.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrFileHostRefused)
			assert.ErrorIs(t, err, ErrPermanent, "the same URL would be refused again")
			assert.Contains(t, err.Error(), tt.host)
			assertNoSecret(t, err)
		})
	}
	assert.Empty(t, dr.dials(), "a refused URL is refused before any connection")
	assert.Empty(t, thief.requests())

	_, err := p.OpenFile(context.Background(), "ftp://files.slack.com/a.txt")
	assert.ErrorIs(t, err, ErrPermanent)
}

func TestOpenFileFromTheConfiguredAPIHost(t *testing.T) {
	fake := slackfake.New(t)
	var dr dialRecorder
	p := filePoster(t, fake.URL(), &http.Transport{DialContext: dr.dial})
	body, err := p.OpenFile(context.Background(), fake.AddFile("a.txt", []byte("content")))
	require.NoError(t, err)
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	require.NoError(t, body.Close())
	assert.Equal(t, "content", string(got))
	assert.Len(t, dr.dials(), 1)
}

// fakeFileHost is a TLS server standing in for files.slack.com: the
// transport dials it for any name and verifies its certificate for
// example.com, the name httptest certificates carry.
func fakeFileHost(t *testing.T, h http.Handler) (*httptest.Server, *http.Transport, *dialRecorder) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	dr := &dialRecorder{to: srv.Listener.Addr().String()}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = dr.dial
	tr.TLSClientConfig.RootCAs = roots
	tr.TLSClientConfig.ServerName = "example.com"
	return srv, tr, dr
}

func TestOpenFileFromFilesSlackCom(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	_, tr, _ := fakeFileHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/files-pri/T1-F1/old/a.txt" {
			http.Redirect(w, r, "/files-pri/T1-F1/download/a.txt", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "from slack")
	}))
	p := filePoster(t, "", tr)

	for _, u := range []string{
		"https://files.slack.com/files-pri/T1-F1/download/a.txt",
		"https://FILES.slack.com:443/files-pri/T1-F1/download/a.txt",
		"https://files.slack.com/files-pri/T1-F1/old/a.txt", // redirect within the host is followed
	} {
		body, err := p.OpenFile(context.Background(), u)
		require.NoError(t, err, u)
		got, _ := io.ReadAll(body)
		_ = body.Close()
		assert.Equal(t, "from slack", string(got))
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 4)
	for _, s := range seen {
		assert.True(t, strings.HasSuffix(s, " Bearer "+slackfake.DefaultToken), s)
		assert.True(t, strings.HasPrefix(strings.ToLower(s), "files.slack.com"), s)
	}
}

func TestOpenFileRefusesRedirectsAwayFromSlack(t *testing.T) {
	var thief authRecorder
	other := httptest.NewServer(http.HandlerFunc(thief.handler))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")

	t.Run("from the configured API host", func(t *testing.T) {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://mallory:hunter2@"+otherHost+"/collect?x=1", http.StatusFound)
		}))
		defer api.Close()
		p := filePoster(t, api.URL+"/api/", &http.Transport{})
		_, err := p.OpenFile(context.Background(), api.URL+"/files-pri/F1/a.txt")
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFileHostRefused)
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "http://"+otherHost)
		assertNoSecret(t, err)
	})
	t.Run("from files.slack.com, to plain http", func(t *testing.T) {
		_, tr, dr := fakeFileHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://files.slack.com/files-pri/a.txt", http.StatusMovedPermanently)
		}))
		p := filePoster(t, "", tr)
		_, err := p.OpenFile(context.Background(), "https://files.slack.com/files-pri/T1-F1/download/a.txt")
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFileHostRefused)
		assert.Contains(t, err.Error(), "http://files.slack.com")
		assertNoSecret(t, err)
		assert.Equal(t, []string{"files.slack.com:443"}, dr.dials(), "nothing is sent in clear")
	})
	assert.Empty(t, thief.requests(), "the token went to another host")
}

func TestOpenFileIsBounded(t *testing.T) {
	fake := slackfake.New(t)
	const limit = 100
	p := filePoster(t, fake.URL(), &http.Transport{}, func(c *PosterConfig) { c.MaxFileBytes = limit })

	t.Run("announced", func(t *testing.T) {
		_, err := p.OpenFile(context.Background(), fake.AddFile("big.bin", make([]byte, limit+1)))
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFileTooLarge)
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "100 bytes")
		assertNoSecret(t, err)
	})
	t.Run("exactly the limit", func(t *testing.T) {
		body, err := p.OpenFile(context.Background(), fake.AddFile("ok.bin", make([]byte, limit)))
		require.NoError(t, err)
		got, err := io.ReadAll(body)
		require.NoError(t, err)
		assert.Len(t, got, limit)
		require.NoError(t, body.Close())
	})
	t.Run("streamed", func(t *testing.T) {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range 10 { // no Content-Length: the size shows only while reading
				_, _ = w.Write(make([]byte, 64))
				w.(http.Flusher).Flush()
			}
		}))
		defer api.Close()
		p := filePoster(t, api.URL+"/api/", &http.Transport{}, func(c *PosterConfig) { c.MaxFileBytes = limit })
		body, err := p.OpenFile(context.Background(), api.URL+"/files-pri/F1/a.bin")
		require.NoError(t, err)
		got, err := io.ReadAll(body)
		_ = body.Close()
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFileTooLarge)
		assert.LessOrEqual(t, len(got), limit)
	})
	t.Run("default", func(t *testing.T) {
		p := filePoster(t, fake.URL(), &http.Transport{})
		assert.Equal(t, int64(100<<20), p.maxFileBytes)
	})
}

// The refusals above are decided on the URL alone; this keeps the parsed
// form honest about user info never being part of the host.
func TestFileOriginHasNoUserInfo(t *testing.T) {
	u, err := url.Parse("https://mallory:hunter2@files.slack.com/x")
	require.NoError(t, err)
	assert.Equal(t, "https://files.slack.com", fileOrigin(u))
}
