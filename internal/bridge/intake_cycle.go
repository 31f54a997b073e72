package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// item is one message on its way through a batch.
type item struct {
	env   mail.Envelope
	key   string // dedupe key: Message-ID, or a digest for mail without one
	msg   *mail.Message
	email mapping.Email
	ictx  mapping.IntakeContext
	act   mapping.Action
	// replyCountBefore lets reconciliation tell whether a reply landed when
	// the server does not list replies.
	replyCountBefore int
	replyID          int64 // the TaskIP reply made, when the server said
	// afterPrev marks a message read ahead that answers the batch written
	// meanwhile: it is looked up once that batch is done.
	afterPrev bool
	// userRefused: TaskIP refused the customer id the lookup gave, so the
	// ticket went to the default user and the remembered id is dropped.
	userRefused bool
	// ack: a new ticket gets an acknowledgement, decided with its intent.
	ack bool
	// auth is what sender authentication found, once looked up.
	auth *mapping.SenderAuth
	// claim is the reply claim of an agent's answer by mail.
	claim uint64

	outcome outcome
	reason  string // skip reason or failure text
	ticket  mapping.Ticket
}

type outcome int

const (
	pending     outcome = iota
	seen                // recorded earlier; only the mailbox and cursor lag
	skipped             // guard said no; recorded, not acted on
	done                // TaskIP writes made
	quarantined         // can never succeed; moved to the failed mailbox
)

// Cycle reconciles unfinished intents, then works through every message above
// the cursor in UID order, a batch at a time. A transient failure stops it;
// the next cycle starts again at the first unhandled message.
//
// Batches overlap. While one is written to TaskIP (one create after
// another, in UID order), a second goroutine records the outcomes of the
// batch before it, marks that batch's mail, reads, parses and looks up the
// batch after, and writes its intents. Only the creates stay on the path
// each create waits on. A crash before outcomes are recorded leaves their
// intents, which reconciliation finishes on the next start.
func (in *Intake) Cycle(ctx context.Context) (err error) {
	if err := in.reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var (
		b    *batch   // to be written next; read ahead by the previous round, if any
		prev *written // written by the previous round; its mail not yet marked
		// position is the cursor the batches were listed from; the
		// read-ahead lists on from it.
		position state.Cursor
	)
	defer func() {
		if prev != nil {
			// Shutdown or a failure: record and mark what is written on
			// the way out; b was never started, so its intents go.
			err = errors.Join(err, in.settle(ctx, prev, b))
		}
		if b != nil {
			b.cleanup()
		}
	}()
	for ctx.Err() == nil {
		if b == nil {
			if prev != nil {
				err := in.settle(ctx, prev, nil)
				prev = nil
				if err != nil {
					return err
				}
			}
			cur, err := in.cfg.Store.Cursor(in.cfg.Mailbox)
			if err != nil {
				return err
			}
			if cur.UIDValidity == 0 {
				// No position in this mailbox yet: the mail already in
				// it is mostly history (startCursor).
				if err := in.startCursor(ctx, cur); err != nil {
					return err
				}
				continue
			}
			envs, status, pending, err := in.list(ctx, cur, 0)
			if err != nil {
				return fmt.Errorf("list %s: %w", in.cfg.Mailbox, err)
			}
			if status.UIDValidity != cur.UIDValidity {
				// UIDs of the old validity mean nothing now.
				in.log.Warn("UIDVALIDITY changed; rescanning recent mail", "old", cur.UIDValidity, "new", status.UIDValidity)
				if err := in.startCursor(ctx, cur); err != nil {
					return err
				}
				continue
			}
			if len(envs) == 0 {
				if len(pending) > 0 {
					// Mail waiting to be imported is gone (moved or
					// deleted by someone meanwhile): nothing to do for it.
					last := pending[len(pending)-1]
					if err := in.cfg.Store.SetCursor(in.cfg.Mailbox, state.Cursor{UIDValidity: cur.UIDValidity, LastUID: last}); err != nil {
						return err
					}
					continue
				}
				in.metrics.lastPoll.SetToCurrentTime()
				return nil
			}
			position = cur
			b = in.read(ctx, status, envs, nil)
		} else if !b.intentsWritten {
			// b was looked up while prev was written (see stale): record
			// prev first, so its Message-IDs thread, then look again.
			if err := in.record(prev, nil); err != nil {
				return err
			}
			in.refresh(b, prev.b)
		}
		if len(b.items) == 0 {
			return b.err // nothing could be read now; the next cycle tries again
		}
		if !b.intentsWritten {
			if err := in.writeIntents(b.validity, b.items); err != nil {
				return err
			}
			b.intentsWritten = true
		}
		var ahead *readAhead
		if b.err == nil && b.more(in.cfg.BatchSize) {
			ahead = in.startReadAhead(ctx, position, b, prev)
			prev = nil // the read-ahead records and marks it
		} else if prev != nil {
			err := in.settle(ctx, prev, nil)
			prev = nil
			if err != nil {
				return err
			}
		}
		cur := b
		b = nil
		w, next, err := in.processBatch(ctx, cur, ahead)
		if err != nil || w == nil {
			return err // nil on shutdown
		}
		b = next
		if cur.err != nil || (b == nil && !cur.more(in.cfg.BatchSize)) {
			// A batch cut short by a read failure, or the last one: record
			// and mark it now rather than at the next cycle.
			if err := in.settle(ctx, w, nil); err != nil {
				return err
			}
			if cur.err != nil {
				return cur.err
			}
			in.metrics.lastPoll.SetToCurrentTime()
			return nil
		}
		prev = w
	}
	return nil
}

