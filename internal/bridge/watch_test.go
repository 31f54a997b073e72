package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

type watchEnv struct {
	t      *testing.T
	fake   *taskipfake.Server
	client *taskip.Client
	slack  *slackfake.Server
	poster *slack.Poster
	sleeps *[]time.Duration
	store  *state.Store
	watch  *Watch
	cfg    WatchConfig
	// failCommits makes every state commit fail as on a full disk.
	failCommits *atomic.Bool
}

func newWatchEnv(t *testing.T, opts taskipfake.Options, edit ...func(*WatchConfig)) *watchEnv {
	t.Helper()
	opts.SecretKey = testKey
	fake, base := taskipfake.NewHTTPTest(t, opts)
	fake.SeedExamples()
	client, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey})
	require.NoError(t, err)
	sf := slackfake.New(t)
	var sleeps []time.Duration
	poster, err := slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: sf.URL(), PerChannelInterval: -1,
		Sleep: func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }})
	require.NoError(t, err)
	failCommits := new(atomic.Bool)
	st, err := state.Open(state.Config{Path: filepath.Join(t.TempDir(), "state.db"), NoSync: true, BeforeCommit: func() error {
		if failCommits.Load() {
			return syscall.ENOSPC
		}
		return nil
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	e := &watchEnv{t: t, fake: fake, client: client, slack: sf, poster: poster, sleeps: &sleeps, store: st, failCommits: failCommits}
	e.cfg = WatchConfig{Tickets: client, Chat: poster, History: poster, Store: st, Channel: testChannel, Schedule: "@every 1h",
		TicketURL: func(id int64, _ string) string { return fmt.Sprintf("https://taskip.example/tickets/%d", id) },
		Logger:    testLogger(t)}
	for _, f := range edit {
		f(&e.cfg)
	}
	e.restart()
	return e
}

// restart builds a new Watch on the same state, as a process restart would.
func (e *watchEnv) restart() {
	w, err := NewWatch(e.cfg)
	require.NoError(e.t, err)
	e.watch = w
}

func (e *watchEnv) poll() {
	e.t.Helper()
	require.NoError(e.t, e.watch.Poll(context.Background()))
}

func (e *watchEnv) parents() []slackfake.Call {
	var out []slackfake.Call
	for _, c := range e.slack.Messages(testChannel) {
		if c.ThreadTS == "" {
			out = append(out, c)
		}
	}
	return out
}

func (e *watchEnv) posts(method string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range e.slack.Calls() {
		if c.Method == method && c.Error == "" {
			out = append(out, c)
		}
	}
	return out
}

// threadTexts are the thread replies under the parent of ticket id.
func (e *watchEnv) threadTexts(id int) []string {
	th, ok := storedThread(e.t, e.store, id)
	require.True(e.t, ok, "ticket %d has a thread", id)
	var out []string
	for _, c := range e.slack.Thread(testChannel, th.TS) {
		if c.ThreadTS != "" {
			out = append(out, c.Text)
		}
	}
	return out
}

func (e *watchEnv) newTicket(subject string) taskipfake.Ticket {
	return e.fake.SeedTicket(taskipfake.Ticket{Subject: subject, Priority: taskipfake.PriorityNormal, Status: taskipfake.StatusOpen,
		User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
}

func TestWatchFirstRunIsABaseline(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	for i := range 250 { // more than a page and a batch
		e.newTicket(fmt.Sprintf("old ticket %d", i))
	}
	e.poll()
	assert.Empty(t, e.slack.Calls(), "old tickets are not posted")
	assert.Equal(t, len(e.fake.Tickets()), snapshotCount(t, e.store), "every ticket is in the baseline")
	e.poll()
	assert.Empty(t, e.slack.Calls())
	tk := e.newTicket("new after the baseline")
	e.poll()
	require.Len(t, e.parents(), 1)
	assert.Contains(t, e.parents()[0].Text, tk.Subject)
}

func TestWatchBackfillOpen(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) { c.Backfill = "open" })
	e.poll()
	open := 0
	for _, tk := range e.fake.Tickets() {
		if tk.Status != taskipfake.StatusClosed && tk.Status != taskipfake.StatusResolved {
			open++
		}
	}
	assert.Len(t, e.parents(), open)
	e.poll()
	assert.Len(t, e.parents(), open, "backfill happens once")
}

func TestWatchNewTicketGetsOneParent(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Printer on fire")
	e.poll()
	parents := e.parents()
	require.Len(t, parents, 1)
	assert.Contains(t, parents[0].Text, fmt.Sprintf("Ticket #%d: Printer on fire [Open, Normal]", tk.ID))
	assert.Contains(t, string(parents[0].Blocks), fmt.Sprintf("https://taskip.example/tickets/%d", tk.ID))
	assert.Contains(t, string(parents[0].Metadata), tk.UUID)
	for range 10 {
		e.poll()
	}
	assert.Len(t, e.slack.Calls(), 1, "an unchanged ticket is not posted again across 10 polls")
}

func TestWatchEachChangeIsOneThreadReplyAndOneUpdate(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *watchEnv, id int)
		want   string
	}{
		{"status", func(e *watchEnv, id int) {
			require.NoError(t, e.fake.Mutate(id, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusResolved }))
		}, "Status: Open → Resolved"},
		{"priority", func(e *watchEnv, id int) {
			require.NoError(t, e.fake.Mutate(id, func(t *taskipfake.Ticket) { t.Priority = taskipfake.PriorityUrgent }))
		}, "Priority: Normal → Urgent"},
		{"assignee", func(e *watchEnv, id int) {
			require.NoError(t, e.fake.Mutate(id, func(t *taskipfake.Ticket) { t.AssignedTo = 8 }))
		}, "Assigned to David Chen"},
		{"agent reply made in the web app", func(e *watchEnv, id int) {
			_, err := e.fake.AddAgentReply(id, "Sarah Johnson", "We replaced the toner.")
			require.NoError(t, err)
		}, "New reply from agent Sarah Johnson:\n> We replaced the toner."},
		{"subject", func(e *watchEnv, id int) {
			require.NoError(t, e.fake.Mutate(id, func(t *taskipfake.Ticket) { t.Subject = "Printer on fire (tray 2)" }))
		}, "Subject: Printer on fire (tray 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWatchEnv(t, taskipfake.Options{})
			e.poll()
			tk := e.newTicket("Printer on fire")
			e.poll()
			updatesBefore := len(e.posts("chat.update"))
			tt.change(e, tk.ID)
			e.poll()
			assert.Equal(t, []string{tt.want}, e.threadTexts(tk.ID))
			assert.Len(t, e.posts("chat.update"), updatesBefore+1)
			e.poll()
			assert.Len(t, e.threadTexts(tk.ID), 1, "the next poll repeats nothing")
		})
	}
}

