package daemon

// Hostile traffic on the daemon's public HTTP listener: unsigned and
// oversized bodies, slow and idle connections, floods beyond the
// connection cap, all over real loopback sockets against a whole Daemon.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
	"github.com/ticketsync/ticketsync/internal/webserver"
)

// hostileEnv is a daemon with the ticket watch and Slack over HTTP, its
// log kept for reading.
type hostileEnv struct {
	t   *testing.T
	d   *Daemon
	log *logtest.Buffer
}

// startHostile runs a daemon until the test ends; httpKeys are more keys
// of the http section, two spaces indented.
func startHostile(t *testing.T, httpKeys string, opts Options) *hostileEnv {
	t.Helper()
	_, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	sf := slackfake.New(t)
	yaml := fmt.Sprintf(`taskip:
  base_url: %s
  secret_key: %s
  poll_schedule: "@every 1m"
state:
  path: %s
http:
  listen: "127.0.0.1:0"
%sslack:
  bot_token: %s
  signing_secret: %s
  api_url: %s
  channel: %s
`, base, testKey, filepath.Join(t.TempDir(), "state.db"), httpKeys, slackfake.DefaultToken, signingSecret, sf.URL(), testChannel)
	cfg, err := config.Parse([]byte(yaml), config.LoadOptions{
		Getenv:   func(string) (string, bool) { return "", false },
		ReadFile: func(string) ([]byte, error) { return nil, errors.New("no files in this test") },
	})
	require.NoError(t, err)
	e := &hostileEnv{t: t, log: &logtest.Buffer{}}
	opts.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.d, err = New(cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", e.log.String())
		}
	})
	return e
}

// freeAddr is a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// rawSlack opens a connection to the daemon and sends the head of a POST
// to /slack/path declaring length bytes, with the given Slack headers (""
// leaves one out), and the first bytes of the body.
func (e *hostileEnv) rawSlack(path string, length int, sig, ts, first string) net.Conn {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.d.Addr(), 2*time.Second)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = c.Close() })
	head := "POST /slack/" + path + " HTTP/1.1\r\nHost: bridge.test\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: " + strconv.Itoa(length) + "\r\n"
	if sig != "" {
		head += "X-Slack-Signature: " + sig + "\r\n"
	}
	if ts != "" {
		head += "X-Slack-Request-Timestamp: " + ts + "\r\n"
	}
	_, err = io.WriteString(c, head+"\r\n"+first)
	require.NoError(e.t, err)
	return c
}

// answer reads the answer on c within d and reports whether the server
// closed the connection after it, within d too.
func answer(t *testing.T, c net.Conn, d time.Duration) (*http.Response, bool) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer within %v", d)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	var ne net.Error
	return resp, err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// closedBy waits up to d for the server to close c, reading and dropping
// whatever it sends first.
func closedBy(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// now is Slack's timestamp header for the present.
func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// forged is a well-formed signature that matches nothing.
var forged = "v0=" + strings.Repeat("ab", 32)

// helpForm is a slash command the daemon answers in its acknowledgement.
var helpForm = url.Values{"team_id": {"T1"}, "channel_id": {testChannel}, "user_id": {"U1"}, "user_name": {"ann"},
	"command": {"/ticket"}, "text": {"help"}, "response_url": {"http://127.0.0.1:1/unused"}}.Encode()

// signedCommand posts the help command, signed, on a new connection and
// returns the status and how long the answer took.
func signedCommand(t *testing.T, addr string, secret string) (int, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(helpForm))
	require.NoError(t, err)
	ts := now()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(secret, ts, []byte(helpForm)))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