// batch is a run of messages in UID order, read and looked up, ready to be
// written. items may stop short of the listing: where BatchBytes is
// reached, at a message that answers an earlier one of the same batch (its
// ticket does not exist yet), or at one that could not be read now (err
// says why).
type batch struct {
	validity uint32
	listed   int
	items    []*item
	err      error
	// intentsWritten says the batch's intents are committed.
	intentsWritten bool
}

// written is a batch whose TaskIP writes are made. Its outcomes stay in
// memory until recorded, in one commit that also moves the cursor past the
// mail marked before it (markedUID); then its own mail is marked.
type written struct {
	b         *batch
	markedUID uint32
	recorded  bool
}

// more reports whether messages may follow the batch's last item.
func (b *batch) more(limit int) bool { return b.listed >= limit || len(b.items) < b.listed }

func (b *batch) cleanup() {
	if b == nil {
		return
	}
	for _, it := range b.items {
		_ = it.msg.Cleanup()
	}
}

func (b *batch) lastUID() uint32 { return b.items[len(b.items)-1].env.UID }

// read prepares a batch of the listed messages, as many as BatchBytes
// allows. prev is the batch being written meanwhile, if any.
func (in *Intake) read(ctx context.Context, status mail.MailboxStatus, envs []mail.Envelope, prev *batch) *batch {
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ItemTimeout)
	defer cancel()
	listed := len(envs)
	envs = fitBatch(envs, in.cfg.BatchBytes, in.cfg.MaxMessageBytes)
	items, err := in.prepare(ctx, work, status.UIDValidity, envs, prev, behind(status, envs))
	return &batch{validity: status.UIDValidity, listed: listed, items: items, err: err}
}

// behind is how many messages at most wait after envs: the UIDs between
// the last one and UIDNEXT. Expunged UIDs make it an overestimate; 0 when
// the server did not say.
func behind(status mail.MailboxStatus, envs []mail.Envelope) int {
	if len(envs) == 0 || status.UIDNext <= envs[len(envs)-1].UID+1 {
		return 0
	}
	return int(status.UIDNext - envs[len(envs)-1].UID - 1)
}

// fitBatch keeps the leading messages whose sizes add up to maxBytes, and
// at least one. A size counts up to maxMessage: past it only the header
// is read.
func fitBatch(envs []mail.Envelope, maxBytes, maxMessage int64) []mail.Envelope {
	var total int64
	for i, e := range envs {
		total += min(e.Size, maxMessage)
		if total > maxBytes && i > 0 {
			return envs[:i]
		}
	}
	return envs
}

// readAhead is a goroutine working beside the batch being written: it
// records and marks the batch before, then reads the batch after. The
// Inbox serves one goroutine at a time, so the owner uses it again only
// once the read-ahead is over (take).
type readAhead struct {
	done   chan struct{}
	b      *batch // nil when nothing followed or it could not be listed
	marked mark   // of the batch before
	err    error  // recording the batch before failed
}

// mark is the result of marking a recorded batch in the mailbox: the cursor
// may move to UID (0: nowhere new), err says why it stopped short.
type mark struct {
	uid uint32
	err error
}

