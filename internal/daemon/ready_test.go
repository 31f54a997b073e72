package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// daemonEnv is a whole Daemon built from a parsed configuration, talking to
// taskipfake and slackfake over loopback HTTP.
type daemonEnv struct {
	t      *testing.T
	taskip *taskipfake.Server
	slack  *slackfake.Server
	daemon *Daemon
}

// startDaemon runs a daemon with the watch and Slack configured and no mail.
// The poll runs every second so the readiness rule (three intervals) plays
// out in seconds; the open example tickets are backfilled so the watch
// talks to Slack too.
func startDaemon(t *testing.T) *daemonEnv {
	t.Helper()
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	sf := slackfake.New(t)
	sections := fmt.Sprintf(`slack:
  bot_token: %s
  signing_secret: test-signing-secret
  api_url: %s
  channel: %s
`, slackfake.DefaultToken, sf.URL(), testChannel)
	d := runDaemon(t, base, sections, Options{Backfill: "open"})
	return &daemonEnv{t: t, taskip: tf, slack: sf, daemon: d}
}

// mailSection configures a daemon's mail for the support address on the
// IMAP and SMTP servers given (IDLE on); keys are more mail keys, two
// spaces indented.
func mailSection(imap mailServer, smtp *mailtest.SMTPServer, keys string) string {
	return fmt.Sprintf(`mail:
  address: %s
  imap:
    addr: %s
    tls: none
    username: %s
    password: %s
    idle: true
  smtp:
    addr: %s
    tls: none
    from: "Acme Support <%s>"
`, supportAddr, imap.Addr(), imap.Username(), imap.Password(), smtp.Addr(), supportAddr) + keys
}

// runDaemon runs a daemon until the test ends, and checks it stops
// cleanly. Its configuration (no environment, no files) is TaskIP at base
// polled every second, a fresh state file, any free port, and the YAML
// sections given.
func runDaemon(t *testing.T, base, sections string, opts Options) *Daemon {
	t.Helper()
	d, stop := startDaemonAt(t, base, filepath.Join(t.TempDir(), "state.db"), sections, opts)
	t.Cleanup(stop)
	return d
}

// startDaemonAt starts a daemon like runDaemon on the state file given;
// stop ends it (checking it stops cleanly), as a restart would.
func startDaemonAt(t *testing.T, base, statePath, sections string, opts Options) (*Daemon, func()) {
	t.Helper()
	return startDaemonWithState(t, base, statePath, "", sections, opts)
}

// startDaemonWithState is startDaemonAt with more keys of the state
// section (two spaces indented).
func startDaemonWithState(t *testing.T, base, statePath, stateKeys, sections string, opts Options) (*Daemon, func()) {
	t.Helper()
	yaml := fmt.Sprintf(`taskip:
  base_url: %s
  secret_key: %s
  poll_schedule: "@every 1s"
state:
  path: %s
%shttp:
  listen: "127.0.0.1:0"
`, base, testKey, statePath, stateKeys) + sections
	cfg, err := config.Parse([]byte(yaml), config.LoadOptions{
		Getenv:   func(string) (string, bool) { return "", false },
		ReadFile: os.ReadFile, // secret files the test wrote itself
	})
	require.NoError(t, err)
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	d, err := New(cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	return d, func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("daemon did not stop")
			}
		})
	}
}

// get returns the status and body of a GET to the daemon's listener.
func (e *daemonEnv) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.daemon.Addr() + path)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(body)
}

// metricRe matches one sample of the text exposition with a non-zero value.
// client_golang writes labels sorted by name.
func metricRe(name, labels string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + name + `\{` + labels + `\} [1-9]`)
}

// listedOK says a poll got through to TaskIP: a ticket listing answered 200.
var listedOK = metricRe("ticketsync_taskip_request_duration_seconds_count", `method="GET",route="[^"]*support-ticket[^"]*",status="200"`)

func TestReadyzFollowsTaskIPPolls(t *testing.T) {
	e := startDaemon(t)
	const wait, tick = 60 * time.Second, 100 * time.Millisecond

	// A daemon that has just started is ready for three intervals anyway,
	// so wait for a poll that went through before breaking TaskIP.
	require.Eventually(t, func() bool {
		code, _ := e.get("/readyz")
		_, metrics := e.get("/metrics")
		return code == http.StatusOK && listedOK.MatchString(metrics)
	}, wait, tick, "ready after a successful poll")

	e.taskip.FailNext(1<<30, http.StatusInternalServerError)
	var body string
	require.Eventually(t, func() bool {
		var code int
		code, body = e.get("/readyz")
		return code == http.StatusServiceUnavailable
	}, wait, tick, "unready while every TaskIP request fails")
	assert.Contains(t, body, "taskip")

	e.taskip.ResetFaults()
	require.Eventually(t, func() bool {
		code, _ := e.get("/readyz")
		return code == http.StatusOK
	}, wait, tick, "ready again once a poll succeeds")
}

func TestMetricsExposeAPILatencies(t *testing.T) {
	e := startDaemon(t)
	want := map[string]*regexp.Regexp{
		"taskip listing": listedOK,
		"slack post": metricRe("ticketsync_slack_request_duration_seconds_count",
			`method="chat.postMessage",outcome="ok"`),
		"slack posts counter": metricRe("ticketsync_slack_posts_total",
			`method="chat.postMessage",outcome="ok"`),
	}
	var metrics string
	ok := assert.Eventually(t, func() bool {
		_, metrics = e.get("/metrics")
		for _, re := range want {
			if !re.MatchString(metrics) {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond)
	if !ok {
		for name, re := range want {
			assert.Regexp(t, re, metrics, name)
		}
	}
	assert.NotEmpty(t, e.slack.Messages(testChannel), "the backfill posted to Slack")
}
