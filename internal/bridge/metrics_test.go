package bridge

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Each intake counter moves with the flow it counts.
func TestIntakeCountersMove(t *testing.T) {
	e := newIntakeEnv(t, nil, func(_ *IntakeConfig, c *imap.Config) { c.FailedMailbox = "Failed" })
	m := e.intake.metrics
	tk := createFirst(t, e)
	e.deliver(mailMsg("reply@acme.com", "john@acme.com", "Re: Login broken", "Still broken.", "In-Reply-To: <first@acme.com>"))
	e.deliver(mailMsg("cc@acme.com", "boss@acme.com", "Re: Login broken", "Any news?", "In-Reply-To: <first@acme.com>"))
	e.deliver(mailMsg("away@acme.com", "jane@acme.com", "Out of office", "Away.", "Auto-Submitted: auto-replied"))
	e.deliver(mailMsg("first@acme.com", "John Smith <john@acme.com>", "Login broken", "I cannot log in.")) // again
	e.deliver([]byte("this is not a mail at all, no header separator and no colon"))
	e.cycle()
	require.Len(t, e.fake.Replies(tk.ID), 1)

	assert.Equal(t, 5.0, metricValue(t, m.fetched), "all but the duplicate, recognised by its header")
	assert.Equal(t, 1.0, metricValue(t, m.actions.WithLabelValues("create")))
	assert.Equal(t, 1.0, metricValue(t, m.actions.WithLabelValues("reply")))
	assert.Equal(t, 1.0, metricValue(t, m.actions.WithLabelValues("note")))
	assert.Equal(t, 1.0, metricValue(t, m.skipped.WithLabelValues("auto_submitted")))
	assert.Equal(t, 1.0, metricValue(t, m.duplicates))
	assert.Equal(t, 1.0, metricValue(t, m.quarantined))
	assert.InDelta(t, float64(time.Now().Unix()), metricValue(t, m.lastPoll), 60)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.intake.Run(ctx) }()
	require.Eventually(t, func() bool { return metricValue(t, m.connected) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
}

// Each commands and watch counter moves with the flow it counts.
func TestSlackCountersMove(t *testing.T) {
	cm := NewCommandsMetrics(nil)
	wm := NewWatchMetrics(nil)
	e, tk := newCommandsEnv(t, func(c *WatchConfig) { c.Metrics = wm })
	e.cmds.cfg.Metrics = cm
	assert.Equal(t, 1.0, metricValue(t, wm.parents), "the ticket's thread")

	e.command("USARAH", "status 99999 open")
	e.command("USTRANGER", "status 99999 open")
	e.waitResponse(2)
	ts := e.threadTS(tk.ID)
	e.message("Ev1", "USARAH", "checked the logs", ts)
	e.message("Ev2", "USARAH", "reply: fixed", ts)
	e.message("Ev2", "USARAH", "reply: fixed", ts, "X-Slack-Retry-Num", "1")
	// The repeated event may be taken up by another worker after the
	// original is done: wait for all three.
	require.Eventually(t, func() bool {
		return metricValue(t, cm.thread.WithLabelValues("reply", "ok")) == 1 && metricValue(t, cm.thread.WithLabelValues("note", "ok")) == 1 &&
			metricValue(t, cm.retries) == 1
	}, 5*time.Second, 5*time.Millisecond)
	// Refusals are the request's fault (no such ticket, not an agent), not
	// a failure of ticketsync or TaskIP.
	assert.Equal(t, 0.0, metricValue(t, cm.commands.WithLabelValues("status", "failed")))
	assert.Equal(t, 2.0, metricValue(t, cm.commands.WithLabelValues("status", "refused")), "no such ticket, and not an agent")

	e.watch.TicketChanged(taskip.ID(tk.ID))
	require.Eventually(t, func() bool { return metricValue(t, wm.changes.WithLabelValues("reply")) >= 1 }, 5*time.Second, 5*time.Millisecond)
}

// A request that cannot be done as asked is refused in one sentence; a
// failure of TaskIP is counted as such and also answered in one sentence,
// never with the error chain.
func TestSlackRefusalsAreCleanSentences(t *testing.T) {
	cm := NewCommandsMetrics(nil)
	e, _ := newCommandsEnv(t)
	e.cmds.cfg.Metrics = cm

	e.command("UGHOST", "status 46 pending") // Slack has no such user
	got := e.waitResponse(1)
	assert.Contains(t, got[0], "Slack does not tell ticketsync who you are")
	assert.Equal(t, 1.0, metricValue(t, cm.commands.WithLabelValues("status", "refused")))

	e.command("USARAH", "status 99999 open")
	got = e.waitResponse(2)
	assert.Contains(t, got[1], "No such ticket (or note) in TaskIP.")
	assert.Equal(t, 2.0, metricValue(t, cm.commands.WithLabelValues("status", "refused")))

	e.fake.FailNext(20, http.StatusServiceUnavailable)
	e.command("USARAH", "status 46 pending")
	got = e.waitResponse(3)
	assert.Equal(t, 1.0, metricValue(t, cm.commands.WithLabelValues("status", "failed")))
	for _, text := range got {
		assert.NotContains(t, text, "taskip:", "no error chain reaches Slack: %q", text)
		assert.NotContains(t, text, "slack:", "no error chain reaches Slack: %q", text)
		assert.Equal(t, 1, strings.Count(strings.TrimSuffix(text, "."), ". ")+1, "one sentence: %q", text)
	}
}