func (in *Intake) startReadAhead(ctx context.Context, position state.Cursor, cur *batch, prev *written) *readAhead {
	touched := ticketsOf(cur.items)
	ra := &readAhead{done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		if prev != nil {
			if ra.err = in.record(prev, nil); ra.err != nil {
				return
			}
			if ra.marked = in.markBatch(ctx, prev.b); ra.marked.err != nil {
				return
			}
		}
		envs, status, _, err := in.list(ctx, position, cur.lastUID())
		if err != nil || status.UIDValidity != cur.validity || len(envs) == 0 {
			return // the owner lists again from the cursor and sees for itself
		}
		b := in.read(ctx, status, envs, cur)
		ra.b = b
		if len(b.items) > 0 && len(lookupsAffected(b, touched)) == 0 {
			// Nothing cur writes can change these decisions: their
			// intents need not wait for it.
			b.intentsWritten = in.writeIntents(b.validity, b.items) == nil
		}
	}()
	return ra
}

// take waits for the read-ahead and returns its batch, or nil.
func (ra *readAhead) take() (*batch, mark, error) {
	if ra == nil {
		return nil, mark{}, nil
	}
	<-ra.done
	return ra.b, ra.marked, ra.err
}

// record commits the outcomes of a written batch, and the cursor past the
// mail marked before it, unless done already. The intents of drop, a batch
// read ahead that will not be written now, go in the same commit.
func (in *Intake) record(w *written, drop *batch) error {
	if w.recorded {
		return in.dropIntents(drop)
	}
	err := in.cfg.Store.Update(func(tx *state.Tx) error {
		if err := in.completeTx(tx, w.b.items); err != nil {
			return err
		}
		if w.markedUID != 0 {
			if err := tx.SetCursor(in.cfg.Mailbox, state.Cursor{UIDValidity: w.b.validity, LastUID: w.markedUID}); err != nil {
				return err
			}
		}
		return dropIntentsTx(tx, drop)
	})
	if err != nil {
		return err
	}
	w.recorded = true
	in.cfg.Outbox.Wake() // acknowledgements were queued with the outcomes
	in.cfg.Alerts.Wake()
	return nil
}

// settle records a written batch and marks its mail.
func (in *Intake) settle(ctx context.Context, w *written, drop *batch) error {
	if err := in.record(w, drop); err != nil {
		return err
	}
	return in.markRecorded(ctx, w.b)
}

func (in *Intake) dropIntents(b *batch) error {
	if b == nil || !b.intentsWritten {
		return nil
	}
	return in.cfg.Store.Update(func(tx *state.Tx) error { return dropIntentsTx(tx, b) })
}

// dropIntentsTx removes the intents of a batch that was never started;
// its mail is listed and decided again later.
func dropIntentsTx(tx *state.Tx, b *batch) error {
	if b == nil || !b.intentsWritten {
		return nil
	}
	for _, it := range b.items {
		if it.outcome == pending && it.key != "" {
			if err := tx.DropIntent(it.key); err != nil {
				return err
			}
			if err := settleClaim(tx, it.act, it.claim); err != nil {
				return err
			}
			it.claim = 0
		}
	}
	b.intentsWritten = false
	return nil
}

// markBatch marks a recorded batch's mail in the mailbox (processed, or
// quarantined) in order, as far as it gets.
func (in *Intake) markBatch(ctx context.Context, b *batch) mark {
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ItemTimeout)
	defer cancel()
	handled, err := in.markAll(work, b.items)
	m := mark{err: err}
	if handled > 0 {
		m.uid = b.items[handled-1].env.UID
	}
	return m
}

// markRecorded marks a recorded batch and moves the cursor past what it
// marked.
func (in *Intake) markRecorded(ctx context.Context, b *batch) error {
	m := in.markBatch(ctx, b)
	if m.uid != 0 {
		if err := in.cfg.Store.SetCursor(in.cfg.Mailbox, state.Cursor{UIDValidity: b.validity, LastUID: m.uid}); err != nil {
			return errors.Join(m.err, err)
		}
	}
	return m.err
}

// refresh redoes the lookups of a batch read ahead that the batch written
// meanwhile (prev) may have made stale (see stale).
func (in *Intake) refresh(b, prev *batch) {
	idx := stale(b, prev)
	if len(idx) == 0 {
		return
	}
	work, cancel := context.WithTimeout(context.Background(), in.cfg.ItemTimeout)
	defer cancel()
	if n, err := in.lookupAll(work, b.items, idx); err != nil {
		for _, it := range b.items[n:] {
			_ = it.msg.Cleanup()
		}
		b.items, b.err = b.items[:n], errors.Join(b.err, err)
	}
}