func TestWatchCodesAsNamesOrIntegersAreNoChange(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{CodeStyle: taskipfake.Alternate}, func(c *WatchConfig) { c.FullScanEvery = time.Nanosecond })
	e.poll()
	tk := e.newTicket("Alternating codes")
	e.poll()
	for range 10 {
		e.poll() // each poll is a full scan here: every ticket is diffed
	}
	assert.Empty(t, e.threadTexts(tk.ID))
	assert.Empty(t, e.posts("chat.update"))
}

func TestWatchRateLimitedDeliveryWaitsAndKeepsOrder(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Busy ticket")
	e.poll()
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) {
		t.Status, t.Priority, t.AssignedTo = taskipfake.StatusInProgress, taskipfake.PriorityHigh, 8
	}))
	e.slack.RateLimitNext(2, 3*time.Second)
	e.poll()
	assert.Equal(t, []string{"Status: Open → In Progress", "Priority: Normal → High", "Assigned to David Chen"}, e.threadTexts(tk.ID))
	// Retry-After, plus up to 5 % jitter so that many clients do not
	// come back at the same instant.
	assert.True(t, slices.ContainsFunc(*e.sleeps, func(d time.Duration) bool { return d >= 3*time.Second && d <= 3150*time.Millisecond }),
		"Retry-After honoured: %v", *e.sleeps)
}

// crashAfterSlack lets Slack accept a call and then reports a failure, as a
// process killed right after Slack's answer would leave things.
type crashAfterSlack struct {
	Chat
	armed bool
}

var errCrash = errors.New("simulated crash after Slack accepted")

