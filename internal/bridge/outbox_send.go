package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
)

// Run sends queued mail until ctx ends; the delivery in progress then
// finishes (docs/architecture.md, "The daemon"). Entries a crash left in the middle of their end of
// data are settled first.
func (o *Outbox) Run(ctx context.Context) error {
	if err := o.settleInterrupted(ctx); err != nil {
		return err
	}
	const batch = 64
	for {
		o.commitFailing = false
		o.recordSent()
		due, _, err := o.due(batch)
		if err != nil {
			return err
		}
		held := map[string]bool{} // tickets whose earlier mail waits for a retry
		for _, e := range due {
			if ctx.Err() != nil {
				return nil
			}
			if held[e.TicketUUID] {
				continue // the customer gets a ticket's mails in order
			}
			stop, retry := o.attempt(ctx, e)
			if stop {
				break
			}
			if retry && e.TicketUUID != "" {
				held[e.TicketUUID] = true
			}
		}
		if len(due) == batch {
			continue
		}
		_, next, err := o.due(0)
		if err != nil {
			return err
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(o.cfg.Now()), 0))
		}
		if o.commitFailing || len(o.sentUnrecorded) > 0 {
			wait = commitRetry
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-o.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// recordSent retries the records of mails sent whose commit failed.
func (o *Outbox) recordSent() {
	left := o.sentUnrecorded[:0]
	for _, e := range o.sentUnrecorded {
		if _, err := o.closeEntry(e, state.OutboxSent, ""); err != nil {
			left = append(left, e)
		}
	}
	o.sentUnrecorded = left
}

func (o *Outbox) due(limit int) (due []state.OutboxEntry, next time.Time, err error) {
	err = o.cfg.Store.View(func(tx *state.Tx) error {
		o.metrics.depth.Set(float64(tx.OutboxDepth()))
		due, next, err = tx.OutboxDue(o.cfg.Now(), limit)
		return err
	})
	if err != nil {
		err = fmt.Errorf("outbox: read queue: %w", err)
	}
	return due, next, err
}

// settleInterrupted closes entries a crash left between "the end of data
// is being sent" and "the server answered". The server most likely took
// them, so they are not sent again; agents are told to check.
func (o *Outbox) settleInterrupted(ctx context.Context) error {
	var open []state.OutboxEntry
	if err := o.cfg.Store.View(func(tx *state.Tx) (err error) { open, err = tx.OutboxOpen(); return err }); err != nil {
		return fmt.Errorf("outbox: read queue: %w", err)
	}
	for _, e := range open {
		if e.Status != state.OutboxSending {
			continue
		}
		o.close(ctx, e, state.OutboxUnknown, "ticketsync stopped while the mail server was accepting this mail")
	}
	return nil
}

// attempt delivers one entry and records the outcome. It reports whether
// the rest of the batch should wait (the server is unreachable) and
// whether this entry waits for a retry.
func (o *Outbox) attempt(ctx context.Context, e state.OutboxEntry) (stop, retry bool) {
	var m outboxMessage
	if err := json.Unmarshal(e.Message, &m); err != nil {
		o.close(ctx, e, state.OutboxFailed, "unreadable outbox entry: "+err.Error())
		return false, false
	}
	// The delivery in progress runs to its end even when shutdown begins:
	// cutting it after the data would leave its outcome unknown.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.AttemptTimeout)
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(o.cfg.DrainTimeout, cancel) })
	defer stopDrain()
	start := time.Now()
	err := o.cfg.Mailer.Deliver(work, o.outgoing(work, e, m), func() error {
		return o.cfg.Store.Update(func(tx *state.Tx) error { return tx.MarkSending(e.Seq) })
	})
	o.metrics.duration.WithLabelValues(outcomeLabel(err)).Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		if _, cerr := o.closeEntry(e, state.OutboxSent, ""); cerr != nil {
			// Still "sending" in state, so it is not sent again; the
			// record is retried (recordSent), and a restart meanwhile
			// settles it as unknown.
			o.log.Error("mail sent but not recorded; recording it again", "message_id", e.MessageID, "err", cerr)
			o.sentUnrecorded = append(o.sentUnrecorded, e)
		}
		o.metrics.sent.WithLabelValues(e.Kind).Inc()
		o.log.Info("mail sent", "kind", e.Kind, "ticket", e.TicketID, "message_id", e.MessageID)
		return false, false
	case errors.Is(err, smtp.ErrOutcomeUnknown):
		o.close(ctx, e, state.OutboxUnknown, err.Error())
		return false, false
	case errors.Is(err, smtp.ErrPermanent):
		o.close(ctx, e, state.OutboxFailed, err.Error())
		return false, false
	}
	if errors.Is(err, state.ErrCommit) {
		// "sending" could not be recorded, so the server was hung up on
		// before the end of data: nothing went out. Nothing can be
		// rescheduled either; the queue waits for the disk.
		o.log.Warn("mail not sent: the state file refuses writes; retrying", "kind", e.Kind, "ticket", e.TicketID, "err", err)
		o.commitFailing = true
		return true, true
	}
	if o.cfg.Now().Sub(e.CreatedAt) >= o.cfg.GiveUpAfter {
		o.close(ctx, e, state.OutboxFailed, fmt.Sprintf("gave up after %s: %s", o.cfg.GiveUpAfter, err))
		return false, false
	}
	next := o.cfg.Now().Add(o.backoff(e.Attempts + 1))
	if rerr := o.cfg.Store.Update(func(tx *state.Tx) error { return tx.Reschedule(e.Seq, next, err.Error()) }); rerr != nil {
		o.log.Error("mail retry not recorded", "message_id", e.MessageID, "err", rerr)
	}
	o.metrics.retries.Inc()
	o.log.Warn("mail not sent; will retry", "kind", e.Kind, "ticket", e.TicketID, "retry_at", next, "err", err)
	var se *smtp.SendError
	// A refused recipient concerns one message; no server (or a server
	// refusing every command) concerns the whole queue.
	return !errors.As(err, &se) || se.Code == 0 || se.Code == 421 || se.Op == "connect" || se.Op == "auth", true
}