// stale returns the items of b whose lookup ran while prev was written and
// may be out of date: messages answering one of prev's (their ticket was
// only just made) and messages for a ticket prev wrote to (its status and
// reply count moved).
func stale(b, prev *batch) []int {
	if prev == nil {
		return nil
	}
	touched := map[int64]bool{}
	for _, it := range prev.items {
		if it.outcome == done && it.ticket.ID != 0 {
			touched[it.ticket.ID] = true
		}
	}
	return lookupsAffected(b, touched)
}

// lookupsAffected returns the items of b that answer the batch written
// meanwhile or go to one of the touched tickets.
func lookupsAffected(b *batch, touched map[int64]bool) []int {
	var idx []int
	for i, it := range b.items {
		if it.outcome == pending && (it.afterPrev || (it.ictx.Ticket != nil && touched[it.ictx.Ticket.ID])) {
			idx = append(idx, i)
		}
	}
	return idx
}

// ticketsOf returns the existing tickets the items are about to write to:
// before they are written, the superset of what stale will find touched.
// Tickets they create are new, and only mail answering them (afterPrev)
// can refer to them.
func ticketsOf(items []*item) map[int64]bool {
	t := map[int64]bool{}
	for _, it := range items {
		if it.outcome == pending && it.act.Ticket != nil {
			t[it.act.Ticket.ID] = true
		}
	}
	return t
}

// processBatch makes the TaskIP writes of a batch whose intents are
// written, while the read-ahead (if any) works beside it. It returns the
// batch written, to be recorded by the next read-ahead or settled by the
// caller, and the batch read ahead, to be written next. When the batch
// did not finish (a failure, or shutdown), it records and marks what it
// can itself and returns no batch.
func (in *Intake) processBatch(ctx context.Context, b *batch, ahead *readAhead) (*written, *batch, error) {
	// In-flight work finishes even when shutdown begins; only the start of
	// new messages checks ctx.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.ItemTimeout)
	defer cancel()
	defer b.cleanup()
	execErr := in.executeAll(ctx, work, b.items)
	finished := execErr == nil && settled(b.items)
	next, before, err := ahead.take()
	if err != nil {
		// The batch before could not be recorded; the intents of both
		// stay for reconciliation.
		next.cleanup()
		return nil, nil, errors.Join(execErr, err)
	}
	w := &written{b: b, markedUID: before.uid}
	if finished && before.err == nil {
		return w, next, nil
	}
	// The batch read ahead is listed again from the cursor.
	defer next.cleanup()
	if err := in.record(w, next); err != nil {
		return nil, nil, errors.Join(execErr, before.err, err)
	}
	if before.err != nil {
		// The cursor must not pass the mail left unmarked before this
		// batch: the next cycle lists from there and marks both.
		return nil, nil, errors.Join(execErr, before.err)
	}
	// Mark the leading handled messages now, so the next cycle starts at
	// the first unhandled one.
	return nil, nil, errors.Join(execErr, in.markRecorded(ctx, b))
}

// settled reports whether every item has an outcome.
func settled(items []*item) bool {
	for _, it := range items {
		if it.outcome == pending {
			return false
		}
	}
	return true
}

