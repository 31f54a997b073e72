package bridge

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// sync brings a ticket's thread up to date: a parent for a ticket never
// shown, a thread reply per change and a parent update otherwise. The
// snapshot is stored only after Slack accepted the posts, so a crash in
// between repeats at most the posts of this one ticket, once. Without
// Slack only the snapshot and the mail of web-app replies remain.
func (w *Watch) sync(ctx context.Context, t taskip.Ticket, fresh bool) error {
	return w.syncAs(ctx, t, fresh, taskip.Person{})
}

// syncAs is sync with the ticket's requester known; without it, the
// requester is the one state recorded with the ticket's mail.
func (w *Watch) syncAs(ctx context.Context, t taskip.Ticket, fresh bool, requester taskip.Person) error {
	id := int64(t.ID)
	if requester.Email == "" {
		c, _, err := storedConversation(w.cfg.Store, t.UUID)
		if err != nil {
			return err
		}
		requester = requesterOf(c)
	}
	cur := mapping.SnapshotOf(t)
	cur.Customer = mapping.CustomerLabel(t.User, requester)
	var old mapping.Snapshot
	var claim claimedPosts
	var th thread
	var known, hasThread bool
	err := w.cfg.Store.View(func(tx *state.Tx) (err error) {
		if known, err = tx.Snapshot(id, &old); err != nil {
			return err
		}
		if claim.at, claim.found, err = tx.ThreadPostClaim(id, &claim.shown); err != nil {
			return err
		}
		th, hasThread, err = tx.Thread(id)
		return err
	})
	if err != nil {
		return err
	}
	link := w.link(cur)
	if !known {
		if w.cfg.Chat == nil {
			return w.storeSnapshot(cur)
		}
		return w.startThread(ctx, cur, link, true)
	}
	replies := t.Replies
	if cur.ReplyCount != old.ReplyCount && replies == nil && !fresh {
		// List pages carry no replies; fetch them to show their text.
		full, err := w.cfg.Tickets.GetTicket(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("get replies of ticket %d: %w", t.ID, err)
		}
		replies = full.Replies
		customer := cur.Customer
		cur = mapping.SnapshotOf(full)
		cur.Customer = customer
	}
	if replies == nil {
		cur.LastReplyID = old.LastReplyID
	} else if old.LastReplyID == 0 && old.ReplyCount > 0 {
		// A snapshot taken from a list page (the first run's) counted the
		// replies without seeing them: the oldest that many are not new,
		// and must be neither posted nor mailed now.
		old.LastReplyID = nthReplyID(replies, old.ReplyCount)
	}
	changes := mapping.Diff(old, cur, replies)
	if len(changes) == 0 {
		if cur == old {
			return nil
		}
		if cur.Customer != old.Customer && hasThread && w.cfg.Chat != nil {
			// Not a change to tell the thread about, but the parent must
			// name the customer right: a poll can show a new ticket before
			// the intake has said whose mail opened it.
			if err := w.updateParent(ctx, th, cur, link); err != nil {
				return err
			}
		}
		return w.storeSnapshot(cur)
	}
	switch {
	case w.cfg.Chat == nil:
	case !hasThread:
		// Known from the baseline but never shown: it gets its thread now,
		// with the change already in the parent.
		if err := w.startThread(ctx, cur, link, false); err != nil {
			return err
		}
	default:
		if err := w.showChanges(ctx, id, th, old, cur, replies, claim, link); err != nil {
			return err
		}
	}
	w.held.toldUpTo(id, cur)
	mailed := false
	err = w.cfg.Store.Update(func(tx *state.Tx) error {
		if err := tx.SetSnapshot(cur.ID, cur); err != nil {
			return err
		}
		mailed, err = w.mailWebReplies(tx, t, changes)
		return err
	})
	if err != nil {
		return err // the posts stay held; the next sync records them
	}
	w.held.forgetTold(id)
	if mailed {
		w.cfg.Outbox.Wake()
	}
	return nil
}

