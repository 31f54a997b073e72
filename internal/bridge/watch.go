package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Chat is the Slack channel as the watch sees it. Calls made one after
// another are delivered in that order.
type Chat interface {
	// Post starts a thread and returns its ts.
	Post(ctx context.Context, channel string, m slack.Message) (string, error)
	PostInThread(ctx context.Context, channel, threadTS string, m slack.Message) (string, error)
	// Update replaces a message; it is idempotent.
	Update(ctx context.Context, channel, ts string, m slack.Message) error
}

// ChannelHistory finds the parents ticketsync posted in a channel, for
// relinking tickets to their threads after a restore.
type ChannelHistory interface {
	ParentsSince(ctx context.Context, channel string, oldest time.Time, maxPages int) ([]slack.Parent, bool, error)
}

// WatchTickets is what the watch reads from TaskIP.
type WatchTickets interface {
	ListTickets(ctx context.Context, p taskip.ListParams) (taskip.TicketPage, error)
	GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error)
}

// WatchConfig configures the ticket watch.
type WatchConfig struct {
	Tickets WatchTickets
	// Chat and Channel are the Slack side. Without them (no Slack
	// configured) the watch only mails agents' web-app replies, so a
	// mail-only helpdesk still answers its customers; Outbox is then
	// required.
	Chat Chat
	// History, when set, finds the threads of tickets a restored state
	// file does not know (see relinkThreads).
	History  ChannelHistory
	Store    *state.Store
	Channel  string
	Schedule string // cron spec of the poll
	// TicketURL links a ticket in TaskIP; nil or "" for no link.
	TicketURL func(id int64, uuid string) string
	// Backfill "open" posts the open tickets found by the first run once.
	Backfill string
	// FullScanEvery is how often every ticket is listed to notice deletions
	// and anything a cursor could miss; default 1h.
	FullScanEvery time.Duration
	PageSize      int // default 50
	// Outbox mails agents' replies made in the TaskIP web app to the
	// customer; nil mails nothing.
	Outbox  *Outbox
	Metrics *WatchMetrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Watch keeps one Slack thread per ticket in step with TaskIP (README
// "Ticket watch"). One goroutine does all Slack writes, so the messages of a
// thread never overtake each other.
type Watch struct {
	cfg      WatchConfig
	log      *slog.Logger
	schedule cron.Schedule
	events   chan watchEvent
	lastFull time.Time
	started  time.Time
	lastOK   atomic.Int64 // unix nanoseconds of the last successful poll
	// held are Slack posts made and not yet recorded (a commit failed):
	// the record is retried, the post never made again.
	held heldPosts
}

// commitRetry bounds the wait before a flow retries after the state file
// refused a write: retrying is cheap, and the work waits until recorded.
const commitRetry = 5 * time.Second

type watchEvent struct {
	ticket *taskip.Ticket // a ticket as just created
	conv   conversation   // the mail that created it, before state has it
	id     taskip.ID      // a ticket that just changed
}

// NewWatch validates the configuration.
func NewWatch(cfg WatchConfig) (*Watch, error) {
	if cfg.Tickets == nil || cfg.Store == nil {
		return nil, errors.New("watch: tickets and store are required")
	}
	if (cfg.Chat == nil || cfg.Channel == "") && cfg.Outbox == nil {
		return nil, errors.New("watch: a Slack chat and channel, or an outbox, are required")
	}
	if cfg.Chat == nil {
		cfg.Channel = ""
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "@every 30s"
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("watch: poll schedule %q: %w", cfg.Schedule, err)
	}
	if cfg.FullScanEvery <= 0 {
		cfg.FullScanEvery = time.Hour
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewWatchMetrics(nil)
	}
	return &Watch{
		cfg: cfg, log: cfg.Logger.With("flow", "watch"), schedule: sched, events: make(chan watchEvent, 1024),
		// The first full scan waits one interval: a restart should not cost
		// a listing of every ticket.
		lastFull: cfg.Now(),
		started:  cfg.Now(),
	}, nil
}

// TicketCreated shows a ticket the intake just created, without waiting for
// the next poll. It never blocks; if the queue is full the poll catches up.
func (w *Watch) TicketCreated(t taskip.Ticket, c state.Conversation) {
	select {
	case w.events <- watchEvent{ticket: &t, conv: c}:
	default:
	}
}

// TicketChanged asks for a ticket to be synced now.
func (w *Watch) TicketChanged(id taskip.ID) {
	select {
	case w.events <- watchEvent{id: id}:
	default:
	}
}

// Run polls on the schedule and handles intake events until ctx ends. A poll
// never overlaps the previous one: the next tick is computed after it ends.
func (w *Watch) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("ticket poll failed", "err", err)
			w.cfg.Metrics.polls.WithLabelValues("failed").Inc()
		} else if err == nil {
			w.lastOK.Store(w.cfg.Now().UnixNano())
			w.cfg.Metrics.polls.WithLabelValues("ok").Inc()
		}
		now := w.cfg.Now()
		timer := time.NewTimer(w.schedule.Next(now).Sub(now))
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case ev := <-w.events:
				if err := w.handle(ctx, ev); err != nil && ctx.Err() == nil {
					w.log.Warn("ticket sync failed; the next poll retries", "err", err)
				}
			case <-timer.C:
				break wait
			}
		}
	}
	return nil
}