func (c *crashAfterSlack) Update(ctx context.Context, channel, ts string, m slack.Message) error {
	if err := c.Chat.Update(ctx, channel, ts, m); err != nil {
		return err
	}
	if c.armed {
		c.armed = false
		return errCrash
	}
	return nil
}

// A process killed after Slack took the change's posts and before their
// snapshot was recorded: the claim left behind says what they showed, and
// the next run posts nothing again.
func TestWatchRestartBetweenSlackAndSnapshotPostsOnce(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Crashy")
	e.poll()
	crash := &crashAfterSlack{Chat: e.poster, armed: true}
	e.cfg.Chat = crash
	e.restart()
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusPending }))
	require.ErrorIs(t, e.watch.Poll(context.Background()), errCrash)

	e.restart() // the process comes back; the snapshot was never committed
	e.poll()
	e.poll()
	assert.Equal(t, []string{"Status: Open → Pending"}, e.threadTexts(tk.ID))
	assert.False(t, threadPostClaimed(t, e.store, tk.ID), "the next snapshot settles the claim")

	// Later changes are posted as usual.
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusClosed }))
	e.poll()
	assert.Equal(t, []string{"Status: Open → Pending", "Status: Pending → Closed"}, e.threadTexts(tk.ID))
}

// threadPostsThen wraps Chat: the thread post numbered at (from 1) fails
// with err, after reaching Slack when delivered; every other call goes
// through.
type threadPostsThen struct {
	Chat
	calls     int
	at        int
	delivered bool
	err       error
	// after, when set, runs after each thread post that went through.
	after func(call int)
}

func (c *threadPostsThen) PostInThread(ctx context.Context, channel, ts string, m slack.Message) (string, error) {
	c.calls++
	if c.calls != c.at {
		out, err := c.Chat.PostInThread(ctx, channel, ts, m)
		if err == nil && c.after != nil {
			c.after(c.calls)
		}
		return out, err
	}
	if c.delivered {
		if _, err := c.Chat.PostInThread(ctx, channel, ts, m); err != nil {
			return "", err
		}
	}
	return "", c.err
}

// Killed after the claim's commit and before the post left: at most once
// means the line is not posted by the next run (a line could otherwise
// appear twice); the parent is still brought up to date, and the log says
// what may be missing.
func TestWatchKilledBeforeThePostDoesNotPostItLater(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Killed early")
	e.poll()
	e.cfg.Chat = &threadPostsThen{Chat: e.poster, at: 1, err: errCrash}
	e.restart()
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusPending }))
	require.ErrorIs(t, e.watch.Poll(context.Background()), errCrash)
	require.True(t, threadPostClaimed(t, e.store, tk.ID), "the claim is committed before the post")

	e.cfg.Chat = e.poster
	e.restart()
	updates := len(e.posts("chat.update"))
	e.poll()
	assert.Empty(t, e.threadTexts(tk.ID))
	require.Len(t, e.posts("chat.update"), updates+1, "the parent shows the ticket as it is")
	assert.Contains(t, e.posts("chat.update")[updates].Text, "Pending")
	assert.False(t, threadPostClaimed(t, e.store, tk.ID))
}

// Within one run the watch knows which lines left: an attempt that stops
// part way is resumed after its last line, and a line whose answer was
// lost is not posted again.
func TestWatchPostFailingPartWayResumesAfterTheLinesThatLeft(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		delivered bool
	}{
		{"refused", fmt.Errorf("slack: chat.postMessage: %w", slack.ErrTransient), false},
		{"answer lost", fmt.Errorf("slack: chat.postMessage: %w", slack.ErrOutcomeUnknown), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWatchEnv(t, taskipfake.Options{})
			e.poll()
			tk := e.newTicket("Two changes")
			e.poll()
			e.cfg.Chat = &threadPostsThen{Chat: e.poster, at: 2, delivered: tc.delivered, err: tc.err}
			e.restart()
			require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) {
				t.Status = taskipfake.StatusPending
				t.Priority = taskipfake.PriorityHigh
			}))
			require.Error(t, e.watch.Poll(context.Background()))
			require.Len(t, e.threadTexts(tk.ID), 1+boolInt(tc.delivered))
			e.poll()
			e.poll()
			texts := e.threadTexts(tk.ID)
			require.Len(t, texts, 2, "each line once: %q", texts)
			assert.NotEqual(t, texts[0], texts[1])
			assert.False(t, threadPostClaimed(t, e.store, tk.ID))
		})
	}
}