// showChanges posts in a ticket's thread the changes from the view it
// was last told (old) to cur, one line each, and updates its parent.
//
// Each line is posted at most once. The claim of the posts is committed
// before the first and settled by the snapshot syncAs records after them.
// What the thread was told already, without a snapshot to show it, comes
// from two places: this run's posts (held.told: those whose snapshot's
// commit failed, and the lines of an attempt that stopped part way), and
// the claim of a run that stopped before recording its posts. That claim
// may also stand for lines that never left; they are not posted now,
// since a line could otherwise appear twice, and the parent, which shows
// the ticket as it is, is updated all the same.
func (w *Watch) showChanges(ctx context.Context, id int64, th thread, old, cur mapping.Snapshot, replies []taskip.Reply,
	claim claimedPosts, link string) error {
	base, sent, resumed, fromClaim := old, map[string]bool(nil), true, false
	if t, ok := w.held.toldOf(id); ok {
		base, sent = t.base, t.sent
	} else if claim.found {
		base, fromClaim = claim.shown, true
		w.log.Warn("changes of this ticket may not have reached its Slack thread: ticketsync stopped while posting them; not posted again",
			"ticket", id, "claimed_at", claim.at)
	} else {
		resumed = false
	}
	var news []mapping.Change
	for _, c := range mapping.Diff(base, cur, replies) {
		if !sent[mapping.ThreadText(c, link)] {
			news = append(news, c)
		}
	}
	if len(news) == 0 && resumed {
		if base == cur && !fromClaim {
			return nil
		}
		// Whether the stopped run updated the parent is not known.
		return w.updateParent(ctx, th, cur, link)
	}
	if len(news) > 0 {
		// Committed before the first post; SetSnapshot settles it.
		if err := w.cfg.Store.Update(func(tx *state.Tx) error { return tx.ClaimThreadPosts(id, cur) }); err != nil {
			return fmt.Errorf("claim thread posts of ticket %d: %w", id, err)
		}
	}
	lines, err := w.postChanges(ctx, th, cur, news, link)
	if err != nil {
		// The next sync of this run posts only the lines not in lines.
		w.held.toldLines(id, base, lines)
	}
	return err
}

// claimedPosts is an unsettled claim of a thread's posts (ClaimThreadPosts):
// the view of the ticket they were to show.
type claimedPosts struct {
	found bool
	shown mapping.Snapshot
	at    time.Time
}

// nthReplyID is the id of the n-th oldest reply (the newest there is, if
// fewer).
func nthReplyID(replies []taskip.Reply, n int) int64 {
	ids := make([]int64, len(replies))
	for i, r := range replies {
		ids[i] = int64(r.ID)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return 0
	}
	return ids[min(n, len(ids))-1]
}

// postChanges posts a thread reply per change and updates the parent. On
// an error, lines are the texts that went out or may have (Slack's answer
// was lost).
func (w *Watch) postChanges(ctx context.Context, th thread, cur mapping.Snapshot, changes []mapping.Change, link string) (lines []string, err error) {
	for _, c := range changes {
		text := mapping.ThreadText(c, link)
		if _, err := w.cfg.Chat.PostInThread(ctx, th.Channel, th.TS, slack.Message{Text: text, TicketUUID: cur.UUID}); err != nil {
			if threadGone(err) {
				// Someone deleted the parent: the ticket gets a new thread
				// that shows its current state.
				w.log.Warn("ticket thread is gone; starting a new one", "ticket", cur.ID)
				return lines, w.startThread(ctx, cur, link, false)
			}
			if !errors.Is(err, slack.ErrTransient) && !errors.Is(err, slack.ErrPermanent) {
				lines = append(lines, text)
			}
			return lines, fmt.Errorf("post change of ticket %d: %w", cur.ID, err)
		}
		lines = append(lines, text)
		w.cfg.Metrics.changes.WithLabelValues(string(c.Kind)).Inc()
	}
	return lines, w.updateParent(ctx, th, cur, link)
}

// updateParent shows the ticket as it is now in its parent message.
func (w *Watch) updateParent(ctx context.Context, th thread, cur mapping.Snapshot, link string) error {
	text, blocks := mapping.ParentMessage(cur, link)
	if err := w.cfg.Chat.Update(ctx, th.Channel, th.TS, slack.Message{Text: text, Blocks: blocks, TicketUUID: cur.UUID}); err != nil {
		return fmt.Errorf("update parent of ticket %d: %w", cur.ID, err)
	}
	return nil
}