// LastPoll is when TaskIP was last polled successfully (zero before).
func (w *Watch) LastPoll() time.Time {
	if ns := w.lastOK.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Healthy reports whether TaskIP was polled successfully within three poll
// intervals (/readyz). A watch that just started gets that long too.
func (w *Watch) Healthy() bool {
	now := w.cfg.Now()
	next := w.schedule.Next(now)
	interval := w.schedule.Next(next).Sub(next)
	last := w.started
	if ns := w.lastOK.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	return now.Sub(last) <= 3*interval+time.Second
}

func (w *Watch) handle(ctx context.Context, ev watchEvent) error {
	if ok, err := w.baselineDone(); err != nil || !ok {
		return err // before the baseline, the first poll will see it
	}
	if ev.ticket != nil {
		if ev.conv.Email != "" {
			// Agents may answer as soon as the thread is up, before the
			// intake records the conversation with its batch: their mail
			// must still go to the sender, not to a catch-all user.
			err := w.cfg.Store.Update(func(tx *state.Tx) error {
				if _, ok, err := conversationOf(tx, ev.ticket.UUID); err != nil || ok {
					return err
				}
				return noteCustomerMail(tx, ev.ticket.UUID, ev.conv)
			})
			if err != nil {
				return err
			}
		}
		return w.syncAs(ctx, *ev.ticket, true, requesterOf(ev.conv))
	}
	// A Slack reply whose write's answer was lost abandons its claim and
	// tells the watch: finishing it now mails it without waiting for the
	// next poll.
	if err := w.finishClaims(ctx); err != nil {
		return err
	}
	t, err := w.cfg.Tickets.GetTicket(ctx, ev.id)
	if err != nil {
		return fmt.Errorf("get ticket %d: %w", ev.id, err)
	}
	return w.sync(ctx, t, true)
}

// watchCursor is where the last poll stopped.
type watchCursor = state.WatchCursor

func (w *Watch) cursor() (c watchCursor, err error) {
	err = w.cfg.Store.View(func(tx *state.Tx) (err error) {
		c, err = tx.WatchCursor()
		return err
	})
	return c, err
}

func (w *Watch) setCursor(c watchCursor) error {
	return w.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetWatchCursor(c) })
}

func (w *Watch) baselineDone() (bool, error) {
	c, err := w.cursor()
	return c.Baseline, err
}

// BaselineDone is baselineDone for the daemon's tests, which wait for the first baseline before they act.
func (w *Watch) BaselineDone() (bool, error) { return w.baselineDone() }

