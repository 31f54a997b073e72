package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// parentUUIDs maps the ticket each top-level message names (its metadata)
// to how many parents name it.
func parentUUIDs(t *testing.T, msgs []slackfake.Call) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range msgs {
		var md struct {
			Payload struct {
				UUID string `json:"uuid"`
			} `json:"event_payload"`
		}
		require.NoError(t, json.Unmarshal(m.Metadata, &md), "parent %s", m.TS)
		out[md.Payload.UUID]++
	}
	return out
}

// TestSlackPacingUnderSlacksLimit runs the daemon against slackfake's
// limiter, one a second per channel after a burst, the way Slack limits
// chat.postMessage: a generous limit (a burst of 50) and a strict one (a
// burst of 1). New tickets appear in TaskIP at once; the daemon is stopped
// while its posts wait on 429s and started again on the same state file.
// Every ticket gets exactly one parent, changes made afterwards land in
// order in their threads after the parent, and the 429s are no more than
// the waits the limit makes necessary.
//
// The daemon's Poster waits real seconds (Slack's Retry-After is whole
// seconds), so the strict limit runs 8 tickets here and the full 60 with
// TICKETSYNC_BENCH=1 (about a minute); the Poster's own tests run 60 at both
// limits on a fast clock.
func TestSlackPacingUnderSlacksLimit(t *testing.T) {
	strictTickets := 8
	if os.Getenv("TICKETSYNC_BENCH") == "1" {
		strictTickets = 60
	}
	for _, mode := range []struct {
		name           string
		burst, tickets int
		stopAt         int // parents posted when the daemon is stopped
	}{
		{"generous", 50, 60, 53},
		{"strict", 1, strictTickets, strictTickets / 2},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testSlackPacingRestart(t, mode.burst, mode.tickets, mode.stopAt)
		})
	}
}

func testSlackPacingRestart(t *testing.T, burst, tickets, stopAt int) {
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	sf := slackfake.New(t)
	sf.SetRateLimit("chat.postMessage", burst, time.Second)
	sf.SetRateLimit("chat.update", burst, time.Second)
	sections := fmt.Sprintf(`slack:
  bot_token: %s
  signing_secret: %s
  api_url: %s
  channel: %s
`, slackfake.DefaultToken, signingSecret, sf.URL(), testChannel)
	statePath := filepath.Join(t.TempDir(), "state.db")
	d, stop := startDaemonAt(t, base, statePath, sections, Options{})
	t.Cleanup(stop)
	require.Eventually(t, func() bool { ok, _ := d.watch.BaselineDone(); return ok }, scWait, scTick, "the watch recorded its baseline")

	seeded := map[string]int{} // uuid → ticket id
	for i := range tickets {
		tk := tf.SeedTicket(taskipfake.Ticket{Subject: fmt.Sprintf("Burst ticket %02d", i), Priority: taskipfake.PriorityNormal,
			Status: taskipfake.StatusOpen, User: &taskipfake.Person{ID: 15}})
		seeded[tk.UUID] = tk.ID
	}
	// Allow a second per post beyond the burst, and the polls around them.
	wait := time.Duration(tickets-burst)*time.Second + scWait
	require.Eventually(t, func() bool { return len(sf.Messages(testChannel)) >= stopAt }, wait, scTick, "parents before the stop")
	stop()
	before := len(sf.Messages(testChannel))
	t.Logf("stopped with %d of %d parents posted, %d 429s so far", before, tickets, sf.RateLimited())

	_, stop = startDaemonAt(t, base, statePath, sections, Options{})
	t.Cleanup(stop)
	require.Eventually(t, func() bool { return len(sf.Messages(testChannel)) >= tickets }, wait, scTick, "every parent after the restart")

	// Changes to tickets whose parents went out before the stop: two
	// changes each, so two thread replies that must keep their order.
	changed := sf.Messages(testChannel)[:2]
	for _, m := range changed {
		id := seeded[firstKey(parentUUIDs(t, []slackfake.Call{m}))]
		require.NoError(t, tf.Mutate(id, func(tk *taskipfake.Ticket) {
			tk.Status, tk.Priority = taskipfake.StatusPending, taskipfake.PriorityHigh
		}))
	}
	for _, m := range changed {
		require.Eventually(t, func() bool {
			current, _ := sf.Message(testChannel, m.TS)
			return len(sf.Thread(testChannel, m.TS)) >= 2 && strings.Contains(current.Text, "Pending")
		}, 10*time.Second+scWait, scTick, "replies and the parent's update in %s", m.TS)
	}
	stop() // nothing more may arrive after the counts below

	parents := sf.Messages(testChannel)
	require.Len(t, parents, tickets, "exactly one parent per ticket")
	perTicket := parentUUIDs(t, parents)
	for uuid := range seeded {
		assert.Equal(t, 1, perTicket[uuid], "parents of ticket %s", uuid)
	}
	for _, m := range changed {
		thread := sf.Thread(testChannel, m.TS)
		require.Len(t, thread, 2, "no reply lost or repeated")
		assert.Contains(t, thread[0].Text, "Status: ")
		assert.Contains(t, thread[1].Text, "Priority: ")
		for _, r := range thread {
			assert.Greater(t, r.TS, m.TS, "a reply comes after its parent")
		}
	}

	posts := 0
	for _, c := range sf.Calls() {
		if c.Method == "chat.postMessage" && c.Error == "" {
			posts++
		}
	}
	assert.Equal(t, tickets+2*len(changed), posts, "no post made twice, across the restart either")
	// Each post beyond the burst needs one wait; the stop may cut one
	// wait short, whose post then waits again after the restart.
	needed := max(0, posts-burst) + max(0, len(changed)-burst) + 1
	assert.LessOrEqual(t, sf.RateLimited(), needed, "429s beyond the waits the limit needs")
	t.Logf("%d parents, %d posts, %d 429s (at most %d)", len(parents), posts, sf.RateLimited(), needed)
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