// Both holds at once: the snapshot after two lines fails to commit, and
// the next attempt, for two newer lines, stops after its first. The poll
// after that posts only the line still missing.
func TestWatchPostStoppedAfterAFailedCommitResumesAfterItsLines(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Held twice")
	e.poll()
	// The disk fills after the second line, before the snapshot's commit.
	e.cfg.Chat = &threadPostsThen{Chat: e.poster, after: func(call int) {
		if call == 2 {
			e.failCommits.Store(true)
		}
	}}
	e.restart()
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) {
		t.Status = taskipfake.StatusPending
		t.Priority = taskipfake.PriorityHigh
	}))
	require.ErrorIs(t, e.watch.Poll(context.Background()), state.ErrCommit)
	require.Len(t, e.threadTexts(tk.ID), 2)

	// Space again; two newer changes, and the second of their lines is
	// refused by Slack.
	e.failCommits.Store(false)
	e.watch.cfg.Chat = &threadPostsThen{Chat: e.poster, at: 2, err: fmt.Errorf("slack: chat.postMessage: %w", slack.ErrTransient)}
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) {
		t.Status = taskipfake.StatusClosed
		t.Priority = taskipfake.PriorityUrgent
	}))
	require.Error(t, e.watch.Poll(context.Background()))
	require.Len(t, e.threadTexts(tk.ID), 3)

	e.watch.cfg.Chat = e.poster
	e.poll()
	e.poll()
	texts := e.threadTexts(tk.ID)
	require.Len(t, texts, 4, "each line once: %q", texts)
	assert.Len(t, slices.Compact(slices.Sorted(slices.Values(texts))), 4, "no line twice: %q", texts)
	assert.False(t, threadPostClaimed(t, e.store, tk.ID))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// threadPostClaimed says whether ticket id has an unsettled claim of
// thread posts.
func threadPostClaimed(t *testing.T, st *state.Store, id int) bool {
	t.Helper()
	var ok bool
	require.NoError(t, st.View(func(tx *state.Tx) (err error) {
		_, ok, err = tx.ThreadPostClaim(int64(id), &mapping.Snapshot{})
		return err
	}))
	return ok
}

func TestWatchDeletedTicketGetsFinalNote(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) { c.FullScanEvery = time.Nanosecond })
	e.poll()
	tk := e.newTicket("Short-lived")
	e.poll()
	require.NoError(t, e.fake.Delete(tk.ID))
	e.poll()
	assert.Equal(t, []string{"This ticket was deleted in TaskIP. The thread stays for the record."}, e.threadTexts(tk.ID))
	assert.False(t, storedSnapshot(t, e.store, tk.ID, &struct{}{}), "the ticket leaves the snapshot set")
	e.poll()
	assert.Len(t, e.threadTexts(tk.ID), 1)
}

// noUpdatedAt hides updated_at, as some servers do.
type noUpdatedAt struct{ WatchTickets }

func (n noUpdatedAt) ListTickets(ctx context.Context, p taskip.ListParams) (taskip.TicketPage, error) {
	page, err := n.WatchTickets.ListTickets(ctx, p)
	for i := range page.Tickets {
		page.Tickets[i].UpdatedAt = taskip.Timestamp{}
	}
	return page, err
}

func TestWatchWithoutUpdatedAtScansAndDiffs(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.cfg.Tickets = noUpdatedAt{e.client}
	e.restart()
	e.poll()
	tk := e.newTicket("No timestamps")
	e.poll()
	require.Len(t, e.parents(), 1)
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusInProgress }))
	e.poll()
	assert.Equal(t, []string{"Status: Open → In Progress"}, e.threadTexts(tk.ID))
}