// Poll lists tickets by updated_at, newest first, down to the stored cursor,
// and syncs each. An idle poll is one request.
func (w *Watch) Poll(ctx context.Context) error {
	if err := w.finishClaims(ctx); err != nil {
		return err
	}
	cur, err := w.cursor()
	if err != nil {
		return err
	}
	if !cur.Baseline {
		return w.baseline(ctx, cur)
	}
	if w.cfg.Now().Sub(w.lastFull) >= w.cfg.FullScanEvery {
		return w.fullScan(ctx, cur)
	}
	var changed []taskip.Ticket
	newest := cur.UpdatedAt
	settled := w.cfg.Now().Sub(cur.UpdatedAt) > cursorSettle
	for page := 1; ; page++ {
		p, err := w.cfg.Tickets.ListTickets(ctx, taskip.ListParams{Sort: "updated_at", Order: "desc", Page: page, Limit: w.cfg.PageSize})
		if err != nil {
			return err
		}
		done := len(p.Tickets) < w.cfg.PageSize
		for _, t := range p.Tickets {
			if t.UpdatedAt.Time.IsZero() {
				// Without updated_at there is no cursor: scan and diff all.
				return w.fullScan(ctx, cur)
			}
			// Equal times are re-read while the cursor's second is recent:
			// a change in that same second must not be missed, and the diff
			// drops repeats. Once it is well past (clock skew included) the
			// second is settled and an idle poll stays one request.
			if t.UpdatedAt.Time.Before(cur.UpdatedAt) || (settled && t.UpdatedAt.Time.Equal(cur.UpdatedAt)) {
				done = true
				break
			}
			changed = append(changed, t)
			if t.UpdatedAt.Time.After(newest) {
				newest = t.UpdatedAt.Time
			}
		}
		if done {
			break
		}
	}
	for i := len(changed) - 1; i >= 0; i-- { // oldest change first
		if err := w.sync(ctx, changed[i], false); err != nil {
			return err
		}
	}
	if newest.Equal(cur.UpdatedAt) {
		return nil // an idle poll writes nothing
	}
	cur.UpdatedAt = newest
	return w.setCursor(cur)
}

// cursorSettle is how long after the cursor's second no more changes with
// that timestamp are expected, allowing for clock skew between TaskIP's
// servers.
const cursorSettle = 5 * time.Minute

