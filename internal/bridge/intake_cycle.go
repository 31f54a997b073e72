package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
)

// item is one message on its way through a batch.
type item struct {
	env   imap.Envelope
	key   string // dedupe key: Message-ID, or a digest for mail without one
	msg   *mime.Message
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
	// freshView: the ticket was not read but taken from the answer to its
	// create moments ago (freshTickets); a refusal that a changed ticket
	// explains is then retried after a real read, not quarantined.
	freshView bool

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
	// unknown: the TaskIP write may have landed (its answer was lost). The
	// intent and any reply claim stay for reconciliation to settle.
	unknown
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
	in.fresh.reset()
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
		if it.outcome == pending || it.outcome == unknown {
			return false
		}
	}
	return true
}