// mailWebReplies queues, with the snapshot that shows them, the emails of
// agents' replies made in the TaskIP web app. Only replies whose text the
// server sent qualify, and each is mailed once: those that came in by
// mail or were sent from Slack are marked in state already.
func (w *Watch) mailWebReplies(tx *state.Tx, t taskip.Ticket, changes []mapping.Change) (bool, error) {
	if w.cfg.Outbox == nil {
		return false, nil
	}
	queued := false
	for _, c := range changes {
		r := c.Reply
		if c.Kind != mapping.ChangeReply || r == nil || r.IsPrivate || r.AuthorType != "team_member" {
			continue
		}
		text := r.Message
		if looksLikeHTML(text) {
			text = mime.HTMLToText(text)
		}
		if claim, err := tx.ReplyClaimed(int64(t.ID), int64(r.ID), text); err != nil || claim != nil {
			// Written from Slack or by an agent's own mail a moment ago:
			// its claimant records it (and mails it, or not). One a crash
			// left is finished by finishClaims.
			if err != nil {
				return queued, err
			}
			continue
		}
		ar := AgentReply{
			Ticket: mapping.Ticket{ID: int64(t.ID), UUID: t.UUID}, ReplyID: int64(r.ID), Origin: "taskip", Text: text,
			Customer: mime.Address{Name: t.User.Name, Email: t.User.Email}, Subject: t.Subject,
		}
		ok, err := w.cfg.Outbox.Reply(tx, ar)
		if err != nil {
			return queued, err
		}
		queued = queued || ok
	}
	return queued, nil
}

func looksLikeHTML(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "<p") || strings.Contains(l, "<br") || strings.Contains(l, "<div")
}

// startThread posts the ticket's parent and links it both ways. With
// snapshot it also stores cur; a change's caller stores it itself, in the
// transaction that queues the change's mail, so a crash between the two
// cannot lose that mail.
func (w *Watch) startThread(ctx context.Context, cur mapping.Snapshot, link string, snapshot bool) error {
	th, shown, posted := w.held.parent(cur.ID)
	if !posted {
		ts, found, err := w.claimParent(ctx, cur)
		if err != nil {
			return err
		}
		if !found {
			text, blocks := mapping.ParentMessage(cur, link)
			ts, err = w.cfg.Chat.Post(ctx, w.cfg.Channel, slack.Message{Text: text, Blocks: blocks, TicketUUID: cur.UUID})
			if err != nil {
				// The claim stays: whether this post landed is settled
				// by the channel's history on the next attempt.
				return fmt.Errorf("post ticket %d: %w", cur.ID, err)
			}
			w.cfg.Metrics.parents.Inc()
		}
		th = thread{Channel: w.cfg.Channel, TS: ts}
		// Held until recorded: should the commit below fail, the next
		// sync records this parent rather than posting another.
		w.held.setParent(cur.ID, th, cur)
		if found { // as it was posted then: bring it up to date
			if err := w.updateParent(ctx, th, cur, link); err != nil {
				return err
			}
		}
	} else if shown != cur {
		// The parent was posted with an older view of the ticket.
		if err := w.updateParent(ctx, th, cur, link); err != nil {
			return err
		}
		w.held.setParent(cur.ID, th, cur)
	}
	ts := th.TS
	err := w.cfg.Store.Update(func(tx *state.Tx) error {
		// Both ways: a message in this thread names its ticket.
		if err := tx.SetThread(threadTicket{ID: cur.ID, UUID: cur.UUID}, thread{Channel: w.cfg.Channel, TS: ts}); err != nil {
			return err
		}
		if err := tx.SetTicketID(cur.UUID, cur.ID); err != nil {
			return err
		}
		if !snapshot {
			return nil
		}
		return tx.SetSnapshot(cur.ID, cur)
	})
	if err == nil {
		w.held.dropParent(cur.ID)
	}
	return err
}

// claimParent commits the claim a ticket's parent is posted under (the
// claim is settled by SetThread below, with the thread's record). When an
// earlier attempt left its claim, that post may have landed with its answer
// lost: the channel's history since then is searched for a parent naming
// the ticket, and a parent found there is the thread (found is true).
// Without history (no scope, an error) the post is repeated: a second
// parent is better than a ticket without a thread.
func (w *Watch) claimParent(ctx context.Context, cur mapping.Snapshot) (ts string, found bool, err error) {
	var claim state.ParentClaim
	var earlier bool
	err = w.cfg.Store.Update(func(tx *state.Tx) error {
		if claim, earlier, err = tx.ParentClaim(cur.ID); err != nil || earlier {
			return err
		}
		return tx.ClaimParent(state.ParentClaim{TicketID: cur.ID, TicketUUID: cur.UUID, Channel: w.cfg.Channel, At: w.cfg.Now()})
	})
	if err != nil {
		return "", false, fmt.Errorf("claim parent of ticket %d: %w", cur.ID, err)
	}
	if !earlier || claim.Channel != w.cfg.Channel || w.cfg.History == nil {
		return "", false, nil
	}
	// A minute of slack for clock skew between this host and Slack's ts.
	parents, _, err := w.cfg.History.ParentsSince(ctx, w.cfg.Channel, claim.At.Add(-time.Minute), relinkPages)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		w.log.Warn("an earlier post of this ticket's parent may have landed, and the channel history to check it was not read; posting again",
			"ticket", cur.ID, "err", err)
		return "", false, nil
	}
	for _, p := range parents {
		if p.TicketUUID == cur.UUID {
			w.log.Info("parent of an interrupted post found in the channel; not posted again", "ticket", cur.ID, "ts", p.TS)
			return p.TS, true, nil
		}
	}
	return "", false, nil
}