// baseline records every ticket as already shown, so the first run posts
// nothing for old tickets (except open ones when backfill asks for them).
func (w *Watch) baseline(ctx context.Context, cur watchCursor) error {
	var newest time.Time
	n := 0
	relink := w.parentsSince(ctx, cur.RelinkSince)
	relinked := 0
	// One transaction per listing page, not per ticket: each commit is an
	// fsync, and a large account would otherwise take seconds to baseline.
	var batch []mapping.Snapshot
	flush := func() error {
		err := w.cfg.Store.Update(func(tx *state.Tx) error {
			for _, snap := range batch {
				if err := tx.SetSnapshot(snap.ID, snap); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	for t, err := range listAll(ctx, w.cfg.Tickets) {
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		n++
		if t.UpdatedAt.Time.After(newest) {
			newest = t.UpdatedAt.Time
		}
		if ts, ok := relink[t.UUID]; ok {
			linked, err := w.relinkThread(threadTicket{ID: int64(t.ID), UUID: t.UUID}, ts)
			if err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			if linked {
				relinked++
			}
		}
		if w.cfg.Backfill == "open" && isOpen(t.Status) {
			if err := w.sync(ctx, t, false); err != nil {
				return err
			}
			continue
		}
		if batch = append(batch, mapping.SnapshotOf(t)); len(batch) == 100 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	w.lastFull = w.cfg.Now()
	w.log.Info("watch baseline recorded", "tickets", n, "backfill", w.cfg.Backfill, "threads_relinked", relinked)
	return w.setCursor(watchCursor{UpdatedAt: newest, Baseline: true})
}

func isOpen(s taskip.Status) bool {
	return s == taskip.StatusOpen || s == taskip.StatusInProgress || s == taskip.StatusPending
}

// fullScan lists every ticket: it diffs them all (for servers without
// updated_at) and finds tickets that were deleted.
func (w *Watch) fullScan(ctx context.Context, cur watchCursor) error {
	seen := map[int64]bool{}
	newest := cur.UpdatedAt
	for t, err := range listAll(ctx, w.cfg.Tickets) {
		if err != nil {
			return fmt.Errorf("full scan: %w", err)
		}
		seen[int64(t.ID)] = true
		if t.UpdatedAt.Time.After(newest) {
			newest = t.UpdatedAt.Time
		}
		if err := w.sync(ctx, t, false); err != nil {
			return err
		}
	}
	var known []int64
	if err := w.cfg.Store.Update(func(tx *state.Tx) (err error) {
		known, err = tx.SnapshotIDs()
		return err
	}); err != nil {
		return err
	}
	for _, id := range known {
		if seen[id] {
			continue
		}
		if err := w.checkDeleted(ctx, id); err != nil {
			return err
		}
	}
	w.lastFull = w.cfg.Now()
	cur.UpdatedAt = newest
	return w.setCursor(cur)
}

// checkDeleted confirms with a GET that a ticket is gone before its thread
// gets the final note; a ticket merely missing from a list is kept.
func (w *Watch) checkDeleted(ctx context.Context, id int64) error {
	if _, err := w.cfg.Tickets.GetTicket(ctx, taskip.ID(id)); !errors.Is(err, taskip.ErrNotFound) {
		return err
	}
	var th thread
	var ok bool
	if err := w.cfg.Store.View(func(tx *state.Tx) (err error) { th, ok, err = tx.Thread(id); return err }); err != nil {
		return err
	} else if ok && w.cfg.Chat != nil {
		text := mapping.ThreadText(mapping.Change{Kind: mapping.ChangeDeleted}, "")
		if _, err := w.cfg.Chat.PostInThread(ctx, th.Channel, th.TS, slack.Message{Text: text}); err != nil {
			return fmt.Errorf("post deletion of ticket %d: %w", id, err)
		}
	}
	w.log.Info("ticket deleted in TaskIP", "ticket", id)
	return w.cfg.Store.Update(func(tx *state.Tx) error { return tx.DeleteSnapshot(id) })
}

// thread is where a ticket's Slack thread lives.
type thread = state.Thread

// relinkPages bounds the channel history read after a restore: 50 pages of
// 200 parents reach back over the busiest six hours of any helpdesk.
const relinkPages = 50

// parentsSince maps ticket uuids to the ts of their parent posted in the
// channel since since (zero: none asked for). A restored state file knows
// the threads up to its backup; a ticket whose thread was started after
// it would otherwise get a second one at its next change. A failure costs
// only that, so it is logged, not returned.
func (w *Watch) parentsSince(ctx context.Context, since time.Time) map[string]string {
	if since.IsZero() || w.cfg.History == nil || w.cfg.Channel == "" {
		return nil
	}
	parents, complete, err := w.cfg.History.ParentsSince(ctx, w.cfg.Channel, since, relinkPages)
	if err != nil {
		w.log.Warn("restored state: channel history not read; tickets whose thread was started after the backup get a new thread at their next change",
			"channel", w.cfg.Channel, "since", since, "err", err)
		return nil
	}
	if !complete {
		w.log.Warn("restored state: channel history read only in part", "channel", w.cfg.Channel, "since", since, "parents", len(parents))
	}
	m := make(map[string]string, len(parents))
	for _, p := range parents {
		if _, seen := m[p.TicketUUID]; !seen { // newest first: the latest parent wins
			m[p.TicketUUID] = p.TS
		}
	}
	return m
}

// relinkThread records ts as the thread of a ticket that has none.
func (w *Watch) relinkThread(tt threadTicket, ts string) (linked bool, err error) {
	err = w.cfg.Store.Update(func(tx *state.Tx) error {
		if _, ok, err := tx.Thread(tt.ID); err != nil || ok {
			return err
		}
		linked = true
		return tx.SetThread(tt, thread{Channel: w.cfg.Channel, TS: ts})
	})
	return linked, err
}