func (o *Outbox) outgoing(ctx context.Context, e state.OutboxEntry, m outboxMessage) mime.Outgoing {
	out := mime.Outgoing{
		From: m.From, To: m.To, ReplyTo: m.ReplyTo, Subject: m.Subject, MessageID: e.MessageID,
		InReplyTo: m.InReplyTo, References: m.References, Text: m.Text, TicketUUID: e.TicketUUID,
		AutoReply: m.AutoReply, Date: m.Date,
	}
	for _, f := range m.Files {
		if o.cfg.Files == nil {
			break
		}
		url := f.URL
		out.Attachments = append(out.Attachments, mime.OutgoingFile{Name: f.Name, ContentType: f.ContentType,
			Open: func() (io.ReadCloser, error) { return o.cfg.Files.OpenFile(ctx, url) }})
	}
	return out
}

func outcomeLabel(err error) string {
	switch {
	case err == nil:
		return "sent"
	case errors.Is(err, smtp.ErrPermanent):
		return "permanent"
	case errors.Is(err, smtp.ErrOutcomeUnknown):
		return "unknown"
	}
	return "transient"
}

// backoff is the wait before attempt n (n ≥ 2): doubling from MinBackoff,
// capped at MaxBackoff, jittered so a queue does not retry in step.
func (o *Outbox) backoff(n int) time.Duration {
	return retry.Delay(o.cfg.MinBackoff, o.cfg.MaxBackoff, n-1, rand.Float64())
}

func (o *Outbox) closeEntry(e state.OutboxEntry, status state.OutboxStatus, reason string) (state.OutboxEntry, error) {
	var closed state.OutboxEntry
	err := o.cfg.Store.Update(func(tx *state.Tx) (err error) {
		closed, err = tx.CloseOutbox(e.Seq, status, reason)
		return err
	})
	return closed, err
}

// close ends an entry that was not delivered (or may not have been), counts
// it and tells the agents in the ticket's thread.
func (o *Outbox) close(ctx context.Context, e state.OutboxEntry, status state.OutboxStatus, reason string) {
	if _, err := o.closeEntry(e, status, reason); err != nil {
		o.log.Error("mail outcome not recorded", "message_id", e.MessageID, "err", err)
		return
	}
	o.metrics.failed.WithLabelValues(e.Kind, string(status)).Inc()
	o.log.Error("mail not delivered", "kind", e.Kind, "ticket", e.TicketID, "message_id", e.MessageID, "status", status, "reason", reason)
	o.tellAgents(ctx, e, status, reason)
}

func (o *Outbox) tellAgents(ctx context.Context, e state.OutboxEntry, status state.OutboxStatus, reason string) {
	if o.cfg.Threads == nil || e.TicketID == 0 {
		return
	}
	var th thread
	var ok bool
	if err := o.cfg.Store.View(func(tx *state.Tx) (err error) { th, ok, err = tx.Thread(e.TicketID); return err }); err != nil || !ok {
		return
	}
	var m outboxMessage
	_ = json.Unmarshal(e.Message, &m)
	text := mapping.UndeliveredMailText(e.Kind, m.To.Email, status == state.OutboxUnknown, reason)
	post, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := o.cfg.Threads.PostInThread(post, th.Channel, th.TS, slack.Message{Text: text, TicketUUID: e.TicketUUID}); err != nil {
		o.log.Warn("undelivered mail not reported in Slack", "ticket", e.TicketID, "err", err)
	}
}