func (w *Watch) link(s mapping.Snapshot) string {
	if w.cfg.TicketURL == nil {
		return ""
	}
	return w.cfg.TicketURL(s.ID, s.UUID)
}

// listAll pages through every ticket.
func listAll(ctx context.Context, t WatchTickets) iter.Seq2[taskip.Ticket, error] {
	return func(yield func(taskip.Ticket, error) bool) {
		for page := 1; ; page++ {
			p, err := t.ListTickets(ctx, taskip.ListParams{Sort: "id", Order: "asc", Page: page, Limit: 100})
			if err != nil {
				yield(taskip.Ticket{}, err)
				return
			}
			for _, tk := range p.Tickets {
				if !yield(tk, nil) {
					return
				}
			}
			if len(p.Tickets) < 100 || (p.Meta != nil && p.Meta.TotalPages > 0 && page >= p.Meta.TotalPages) {
				return
			}
		}
	}
}

func threadGone(err error) bool {
	var apiErr *slack.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.Code == "thread_not_found" || apiErr.Code == "message_not_found"
}

// threadTicket is the ticket a Slack thread belongs to.
type threadTicket = state.ThreadTicket

// storeSnapshot stores the watch's view of a ticket.
func (w *Watch) storeSnapshot(cur mapping.Snapshot) error {
	return w.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetSnapshot(cur.ID, cur) })
}

// heldPosts are Slack posts made whose record has not been committed yet
// (the state file refused the write, or a post failed part way): a parent
// posted, and what a thread was told (toldThread). The next sync commits them instead of posting
// again. They live in memory; across a restart the claims in the state
// file (parent_claims, thread_post_claims) play their part.
type heldPosts struct {
	mu      sync.Mutex
	parents map[int64]heldParent
	told    map[int64]toldThread
}

// toldThread is what a ticket's thread was told beyond its recorded
// snapshot: the ticket up to base, and of the lines worked out from base,
// those in sent (posted, or maybe: Slack's answer was lost).
type toldThread struct {
	base mapping.Snapshot
	sent map[string]bool
}

func (h *heldPosts) toldOf(id int64) (toldThread, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.told[id]
	return t, ok
}

// toldUpTo records that the thread was told everything up to s.
func (h *heldPosts) toldUpTo(id int64, s mapping.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.told == nil {
		h.told = map[int64]toldThread{}
	}
	h.told[id] = toldThread{base: s}
}

// toldLines records lines worked out from base as sent. What was held
// already keeps its base: the lines were worked out from it.
func (h *heldPosts) toldLines(id int64, base mapping.Snapshot, lines []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.told == nil {
		h.told = map[int64]toldThread{}
	}
	t, ok := h.told[id]
	if !ok {
		t.base = base
	}
	if t.sent == nil {
		t.sent = map[string]bool{}
	}
	for _, l := range lines {
		t.sent[l] = true
	}
	h.told[id] = t
}

func (h *heldPosts) forgetTold(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.told, id)
}

// heldParent is a posted parent and the view of the ticket it shows.
type heldParent struct {
	thread thread
	shown  mapping.Snapshot
}

func (h *heldPosts) parent(id int64) (thread, mapping.Snapshot, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.parents[id]
	return p.thread, p.shown, ok
}

func (h *heldPosts) setParent(id int64, th thread, shown mapping.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.parents == nil {
		h.parents = map[int64]heldParent{}
	}
	h.parents[id] = heldParent{thread: th, shown: shown}
}

func (h *heldPosts) dropParent(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.parents, id)
}