// prepare reads and decides each message until one cannot be prepared now,
// or one answers a message earlier in this batch (whose ticket does not exist
// yet: it waits for the next batch so it threads correctly). Bodies come in
// one IMAP command; the TaskIP lookups run a few at a time.
//
// prev is the batch being written while this one is read ahead: a message
// repeating one of prev's is a duplicate, and one answering prev waits for
// refresh to look it up once prev's tickets exist. later is how many
// messages may follow this batch (behind), for the contact directory.
func (in *Intake) prepare(ctx, work context.Context, validity uint32, envs []mail.Envelope, prev *batch, later int) ([]*item, error) {
	loaded, loadErr := in.loadAll(work, envs)
	var items []*item
	var needLookup []int
	keys, prevKeys := map[string]bool{}, map[string]bool{}
	if prev != nil {
		for _, it := range prev.items {
			if it.key != "" {
				prevKeys[it.key] = true
			}
		}
	}
	cut := false
	for _, env := range envs {
		it, ok := loaded[env.UID]
		if !ok || ctx.Err() != nil || cut {
			if ok {
				_ = it.msg.Cleanup()
			}
			cut = true
			continue
		}
		switch {
		case it.outcome == seen:
			in.metrics.duplicates.Inc()
		case it.outcome == quarantined:
			if it.key == "" {
				// Unreadable and without a Message-ID: the mailbox position
				// is the only name it has.
				it.key = fmt.Sprintf("imap:%s:%d:%d", in.cfg.Mailbox, validity, env.UID)
			}
			in.log.Error("email cannot be read; quarantined", "uid", env.UID, "err", it.reason)
		case keys[it.key] || prevKeys[it.key]:
			// The same mail delivered twice into one batch, or into this
			// one and the one written meanwhile.
			it.outcome = seen
			in.metrics.duplicates.Inc()
		case answersBatch(it.email, keys):
			_ = it.msg.Cleanup()
			cut = true
			continue
		default:
			keys[it.key] = true
			reason := mapping.Screen(it.email, in.screening)
			switch {
			case reason != "":
				it.outcome, it.reason = skipped, string(reason)
			case answersBatch(it.email, prevKeys):
				it.afterPrev = true
			default:
				needLookup = append(needLookup, len(items))
			}
		}
		items = append(items, it)
	}
	in.primeContacts(work, items, needLookup, later)
	if n, err := in.lookupAll(work, items, needLookup); err != nil {
		for _, it := range items[n:] {
			_ = it.msg.Cleanup()
		}
		return items[:n], errors.Join(loadErr, err)
	}
	return items, loadErr
}

// lookupAll runs the TaskIP lookups of the given items concurrently and
// returns how many leading items are ready: all, or up to the first failure.
func (in *Intake) lookupAll(ctx context.Context, items []*item, idx []int) (int, error) {
	errs := make([]error, len(items))
	for j, err := range eachWide(len(idx), lookupConcurrency, func(j int) error { return in.lookup(ctx, items[idx[j]]) }) {
		errs[idx[j]] = err
	}
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return len(items), nil
}