func TestWatchIntakeHandoffPostsAtOnceAndOnlyOnce(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.watch.Run(ctx) }()
	require.Eventually(t, func() bool { ok, _ := e.watch.baselineDone(); return ok }, 5*time.Second, 5*time.Millisecond)

	created, err := e.client.CreateTicket(context.Background(), taskip.TicketFields{Subject: ptr("From email"), Priority: ptr(taskip.PriorityNormal)})
	require.NoError(t, err)
	e.watch.TicketCreated(created, conversation{})
	require.Eventually(t, func() bool { return len(e.parents()) == 1 }, 5*time.Second, 5*time.Millisecond,
		"the parent appears without waiting for the hourly poll")
	cancel()
	require.NoError(t, <-done)

	e.poll()
	assert.Len(t, e.parents(), 1, "the next poll does not post it again")
	assert.True(t, strings.Contains(e.parents()[0].Text, "From email"))
}

func TestWatchHealthyFollowsSuccessfulPolls(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) {
		c.Schedule = "@every 10s"
		c.Now = func() time.Time { return now }
	})
	assert.True(t, e.watch.Healthy(), "a new watch has three intervals to succeed")
	now = now.Add(29 * time.Second)
	assert.True(t, e.watch.Healthy())
	now = now.Add(3 * time.Second)
	assert.False(t, e.watch.Healthy(), "no successful poll within 3 intervals")
	e.watch.lastOK.Store(now.UnixNano())
	assert.True(t, e.watch.Healthy())
}

func TestWatchDeletedParentStartsANewThread(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Parent deleted in Slack")
	e.poll()
	e.slack.FailNext(1, "thread_not_found")
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusResolved }))
	e.poll()
	parents := e.parents()
	require.Len(t, parents, 2)
	assert.Contains(t, parents[1].Text, "[Resolved, Normal]")
	e.poll()
	assert.Len(t, e.parents(), 2)
}

func TestWatchIdlePollIsOneRequestOnceTheCursorSecondSettles(t *testing.T) {
	offset := time.Duration(0)
	e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) {
		c.PageSize = 2
		c.Now = func() time.Time { return time.Now().Add(offset) }
	})
	e.poll()
	at := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	for range 3 { // a bulk change: three tickets, one second
		tk := e.newTicket("bulk")
		require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.UpdatedAt = at }))
	}
	e.poll()
	require.Len(t, e.parents(), 3)
	e.fake.ResetRequests()
	e.poll()
	assert.Greater(t, e.fake.RequestCount(), 1, "while recent, the cursor's second is re-read")
	offset = 2 * time.Hour
	e.fake.ResetRequests()
	e.poll()
	assert.Equal(t, 1, e.fake.RequestCount(), "settled: an idle poll is one request")
	assert.Len(t, e.parents(), 3)
}

func TestWatchNeedsSlackOrAnOutbox(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	cfg := e.cfg
	cfg.Chat, cfg.Channel = nil, ""
	_, err := NewWatch(cfg)
	require.Error(t, err, "with neither there is nothing to do")
	cfg.Outbox = new(Outbox)
	_, err = NewWatch(cfg)
	assert.NoError(t, err, "an outbox alone is a mail-only watch")
}

// Slack removed from the configuration: the threads left in state are
// never posted to again, and changes and deletions are still followed.
func TestWatchWithoutSlackLeavesOldThreadsAlone(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) { c.FullScanEvery = time.Nanosecond })
	e.poll()
	kept, gone := e.newTicket("Kept"), e.newTicket("Gone")
	e.poll()
	require.Len(t, e.parents(), 2)
	calls := len(e.slack.Calls())

	e.cfg.Chat, e.cfg.Channel, e.cfg.Outbox = nil, "", new(Outbox)
	e.restart()
	require.NoError(t, e.fake.Mutate(kept.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusResolved }))
	require.NoError(t, e.fake.Delete(gone.ID))
	e.poll()

	assert.Len(t, e.slack.Calls(), calls, "nothing goes to Slack")
	var snap mapping.Snapshot
	require.True(t, storedSnapshot(t, e.store, kept.ID, &snap))
	assert.Equal(t, taskip.StatusResolved, snap.Status, "the change is followed")
	assert.False(t, storedSnapshot(t, e.store, gone.ID, &struct{}{}), "the deleted ticket leaves the snapshot set")
}