func getStatus(t *testing.T, addr, path string) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// rejected reads ticketsync_http_rejected_total{reason} from /metrics.
func rejected(t *testing.T, addr, reason string) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^ticketsync_http_rejected_total\{reason="` + reason + `"\} (\d+)$`).FindSubmatch(b)
	require.NotNil(t, m, "no ticketsync_http_rejected_total{reason=%q} in /metrics", reason)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// An unsigned request declaring a 1 MiB body is refused from its headers:
// 401 at once and the connection closed, without the body being sent.
func TestHTTPUnsignedBodyRefusedBeforeRead(t *testing.T) {
	e := startHostile(t, "", Options{})
	for _, tc := range []struct{ name, sig, ts string }{
		{"no signature", "", now()},
		{"no headers", "", ""},
		{"malformed signature", "v0=123", now()},
		{"stale timestamp", forged, strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)},
		{"future timestamp", forged, strconv.FormatInt(time.Now().Add(10*time.Minute).Unix(), 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c := e.rawSlack("commands", 1<<20, tc.sig, tc.ts, "text=sixteen+byte")
			resp, closed := answer(t, c, 2*time.Second)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.True(t, closed, "connection closed")
			assert.Less(t, time.Since(start), time.Second)
		})
	}
	assert.Equal(t, 3, rejected(t, e.d.Addr(), slack.RefusedMissingSignature))
	assert.Equal(t, 2, rejected(t, e.d.Addr(), slack.RefusedStaleTimestamp))
}

// Slow bodies, slow or missing headers and idle kept-alive connections are
// closed by the server within its timeouts.
func TestHTTPSlowAndIdleConnectionsClosed(t *testing.T) {
	timeouts := webserver.Timeouts{ReadHeader: 500 * time.Millisecond, Read: 1500 * time.Millisecond,
		Write: 5 * time.Second, Idle: time.Second}
	e := startHostile(t, "", Options{HTTPTimeouts: timeouts})
	const margin = time.Second
	dial := func(t *testing.T) net.Conn {
		c, err := net.DialTimeout("tcp", e.d.Addr(), 2*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// drip sends s one byte a second (a slowloris), until the connection
	// fails or the test ends.
	drip := func(t *testing.T, c net.Conn, s string) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		t.Cleanup(func() { close(stop); wg.Wait() })
		wg.Go(func() {
			for i := range len(s) {
				if _, err := c.Write([]byte{s[i]}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		})
	}
	t.Run("slow body", func(t *testing.T) {
		start := time.Now()
		c := e.rawSlack("commands", 200, forged, now(), "")
		drip(t, c, strings.Repeat("a", 200))
		assert.True(t, closedBy(c, timeouts.Read+margin), "open after %v", time.Since(start))
		t.Logf("closed after %v", time.Since(start))
	})
	t.Run("silent", func(t *testing.T) {
		start := time.Now()
		assert.True(t, closedBy(dial(t), timeouts.ReadHeader+margin), "open after %v", time.Since(start))
	})
	t.Run("slow header", func(t *testing.T) {
		start := time.Now()
		c := dial(t)
		drip(t, c, "POST /slack/commands HTTP/1.1\r\nHost: x\r\n")
		assert.True(t, closedBy(c, timeouts.ReadHeader+margin), "open after %v", time.Since(start))
	})
	t.Run("idle kept alive", func(t *testing.T) {
		c := dial(t)
		_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "kept alive")
		start := time.Now()
		assert.True(t, closedBy(c, timeouts.Idle+margin), "open after %v", time.Since(start))
	})
	assert.Equal(t, 2, rejected(t, e.d.Addr(), webserver.ReasonHeaderTimeout))
	assert.Equal(t, 1, rejected(t, e.d.Addr(), slack.RefusedBodyTimeout))
}

// Far more idle connections than http.max_connections: the server closes
// the idle ones to make room, holds no more than the cap, and a signed
// slash command on a new connection is answered promptly.
func TestHTTPIdleFloodDoesNotLockOut(t *testing.T) {
	const max, flood, keptAlive = 16, 300, 10
	e := startHostile(t, fmt.Sprintf("  max_connections: %d\n", max), Options{})
	var closed atomic.Int64
	var wg sync.WaitGroup
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
		wg.Wait()
	})
	watch := func(c net.Conn) {
		conns = append(conns, c)
		wg.Go(func() {
			_, _ = io.Copy(io.Discard, c) // returns when either side closes
			closed.Add(1)
		})
	}
	for range keptAlive {
		c, err := net.Dial("tcp", e.d.Addr())
		require.NoError(t, err)
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		watch(c)
	}
	time.Sleep(100 * time.Millisecond)
	for range flood {
		c, err := net.Dial("tcp", e.d.Addr())
		require.NoError(t, err)
		watch(c)
	}
	require.Eventually(t, func() bool { return closed.Load() >= flood+keptAlive-max },
		5*time.Second, 10*time.Millisecond, "the server closed only %d of %d idle connections", closed.Load(), flood+keptAlive)
	for range 10 {
		status, took := signedCommand(t, e.d.Addr(), signingSecret)
		assert.Equal(t, http.StatusOK, status)
		assert.Less(t, took, time.Second)
	}
	assert.Equal(t, http.StatusOK, getStatus(t, e.d.Addr(), "/healthz"))
	assert.GreaterOrEqual(t, rejected(t, e.d.Addr(), webserver.ReasonEvicted), flood+keptAlive-max)
	assert.LessOrEqual(t, e.d.public.Open(), max)
}

// More concurrent unverified bodies than the cap: the excess gets 503 with
// Retry-After at once, without its body being read.
func TestHTTPBusyBeyondUnverifiedCap(t *testing.T) {
	e := startHostile(t, "", Options{})
	body := helpForm
	var holders []net.Conn
	for range slack.DefaultMaxUnverified {
		holders = append(holders, e.rawSlack("commands", len(body), forged, now(), body[:5]))
	}
	time.Sleep(300 * time.Millisecond) // every holder's head is read and its slot taken
	start := time.Now()
	c := e.rawSlack("commands", len(body), forged, now(), body[:5])
	resp, closed := answer(t, c, 2*time.Second)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.True(t, closed)
	assert.Less(t, time.Since(start), time.Second)

	for _, h := range holders {
		_, err := io.WriteString(h, body[5:])
		require.NoError(t, err)
		resp, _ := answer(t, h, 2*time.Second)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "forged signature")
	}
	status, _ := signedCommand(t, e.d.Addr(), signingSecret)
	assert.Equal(t, http.StatusOK, status, "slots free again")
	assert.Equal(t, 1, rejected(t, e.d.Addr(), slack.RefusedBusy))
	assert.Equal(t, slack.DefaultMaxUnverified, rejected(t, e.d.Addr(), slack.RefusedBadSignature))
}

// With http.metrics_listen, health and metrics are served there and not on
// the public listener, which serves Slack alone; without it, everything is
// on the public listener.
func TestHTTPMetricsListen(t *testing.T) {
	check := func(t *testing.T, public, private string) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			assert.Equal(t, http.StatusOK, getStatus(t, private, p), "%s on the metrics listener", p)
			if public != private {
				assert.Equal(t, http.StatusNotFound, getStatus(t, public, p), "%s on the public listener", p)
			}
		}
		status, _ := signedCommand(t, public, signingSecret)
		assert.Equal(t, http.StatusOK, status, "Slack on the public listener")
		if public != private {
			c, err := net.Dial("tcp", private)
			require.NoError(t, err)
			defer c.Close()
			_, err = io.WriteString(c, "POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
			require.NoError(t, err)
			resp, _ := answer(t, c, 2*time.Second)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no Slack on the metrics listener")
		}
	}
	t.Run("configured", func(t *testing.T) {
		addr := freeAddr(t)
		e := startHostile(t, "  metrics_listen: "+addr+"\n", Options{})
		assert.Equal(t, addr, e.d.MetricsAddr())
		check(t, e.d.Addr(), addr)
	})
	t.Run("listener given", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		e := startHostile(t, "", Options{MetricsListener: ln})
		require.Equal(t, ln.Addr().String(), e.d.MetricsAddr())
		check(t, e.d.Addr(), e.d.MetricsAddr())
	})
	t.Run("unset", func(t *testing.T) {
		e := startHostile(t, "", Options{})
		assert.Empty(t, e.d.MetricsAddr())
		check(t, e.d.Addr(), e.d.Addr())
	})
}

// Refusals are counted by reason, and logged at most once a minute per
// reason however many there are.
func TestHTTPRejectionsCountedAndLogBounded(t *testing.T) {
	e := startHostile(t, "", Options{})
	const n = 30
	for range n {
		c := e.rawSlack("commands", 1<<20, "", "", "x")
		answer(t, c, 2*time.Second)
		c = e.rawSlack("events", 1<<20, forged, "1700000000", "x")
		answer(t, c, 2*time.Second)
		c = e.rawSlack("commands", 2<<20, forged, now(), "x")
		answer(t, c, 2*time.Second)
		status, _ := signedCommand(t, e.d.Addr(), "not-the-secret")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, http.StatusNotFound, getStatus(t, e.d.Addr(), "/wp-login.php"))
	}
	for reason, want := range map[string]int{
		slack.RefusedMissingSignature: n, slack.RefusedStaleTimestamp: n, slack.RefusedTooLarge: n,
		slack.RefusedBadSignature: n, slack.RefusedNotFound: n, slack.RefusedBusy: 0,
	} {
		assert.Equal(t, want, rejected(t, e.d.Addr(), reason), reason)
	}
	var lines []string
	for l := range strings.SplitSeq(e.log.String(), "\n") {
		if strings.Contains(l, "refused") {
			lines = append(lines, l)
		}
	}
	assert.Len(t, lines, 5, "one line per reason:\n%s", strings.Join(lines, "\n"))
	assert.NotContains(t, e.log.String(), signingSecret)
}
