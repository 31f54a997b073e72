package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
)

func startWorld(t *testing.T) *World {
	t.Helper()
	w, err := Start(t.Context(), Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", w.DaemonLog())
		}
		assert.NoError(t, w.Close(), "the daemon stops cleanly")
	})
	return w
}

func TestStoryIsVerifiedStepByStep(t *testing.T) {
	w := startWorld(t)
	var out bytes.Buffer
	res, err := w.Play(t.Context(), &out, 0)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	assert.Equal(t, Result{Steps: 10, Verified: 10, Ticket: 46, Took: res.Took}, res)
	for n := 1; n <= 10; n++ {
		assert.Contains(t, out.String(), fmt.Sprintf("  ✓ %2d. ", n))
	}
	assert.NotContains(t, out.String(), "✗")

	// What the story did, as Prometheus sees it. The fakes record a
	// request on arrival and the daemon counts it once answered, so the
	// last ones are waited for. How many updates the parent gets depends
	// on how changes fall into polls.
	waitMetric(t, w, `ticketsync_slack_posts_total{method="chat.postMessage",outcome="ok"}`, 6)
	waitMetric(t, w, `ticketsync_slack_posts_total{method="chat.update",outcome="ok"}`, 1)
	m := scrape(t, w)
	for series, want := range map[string]float64{
		`ticketsync_emails_fetched_total`:                             1 + 1,
		`ticketsync_emails_processed_total{action="create"}`:          1,
		`ticketsync_emails_processed_total{action="reply"}`:           1,
		`ticketsync_outbox_sent_total{kind="acknowledgement"}`:        1,
		`ticketsync_outbox_sent_total{kind="reply"}`:                  1,
		`ticketsync_smtp_send_duration_seconds_count{outcome="sent"}`: 2,
		`ticketsync_outbox_depth`:                                     0,
		`ticketsync_imap_connected`:                                   1,
	} {
		assert.Equal(t, want, m[series], series)
	}
	for series, atLeast := range map[string]float64{
		`ticketsync_slack_request_duration_seconds_count{method="users.info",outcome="ok"}`:                                         1,
		`ticketsync_taskip_request_duration_seconds_count{method="POST",route="/support-ticket",status="201"}`:                      1,
		`ticketsync_taskip_request_duration_seconds_count{method="POST",route="/ticket/{id}/add-reply",status="201"}`:               1,
		`ticketsync_taskip_request_duration_seconds_count{method="POST",route="/support-ticket/{uuid}/note-store",status="201"}`:    1,
		`ticketsync_taskip_request_duration_seconds_count{method="POST",route="/support-ticket/reply/{uuid}",status="201"}`:         1,
		`ticketsync_taskip_request_duration_seconds_count{method="POST",route="/support-ticket/status-update/{uuid}",status="200"}`: 1,
		`ticketsync_taskip_request_duration_seconds_count{method="GET",route="/support-ticket",status="200"}`:                       2,
		`ticketsync_imap_last_poll_timestamp_seconds`:                                                                               float64(time.Now().Add(-time.Minute).Unix()),
	} {
		assert.GreaterOrEqual(t, m[series], atLeast, series)
	}
}