// A sender who is no contact is filed under a catch-all user; the parent
// names the sender, from the intake's event at once and from the state the
// intake recorded on every later update.
func TestWatchParentNamesTheRequester(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	inbox := e.fake.SeedContact(taskipfake.Contact{Name: "Support Inbox", Email: "inbox@company.test"})
	created, err := e.client.CreateTicket(context.Background(), taskip.TicketFields{
		Subject: ptr("Order missing"), Priority: ptr(taskip.PriorityNormal), UserID: ptr(taskip.ID(inbox.ID))})
	require.NoError(t, err)
	walkIn := taskip.Person{Name: "Walk In", Email: "walk.in@example.org"}
	require.NoError(t, e.watch.handle(context.Background(), watchEvent{ticket: &created, conv: conversation{Name: walkIn.Name, Email: walkIn.Email}.Opening()}))
	require.Len(t, e.parents(), 1)
	// As sent: mrkdwn-escaped, then JSON-escaped.
	const want = `Walk In \u0026lt;walk.in@example.org\u0026gt; (in TaskIP: Support Inbox \u0026lt;inbox@company.test\u0026gt;)`
	assert.Contains(t, string(e.parents()[0].Blocks), want)

	require.NoError(t, e.store.Update(func(tx *state.Tx) error {
		return noteCustomerMail(tx, created.UUID, conversation{Name: walkIn.Name, Email: walkIn.Email})
	}))
	require.NoError(t, e.fake.Mutate(int(created.ID), func(t *taskipfake.Ticket) { t.Priority = taskipfake.PriorityHigh }))
	e.poll()
	updates := e.posts("chat.update")
	require.NotEmpty(t, updates)
	assert.Contains(t, string(updates[len(updates)-1].Blocks), want)
}

// answerLost posts, then reports the failure a cut connection gives after
// Slack has already accepted the message; lose says which posts.
type answerLost struct {
	Chat
	lose func() bool
}

func (a answerLost) Post(ctx context.Context, channel string, m slack.Message) (string, error) {
	ts, err := a.Chat.Post(ctx, channel, m)
	if err == nil && a.lose() {
		return "", fmt.Errorf("read chat.postMessage answer: %w", io.ErrUnexpectedEOF)
	}
	return ts, err
}

func TestWatchParentWhoseAnswerWasLostIsFoundNotReposted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history bool
		parents int
	}{
		{"history finds it", true, 1},
		// Without channel history the post is repeated: a second parent
		// is better than a ticket without a thread.
		{"no history", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lost := true
			e := newWatchEnv(t, taskipfake.Options{}, func(c *WatchConfig) {
				c.Chat = answerLost{Chat: c.Chat, lose: func() bool { l := lost; lost = false; return l }}
				if !tc.history {
					c.History = nil
				}
			})
			e.poll()
			tk := e.newTicket("Answer lost")
			require.Error(t, e.watch.Poll(context.Background()), "the post's answer is lost")
			require.Len(t, e.parents(), 1, "but Slack has the parent")

			e.restart()
			e.poll()
			require.Len(t, e.parents(), tc.parents)
			th, ok := storedThread(t, e.store, tk.ID)
			require.True(t, ok, "the ticket has its thread")
			assert.Equal(t, e.parents()[tc.parents-1].TS, th.TS)

			require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusPending }))
			e.poll()
			assert.Equal(t, []string{"Status: Open → Pending"}, e.threadTexts(tk.ID), "later changes go to that thread")
			var claim bool
			require.NoError(t, e.store.View(func(tx *state.Tx) (err error) { _, claim, err = tx.ParentClaim(int64(tk.ID)); return err }))
			assert.False(t, claim, "the claim is settled with the thread")
		})
	}
}

func TestWatchParentNeverPostedIsPostedOnRetry(t *testing.T) {
	e := newWatchEnv(t, taskipfake.Options{})
	e.poll()
	tk := e.newTicket("Slack down")
	e.slack.Fail5xxNext(100)
	require.Error(t, e.watch.Poll(context.Background()))
	require.Empty(t, e.parents())
	e.slack.Fail5xxNext(0)
	e.poll()
	require.Len(t, e.parents(), 1, "the history shows no parent, so it is posted")
	_, ok := storedThread(t, e.store, tk.ID)
	assert.True(t, ok)
}