// eachWide calls fn(0) to fn(n-1), at most width at a time, and returns
// their errors by index.
func eachWide(n, width int, fn func(i int) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// lookupConcurrency bounds the parallel reads (contact search, ticket GET)
// one batch makes against TaskIP.
const lookupConcurrency = 8

func answersBatch(e mapping.Email, keys map[string]bool) bool {
	for _, id := range append(append([]string(nil), e.InReplyTo...), e.References...) {
		if keys[state.NormalizeMessageID(id)] {
			return true
		}
	}
	return false
}

var errPermanent = errors.New("permanent")

// loadAll fetches and parses the messages of a batch that are not known
// yet. It returns the items it could load, keyed by UID; it stops at the
// first message that could not be read for a transient reason, and the
// items after it are not loaded.
func (in *Intake) loadAll(ctx context.Context, envs []mail.Envelope) (map[uint32]*item, error) {
	loaded := map[uint32]*item{}
	var whole []uint32
	for _, env := range envs {
		it := &item{env: env, key: state.NormalizeMessageID(env.MessageID)}
		if mail.Handled(env.Flags) {
			// Filed in place by us already; only a state file restored from
			// a backup (its cursor older than the mailbox) meets it here.
			it.outcome = seen
			loaded[env.UID] = it
			continue
		}
		if it.key != "" {
			if _, ok, err := in.cfg.Store.MessageTicket(it.key); err != nil {
				return loaded, err
			} else if ok {
				it.outcome = seen
				loaded[env.UID] = it
				continue
			}
		}
		loaded[env.UID] = it
		if env.Size <= in.cfg.MaxMessageBytes {
			whole = append(whole, env.UID)
		}
	}
	opts := mail.ParseOptions{MaxMessageBytes: in.cfg.MaxMessageBytes, SpoolDir: in.cfg.SpoolDir,
		KeepRaw: in.cfg.Authentication.Checker != nil}
	parsed := map[uint32]error{}
	missing, err := in.cfg.Inbox.FetchMany(ctx, whole, func(uid uint32, r io.Reader) error {
		it := loaded[uid]
		it.msg, parsed[uid] = mail.Parse(r, opts)
		return nil
	})
	if err != nil {
		for _, it := range loaded {
			_ = it.msg.Cleanup()
		}
		return nil, fmt.Errorf("fetch %d messages: %w", len(whole), err)
	}
	for _, uid := range missing {
		it := loaded[uid]
		it.outcome, it.reason = quarantined, fmt.Sprintf("uid %d vanished from the mailbox", uid)
	}
	for _, env := range envs {
		it := loaded[env.UID]
		if it.outcome != pending {
			continue
		}
		tooLarge := env.Size > in.cfg.MaxMessageBytes
		perr, fetched := parsed[env.UID]
		if tooLarge {
			err := in.cfg.Inbox.FetchHeader(ctx, env.UID, func(r io.Reader) error {
				it.msg, perr = mail.Parse(r, opts)
				return nil
			})
			if errors.Is(err, mail.ErrGone) {
				it.outcome, it.reason = quarantined, fmt.Sprintf("uid %d vanished from the mailbox", env.UID)
				continue
			}
			if err != nil {
				return in.dropFrom(loaded, envs, env.UID), fmt.Errorf("fetch header of uid %d: %w", env.UID, err)
			}
			fetched = true
		}
		if !fetched {
			continue
		}
		in.metrics.fetched.Inc()
		if err := in.settleParse(it, perr, tooLarge); err != nil {
			if errors.Is(err, errPermanent) {
				it.outcome, it.reason = quarantined, err.Error()
				continue
			}
			return in.dropFrom(loaded, envs, env.UID), err
		}
	}
	return loaded, nil
}

// dropFrom forgets the loaded items from uid on, cleaning their spools.
func (in *Intake) dropFrom(loaded map[uint32]*item, envs []mail.Envelope, uid uint32) map[uint32]*item {
	for _, env := range envs {
		if env.UID >= uid {
			if it, ok := loaded[env.UID]; ok {
				_ = it.msg.Cleanup()
				delete(loaded, env.UID)
			}
		}
	}
	return loaded
}

// settleParse turns a parse result into the item's email, or an error: a
// malformed message is permanent; a broken stream is retried later rather
// than acted on half read.
func (in *Intake) settleParse(it *item, parseErr error, tooLarge bool) error {
	switch {
	case errors.Is(parseErr, mail.ErrMessageTooLarge):
		tooLarge = true
	case errors.Is(parseErr, mail.ErrMalformed):
		return fmt.Errorf("%w: uid %d: %v", errPermanent, it.env.UID, parseErr)
	case parseErr != nil:
		_ = it.msg.Cleanup()
		return fmt.Errorf("read uid %d: %w", it.env.UID, parseErr)
	}
	it.email = toEmail(it.msg, tooLarge, it.env.Size)
	if it.key == "" {
		it.key = mapping.DedupeKey(it.email)
		if _, ok, err := in.cfg.Store.MessageTicket(it.key); err != nil {
			return err
		} else if ok {
			it.outcome = seen
		}
	}
	return nil
}

func toEmail(m *mail.Message, tooLarge bool, size int64) mapping.Email {
	e := mapping.Email{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		FromName: m.From.Name, FromEmail: strings.ToLower(m.From.Email),
		DeliveredTo: m.DeliveredTo, ReturnPath: m.ReturnPath, EmptyReturnPath: m.EmptyReturnPath,
		Subject: m.Subject, Date: m.Date,
		AutoSubmitted: m.Header.AutoSubmitted, Precedence: m.Header.Precedence,
		XAutoreply: m.Header.XAutoreply, XAutorespond: m.Header.XAutorespond, ListID: m.Header.ListID,
		XTicketsync: m.Header.XTicketsync != nil, ContentType: m.ContentType,
		XPriority: m.Header.XPriority, Importance: m.Header.Importance,
		Text: m.Text, Stripped: mail.StripQuoted(m.Text), Problems: m.Problems,
		Size: max(m.Size, size), TooLarge: tooLarge,
	}
	for _, a := range m.To {
		e.To = append(e.To, a.Email)
	}
	for _, a := range m.Cc {
		e.Cc = append(e.Cc, a.Email)
	}
	for _, a := range m.Attachments {
		e.Attachments = append(e.Attachments, mapping.File{Name: a.Filename, Size: a.Size})
	}
	for _, r := range m.Refused {
		e.Refused = append(e.Refused, mapping.File{Name: r.Filename, Size: r.Size, Reason: r.Reason})
	}
	return e
}

// attachmentFiles streams the spooled attachments to TaskIP.
func attachmentFiles(m *mail.Message) []taskip.File {
	files := make([]taskip.File, 0, len(m.Attachments))
	for i := range m.Attachments {
		a := &m.Attachments[i]
		name := a.Filename
		if name == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		// Size is what the spool wrote, so it is the exact length Open
		// yields and the upload can announce it.
		files = append(files, taskip.File{Name: name, ContentType: a.ContentType, Size: a.Size, Open: a.Open})
	}
	return files
}