// The counters the story leaves at zero are for mail that is noise, seen
// twice or refused, and for SMTP trouble: each is made to happen here.
func TestNoiseAndFailureCountersMove(t *testing.T) {
	w := startWorld(t)
	first := CustomerMail{MessageID: NewMessageID(), Subject: "Cannot log in", Body: "The login page says my password is wrong."}
	require.NoError(t, w.SendMail(first))
	waitMetric(t, w, `ticketsync_outbox_sent_total{kind="acknowledgement"}`, 1)

	// The same message delivered again; an out-of-office; a second new
	// conversation within the hour, which gets no second acknowledgement.
	require.NoError(t, w.SendMail(first))
	require.NoError(t, w.SendMail(CustomerMail{MessageID: NewMessageID(), Subject: "Out of office", Body: "Back on Monday.",
		Headers: []string{"Auto-Submitted: auto-replied"}}))
	require.NoError(t, w.SendMail(CustomerMail{MessageID: NewMessageID(), Subject: "Also: export is slow", Body: "CSV export takes minutes."}))
	waitMetric(t, w, `ticketsync_emails_duplicate_total`, 1)
	waitMetric(t, w, `ticketsync_outbox_acknowledgements_suppressed_total`, 1)
	m := scrape(t, w)
	skipped := 0.0
	for series, v := range m {
		if strings.HasPrefix(series, "ticketsync_emails_skipped_total{") {
			skipped += v
		}
	}
	assert.Equal(t, 1.0, skipped, "the out-of-office is skipped")

	// TaskIP refuses a ticket for good: the mail is set aside.
	w.TaskIP.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusUnprocessableEntity)
	require.NoError(t, w.SendMail(CustomerMail{MessageID: NewMessageID(), Subject: "Refused", Body: "TaskIP will not take this one."}))
	waitMetric(t, w, `ticketsync_emails_quarantined_total`, 1)

	// SMTP answers "try later", then "no such user", to agents' replies.
	ticket := 0
	for _, tk := range w.TaskIP.Tickets() {
		if tk.Subject == first.Subject {
			ticket = tk.ID
		}
	}
	require.NotZero(t, ticket)
	w.SMTP.FailNext(1, 451, "4.3.0", "try again later")
	_, err := w.SlashCommand(AgentSlackID, fmt.Sprintf("reply %d We are looking into it.", ticket), "reply-1")
	require.NoError(t, err)
	waitMetric(t, w, `ticketsync_outbox_retries_total`, 1)
	w.SMTP.FailNext(1, 550, "5.1.1", "no such user")
	_, err = w.SlashCommand(AgentSlackID, fmt.Sprintf("reply %d Please reset your password.", ticket), "reply-2")
	require.NoError(t, err)
	waitMetric(t, w, `ticketsync_outbox_failed_total{kind="reply",status="failed"}`, 1)
}

func TestFailedStepIsReported(t *testing.T) {
	w := startWorld(t)
	// Every attempt to create the ticket fails, so step 1 never holds.
	w.TaskIP.FailNextOn(http.MethodPost, "/support-ticket", 1000, http.StatusServiceUnavailable)
	var out bytes.Buffer
	res, err := w.Play(t.Context(), &out, 500*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "step 1")
	assert.Equal(t, 0, res.Verified)
	assert.Contains(t, out.String(), "  ✗  1. a customer email becomes a ticket in TaskIP")
	assert.Contains(t, out.String(), "no new ticket in TaskIP")
}

func TestRunKeepsRunningUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Out: out, KeepRunning: true}) }()
	// Even when the test fails early, Run must get to remove its directory.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "What the fakes record") }, 15*time.Second, 10*time.Millisecond, out.String())

	// A person's mail client sends through the sink: a ticket opens.
	text := out.String()
	smtpAddr := fieldAfter(text, "  SMTP    ")
	require.NotEmpty(t, smtpAddr, text)
	require.NoError(t, sendSMTP(smtpAddr, CustomerMail{MessageID: NewMessageID(), Subject: "Sent from a mail client", Body: "Hello."}))
	require.Eventually(t, func() bool {
		return strings.Contains(out.String(), "chat.postMessage in channel C0SUPPORT: Ticket #47: Sent from a mail client")
	}, 10*time.Second, 10*time.Millisecond, "the new thread shows in the feed")
	assert.Contains(t, out.String(), "taskip  POST /api/public-v1/support-ticket → 201")

	cancel()
	select {
	case err := <-done:
		done <- err // for the cleanup
		require.NoError(t, err, out.String())
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, want := range []string{"All 10 steps verified", "IMAP    127.0.0.1:", "TaskIP  http://127.0.0.1:", "X-Secret-Key: " + TaskIPKey,
		"/slack/events", "/slack/commands", "signing secret " + SigningSecret, "Stopping.", "state file removed"} {
		assert.Contains(t, out.String(), want)
	}
}

// fieldAfter returns the first word after prefix at the start of a line.
func fieldAfter(text, prefix string) string {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}

// scrape reads the daemon's /metrics into series -> value, histograms as
// their _count and _sum.
func scrape(t *testing.T, w *World) map[string]float64 {
	t.Helper()
	resp, err := http.Get(w.DaemonURL() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "ticketsync_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

func waitMetric(t *testing.T, w *World, series string, atLeast float64) {
	t.Helper()
	var got float64
	ok := pollUntil(t.Context(), 10*time.Second, func() bool {
		got = scrape(t, w)[series]
		return got >= atLeast
	})
	require.True(t, ok, "%s is %v, want at least %v", series, got, atLeast)
}

// sendSMTP sends m through the sink as a mail client would.
func sendSMTP(addr string, m CustomerMail) error {
	return smtp.SendMail(addr, nil, CustomerEmail, []string{SupportAddress}, m.Bytes())
}
