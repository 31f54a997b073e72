package daemon

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// restoreWait allows for Slack's pace of one message a second per channel.
const restoreWait = 40 * time.Second

// restoreAlert starts the lines a restore queues for the agents.
const restoreAlert = "The state file was restored"

// slackPosts counts the messages the daemon posted, leaving out the lines
// a restore queues on purpose.
func slackPosts(sf *slackfake.Server) (posts int) {
	for _, c := range sf.Calls() {
		if c.Error == "" && c.Method == "chat.postMessage" && !strings.HasPrefix(c.Text, restoreAlert) {
			posts++
		}
	}
	return posts
}

// A backup taken by the running daemon while mail, agents' replies and
// web-app tickets keep coming passes the full check; a daemon started on
// the restored copy repeats nothing done since the backup (no ticket, no
// TaskIP write, no mail, no Slack post made twice) and carries on in the
// right threads, including those started after the backup.
func TestScenarioRestoredBackupDuplicatesNothing(t *testing.T) {
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	e := startScenarioDaemonWith(t, nil, scenarioOptions{
		StatePath: filepath.Join(dir, "state.db"),
		StateKeys: fmt.Sprintf("  backup_dir: %s\n  backup_schedule: \"@every 1h\"\n", backups),
	})
	// With no backup yet, the daemon takes one at start.
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(backups, "state-*.db"))
		return len(m) == 1
	}, scWait, scTick, "a backup at start")

	before := make([]taskipfake.Ticket, 3)
	for i := range before {
		subject := fmt.Sprintf("Before the backup %d", i)
		e.customerMails(mailMsg(fmt.Sprintf("pre-%d@customers.test", i), "Ann Poe <ann@customers.test>", subject, "Hello.\n"))
		before[i] = e.ticketBySubject(subject)
		e.threadTS(before[i].ID)
	}

	// Load: mail from many customers, an agent's reply and web-app tickets,
	// with the backup taken in the middle of it.
	const n = 6
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			e.customerMails(mailMsg(fmt.Sprintf("load-%d@customers.test", i), fmt.Sprintf("C%d <c%d@customers.test>", i, i),
				fmt.Sprintf("Under load %d", i), "Something is broken.\n"))
			time.Sleep(15 * time.Millisecond)
		}
	})
	e.message("EvRestore1", "USARAH", "reply: We are on it.", e.threadTS(before[0].ID))
	web := e.taskip.SeedTicket(taskipfake.Ticket{Subject: "Web ticket during load", Priority: taskipfake.PriorityNormal,
		Status: taskipfake.StatusOpen, User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	time.Sleep(60 * time.Millisecond)
	backup, err := e.d.store.Backup(backups)
	require.NoError(t, err)
	wg.Wait()

	after := make([]taskipfake.Ticket, n)
	for i := range n {
		after[i] = e.ticketBySubject(fmt.Sprintf("Under load %d", i))
		e.threadTS(after[i].ID)
	}
	e.threadTS(web.ID)
	require.Eventually(t, func() bool { return len(e.taskip.Replies(before[0].ID)) == 1 }, scWait, scTick)
	// After the backup: a web-app reply (mailed to the customer) and a
	// status change (posted in its thread).
	_, err = e.taskip.AddAgentReply(before[1].ID, "Sarah Johnson", "Fixed on our side, please try again.")
	require.NoError(t, err)
	require.NoError(t, e.taskip.Mutate(before[2].ID, func(tk *taskipfake.Ticket) { tk.Status = taskipfake.StatusPending }))
	wantMails := 1 + n + 2 // acknowledgements (one per sender and hour), the Slack reply, the web-app reply
	require.Eventually(t, func() bool { return len(e.smtp.Messages()) == wantMails }, restoreWait, scTick, "every mail sent")
	// Slack takes one message a second per channel: the threads catch up.
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(e.threadTexts(before[2].ID), func(s string) bool { return strings.Contains(s, "Pending") })
	}, restoreWait, scTick, "the status change is in its thread")
	require.Eventually(t, func() bool { return e.d.store.OutboxDepth() == 0 }, scWait, scTick)
	time.Sleep(1500 * time.Millisecond) // a last poll and intake cycle
	e.stopDaemon()

	tickets, replies := len(e.taskip.Tickets()), len(e.taskip.Replies(before[0].ID))+len(e.taskip.Replies(before[1].ID))
	mails := len(e.smtp.Messages())
	posts := slackPosts(e.slack)
	notes := 0
	for _, tk := range e.taskip.Tickets() {
		notes += len(e.taskip.Notes(tk.ID))
	}

	// The backup passes the full check and is restored in place.
	st, err := state.OpenReadOnly(state.Config{Path: backup})
	require.NoError(t, err)
	require.NoError(t, st.Check())
	require.NoError(t, st.Close())
	res, err := state.Restore(backup, state.Config{Path: e.statePath})
	require.NoError(t, err)
	t.Logf("restore: %+v", res)
	_, err = os.Stat(res.Kept)
	require.NoError(t, err, "the replaced file is kept")

	nCalls := len(e.slack.Calls())
	e.restart()
	require.Eventually(t, func() bool { ok, _ := e.d.watch.BaselineDone(); return ok }, scWait, scTick, "a new baseline")
	time.Sleep(2500 * time.Millisecond) // intake cycles, polls and the outbox over the restored file

	assert.Len(t, e.taskip.Tickets(), tickets, "no ticket made twice")
	assert.Equal(t, replies, len(e.taskip.Replies(before[0].ID))+len(e.taskip.Replies(before[1].ID)), "no reply written twice")
	gotNotes := 0
	for _, tk := range e.taskip.Tickets() {
		gotNotes += len(e.taskip.Notes(tk.ID))
	}
	assert.Equal(t, notes, gotNotes, "no note written twice")
	if got := e.smtp.Messages(); !assert.Equal(t, mails, len(got), "no mail sent twice") {
		for _, m := range got[mails:] {
			h, _ := netmail.ReadMessage(bytes.NewReader(m.Data))
			if h != nil {
				t.Logf("sent again: to %v %q", m.To, h.Header.Get("Subject"))
			}
		}
	}
	gotPosts := slackPosts(e.slack)
	assert.Equal(t, posts, gotPosts, "no Slack post made twice")
	// A parent may be rendered again by the first polls (as after any
	// start), but shows nothing it did not show before.
	shown := map[string]string{}
	for _, c := range e.slack.Calls()[:nCalls] {
		if c.Error == "" && (c.Method == "chat.update" || c.Method == "chat.postMessage") && c.TS != "" {
			shown[c.TS] = c.Text
		}
	}
	for _, c := range e.slack.Calls()[nCalls:] {
		if c.Method == "chat.update" {
			assert.Equal(t, shown[c.TS], c.Text, "the update of %s changes nothing", c.TS)
		}
	}
	for _, c := range e.slack.Calls() {
		if strings.HasPrefix(c.Text, restoreAlert) {
			t.Logf("alert: %s", c.Text)
		}
	}

	// It carries on: a change to a ticket whose thread was started after
	// the backup goes to that thread, not to a new one.
	last := after[n-1]
	ts := e.threadTS(last.ID)
	require.NoError(t, e.taskip.Mutate(last.ID, func(tk *taskipfake.Ticket) { tk.Status = taskipfake.StatusPending }))
	require.Eventually(t, func() bool {
		for _, c := range e.slack.Thread(testChannel, ts) {
			if c.ThreadTS == ts && strings.Contains(c.Text, "Pending") {
				return true
			}
		}
		return false
	}, scWait, scTick, "the change lands in the thread from before the restore")
	assert.Equal(t, 1, parents(e, last.Subject), "no second thread")
}
