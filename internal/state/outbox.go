package state

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// OutboxStatus is where a queued message stands.
type OutboxStatus string

const (
	// OutboxQueued waits for its next attempt.
	OutboxQueued OutboxStatus = "queued"
	// OutboxSending is written just before the end of the data goes to the
	// mail server. Found on start, it means the process died while the
	// server was deciding: the message may have been accepted, so it is
	// not sent again blindly.
	OutboxSending OutboxStatus = "sending"
	// The closed states: the entry has left the queue for good.
	OutboxSent    OutboxStatus = "sent"
	OutboxFailed  OutboxStatus = "failed"
	OutboxUnknown OutboxStatus = "unknown"
)

// Closed reports whether s is a final state.
func (s OutboxStatus) Closed() bool {
	return s == OutboxSent || s == OutboxFailed || s == OutboxUnknown
}

// OutboxEntry is one message in the durable outbox. Message is the
// sender's own description of the mail, opaque to the store; everything
// the store needs to schedule and account for it is beside it.
type OutboxEntry struct {
	Seq         uint64          `json:"seq"`
	MessageID   string          `json:"message_id"`
	Kind        string          `json:"kind"` // acknowledgement, reply, ...
	TicketUUID  string          `json:"ticket_uuid,omitempty"`
	TicketID    int64           `json:"ticket_id,omitempty"`
	Status      OutboxStatus    `json:"status"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	At          time.Time       `json:"at"` // last change; closed entries are pruned by it
	Message     json.RawMessage `json:"message"`
}

func seqKey(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Enqueue adds e to the outbox, due at once, and records its Message-ID as
// ours in the same transaction: a customer's answer to it threads back to
// the ticket even if it is read before the mail left. It returns the entry
// as stored (with Seq).
func (t *Tx) Enqueue(e OutboxEntry) (OutboxEntry, error) {
	if e.MessageID == "" || len(e.Message) == 0 {
		return e, fmt.Errorf("state: enqueue: message id and message are required: %w", ErrInvalid)
	}
	b, err := t.writeBucket(bucketOutbox)
	if err != nil {
		return e, fmt.Errorf("state: enqueue %s: %w", e.MessageID, err)
	}
	if e.Seq, err = b.NextSequence(); err != nil {
		return e, fmt.Errorf("state: enqueue %s: %w", e.MessageID, err)
	}
	now := t.now().UTC()
	e.Status, e.Attempts, e.LastError = OutboxQueued, 0, ""
	e.CreatedAt, e.At, e.NextAttempt = now, now, now
	if err := t.RecordOutbound(e.MessageID, e.TicketUUID, e.TicketID); err != nil {
		return e, err
	}
	if err := t.putJSON(bucketOutbox, seqKey(e.Seq), e); err != nil {
		return e, fmt.Errorf("state: enqueue %s: %w", e.MessageID, err)
	}
	return e, nil
}

// OutboxOpen returns the entries still in the queue, queued or sending, in
// the order they were enqueued.
func (t *Tx) OutboxOpen() ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := t.forEachOutbox(func(e OutboxEntry) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

// OutboxDue returns at most limit queued entries whose next attempt is not
// after now, oldest first, and the earliest next attempt of the queued
// entries not returned (zero when there are none).
func (t *Tx) OutboxDue(now time.Time, limit int) (due []OutboxEntry, next time.Time, err error) {
	waiting := map[string]bool{} // tickets with an earlier entry not due yet
	err = t.forEachOutbox(func(e OutboxEntry) bool {
		if e.Status != OutboxQueued {
			return true
		}
		if e.TicketUUID != "" && waiting[e.TicketUUID] {
			// A customer reads a ticket's mails in the order they were
			// written: this one waits for the one before it.
			return true
		}
		if len(due) < limit && !e.NextAttempt.After(now) {
			due = append(due, e)
			return true
		}
		if e.TicketUUID != "" {
			waiting[e.TicketUUID] = true
		}
		if next.IsZero() || e.NextAttempt.Before(next) {
			next = e.NextAttempt
		}
		return true
	})
	return due, next, err
}

// OutboxDepth counts the open entries.
func (t *Tx) OutboxDepth() int {
	b := t.bucket(bucketOutbox)
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}

func (t *Tx) forEachOutbox(fn func(OutboxEntry) bool) error {
	b := t.bucket(bucketOutbox)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var e OutboxEntry
		if err := decodeJSON(bucketOutbox, k, v, &e); err != nil {
			return fmt.Errorf("state: outbox: %w", err)
		}
		if !fn(e) {
			break
		}
	}
	return nil
}

func (t *Tx) openEntry(seq uint64) (OutboxEntry, error) {
	var e OutboxEntry
	found, err := t.getJSON(bucketOutbox, seqKey(seq), &e)
	if err != nil {
		return e, fmt.Errorf("state: outbox %d: %w", seq, err)
	}
	if !found {
		return e, fmt.Errorf("state: outbox %d is not open: %w", seq, ErrInvalid)
	}
	return e, nil
}

// MarkSending records that the end of entry seq's data is about to be sent.
func (t *Tx) MarkSending(seq uint64) error {
	e, err := t.openEntry(seq)
	if err != nil {
		return err
	}
	if e.Status != OutboxQueued {
		// Two senders on one entry would be a bug that mails twice.
		return fmt.Errorf("state: outbox %d is %s, not queued: %w", seq, e.Status, ErrInvalid)
	}
	e.Status, e.Attempts, e.At = OutboxSending, e.Attempts+1, t.now().UTC()
	return t.putJSON(bucketOutbox, seqKey(seq), e)
}

// Reschedule puts entry seq back in the queue for another attempt at next,
// keeping why this one failed. An attempt that failed before MarkSending
// counts as well.
func (t *Tx) Reschedule(seq uint64, next time.Time, reason string) error {
	e, err := t.openEntry(seq)
	if err != nil {
		return err
	}
	if e.Status == OutboxQueued {
		e.Attempts++
	}
	e.Status, e.NextAttempt, e.LastError, e.At = OutboxQueued, next.UTC(), reason, t.now().UTC()
	return t.putJSON(bucketOutbox, seqKey(seq), e)
}

// CloseOutbox takes entry seq out of the queue with a final status. The
// entry is kept (for `state dump` and duplicate checks) until retention
// prunes it.
func (t *Tx) CloseOutbox(seq uint64, status OutboxStatus, reason string) (OutboxEntry, error) {
	if !status.Closed() {
		return OutboxEntry{}, fmt.Errorf("state: close outbox %d as %q: %w", seq, status, ErrInvalid)
	}
	e, err := t.openEntry(seq)
	if err != nil {
		return e, err
	}
	if e.Status == OutboxQueued && status != OutboxUnknown {
		e.Attempts++ // a failure before MarkSending is an attempt too
	}
	e.Status, e.LastError, e.At = status, reason, t.now().UTC()
	if err := t.putJSON(bucketOutboxDone, seqKey(seq), e); err != nil {
		return e, fmt.Errorf("state: close outbox %d: %w", seq, err)
	}
	if err := t.delete(bucketOutbox, seqKey(seq)); err != nil {
		return e, fmt.Errorf("state: close outbox %d: %w", seq, err)
	}
	return e, nil
}

// OutboxClosed returns a closed entry.
func (t *Tx) OutboxClosed(seq uint64) (OutboxEntry, bool, error) {
	var e OutboxEntry
	found, err := t.getJSON(bucketOutboxDone, seqKey(seq), &e)
	if err != nil {
		return e, false, fmt.Errorf("state: outbox %d: %w", seq, err)
	}
	return e, found, nil
}

type mailedRecord struct {
	Origin string    `json:"origin"`
	At     time.Time `json:"at"`
}

func mailedKey(ticketID, replyID int64) string {
	return strconv.FormatInt(ticketID, 10) + "/" + strconv.FormatInt(replyID, 10)
}

// MarkReplyMailed remembers that TaskIP reply replyID of a ticket was
// mailed to the customer, or must never be (origin says which: a reply
// that came in by mail, one an agent wrote in Slack). A reply seen later
// in TaskIP is then not mailed a second time.
func (t *Tx) MarkReplyMailed(ticketID, replyID int64, origin string) error {
	if ticketID <= 0 || replyID <= 0 {
		return fmt.Errorf("state: mark reply %d/%d: %w", ticketID, replyID, ErrInvalid)
	}
	return t.putJSON(bucketMailed, mailedKey(ticketID, replyID), mailedRecord{Origin: origin, At: t.now().UTC()})
}

// ReplyMailed reports whether MarkReplyMailed saw the reply.
func (t *Tx) ReplyMailed(ticketID, replyID int64) (bool, error) {
	var r mailedRecord
	return t.getJSON(bucketMailed, mailedKey(ticketID, replyID), &r)
}

// Enqueue adds one entry in its own transaction; see Tx.Enqueue.
func (s *Store) Enqueue(e OutboxEntry) (stored OutboxEntry, err error) {
	err = s.Update(func(tx *Tx) error {
		stored, err = tx.Enqueue(e)
		return err
	})
	return stored, err
}

// OutboxDepth counts the open entries.
func (s *Store) OutboxDepth() (n int) {
	_ = s.View(func(tx *Tx) error {
		n = tx.OutboxDepth()
		return nil
	})
	return n
}
