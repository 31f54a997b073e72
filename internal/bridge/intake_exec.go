package bridge

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// intentPayload is what reconciliation needs to find out whether a write
// landed before a crash.
type intentPayload struct {
	Action           mapping.Action `json:"action"`
	ReplyCountBefore int            `json:"reply_count_before"`
	// Mail is the sender's side of the conversation and Acknowledge whether
	// a new ticket from it gets an acknowledgement; reconciliation needs
	// both to finish what a crash interrupted.
	Mail        conversation `json:"mail"`
	Acknowledge bool         `json:"acknowledge,omitempty"`
	// Files is how many attachments follow the write: reconciliation
	// fetches the mail again only when it has some.
	Files int `json:"files,omitempty"`
	// Claim is the reply claim of an agent's answer by mail, settled
	// with the intent.
	Claim uint64 `json:"claim,omitempty"`
}

// writeIntents decides each prepared message and, in one transaction, writes
// an intent for every one that will write to TaskIP (the intent is
// committed before the call). The sender's hourly count is taken in the same transaction.
func (in *Intake) writeIntents(validity uint32, items []*item) error {
	return in.cfg.Store.Update(func(tx *state.Tx) error { return in.writeIntentsTx(tx, validity, items) })
}

func (in *Intake) writeIntentsTx(tx *state.Tx, validity uint32, items []*item) error {
	now := in.cfg.Now()
	for _, it := range items {
		if it.outcome != pending {
			continue
		}
		if it.ictx.Ticket == nil {
			// A message retried after a crash, a transient failure or
			// a shutdown keeps the place it was counted at; counting
			// it again would push its sender over the loop guard and
			// drop the mail as rate limited.
			n, counted, err := tx.CountedTicket(it.key)
			if err != nil {
				return err
			}
			if !counted {
				if n, err = tx.CountSenderTicket(it.email.FromEmail, now); err != nil {
					return err
				}
				if err := tx.SetCountedTicket(it.key, n); err != nil {
					return err
				}
			}
			it.ictx.TicketsFromSender = n
		}
		it.act = mapping.DecideIntake(it.email, it.ictx)
		if it.act.Kind == mapping.ActSkip {
			it.outcome, it.reason = skipped, it.act.Reason
			continue
		}
		if agentAnswer(it.act) {
			// An agent's answer by mail is theirs to send: the claim,
			// committed with the intent before the TaskIP write, keeps
			// the watch from taking it for a web-app reply and mailing
			// it to the customer.
			claim, err := tx.ClaimReply(state.ReplyClaim{TicketID: it.act.Ticket.ID, TicketUUID: it.act.Ticket.UUID,
				Origin: state.ReplyFromEmail, TextSum: state.TextSum(it.act.Text)})
			if err != nil {
				return err
			}
			it.claim = claim.ID
		}
		stored := it.act
		if stored.Kind == mapping.ActCreate {
			// Reconciliation finds a create by the key in its
			// description, never by the text: leaving the body out
			// keeps two fsynced commits per batch small.
			stored.Description = ""
		}
		files := 0
		if it.msg != nil {
			files = len(it.msg.Attachments)
		}
		it.ack = in.acknowledges(it)
		payload, err := json.Marshal(intentPayload{Action: stored, ReplyCountBefore: it.replyCountBefore,
			Mail: it.conversation(), Acknowledge: it.ack, Files: files, Claim: it.claim})
		if err != nil {
			return err
		}
		intent := state.Intent{
			Key: it.key, Kind: string(it.act.Kind), Mailbox: in.cfg.Mailbox, UID: it.env.UID, UIDValidity: validity,
			Subject: it.email.Subject, Sender: it.email.FromEmail, Payload: payload,
		}
		if t := it.act.Ticket; t != nil {
			intent.TicketUUID, intent.TicketID = t.UUID, t.ID
		}
		if err := tx.PutIntent(intent); err != nil {
			return err
		}
	}
	return nil
}

// executeAll makes the TaskIP writes. The mails of one conversation (one
// sender, or one ticket) are written one after another in UID order, so a
// reply never overtakes what it answers; different conversations overlap,
// up to WriteConcurrency at once, which hides TaskIP's round trip when a
// backlog drains. A transient failure stops every conversation from
// starting another write (the writes in flight finish), so the next cycle
// resumes at the first unwritten mail; a permanent one quarantines its
// mail and the batch goes on.
func (in *Intake) executeAll(ctx, work context.Context, items []*item) error {
	lanes := conversationsOf(items)
	if len(lanes) == 0 {
		return nil
	}
	width := min(in.cfg.WriteConcurrency, len(lanes))
	var (
		stopped atomic.Bool
		mu      sync.Mutex
		errs    []error
		wg      sync.WaitGroup
		next    = make(chan []*item)
	)
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lane := range next {
				for _, it := range lane {
					if ctx.Err() != nil || stopped.Load() {
						break // shutdown or a failure: unstarted mail waits for the next cycle
					}
					if err := in.executeItem(work, it); err != nil {
						stopped.Store(true)
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for _, lane := range lanes {
		if ctx.Err() != nil || stopped.Load() {
			break
		}
		next <- lane
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// executeItem writes one mail and sets its outcome; the error is a
// transient failure that stops the batch.
func (in *Intake) executeItem(work context.Context, it *item) error {
	err := in.execute(work, it)
	switch {
	case err == nil:
		it.outcome = done
		in.metrics.actions.WithLabelValues(string(it.act.Kind)).Inc()
	case it.freshView && it.act.Ticket != nil && errors.Is(err, taskip.ErrConflict):
		// Decided on the create's answer, and the ticket has changed
		// since (an agent closed it): the next cycle reads it and
		// decides again.
		in.fresh.touched(it.act.Ticket.ID)
		return fmt.Errorf("uid %d: ticket changed since it was made: %w", it.env.UID, err)
	case taskip.IsPermanent(err):
		it.outcome, it.reason = quarantined, err.Error()
		in.log.Error("email can never be imported; quarantined", "uid", it.env.UID, "err", err)
	default:
		if errors.Is(err, taskip.ErrOutcomeUnknown) {
			// Keep the intent: the next cycle reconciles before retrying.
			it.outcome, it.reason = unknown, err.Error()
		}
		return fmt.Errorf("uid %d: %w", it.env.UID, err)
	}
	return nil
}

// conversationsOf groups the items still to be written into conversations:
// items sharing a sender or a ticket, directly or through another item,
// are one conversation, kept in UID order. Conversations are ordered by
// their first mail, so the oldest mail is started first.
func conversationsOf(items []*item) [][]*item {
	parent := map[string]string{}
	var find func(string) string
	find = func(k string) string {
		p, ok := parent[k]
		if !ok || p == k {
			parent[k] = k
			return k
		}
		root := find(p)
		parent[k] = root
		return root
	}
	union := func(a, b string) { parent[find(a)] = find(b) }
	keysOf := func(it *item) []string {
		keys := []string{"sender:" + strings.ToLower(it.email.FromEmail)}
		if t := it.act.Ticket; t != nil {
			keys = append(keys, fmt.Sprintf("ticket:%d", t.ID))
		}
		return keys
	}
	var todo []*item
	var senders []string // each todo item's first key
	for _, it := range items {
		if it.outcome != pending {
			continue
		}
		keys := keysOf(it)
		todo, senders = append(todo, it), append(senders, keys[0])
		for _, k := range keys[1:] {
			union(k, keys[0])
		}
	}
	var lanes [][]*item
	index := map[string]int{}
	for i, it := range todo {
		root := find(senders[i])
		i, ok := index[root]
		if !ok {
			i = len(lanes)
			index[root] = i
			lanes = append(lanes, nil)
		}
		lanes[i] = append(lanes[i], it)
	}
	return lanes
}

// execute performs the action's writes. The main write decides the outcome;
// attachments and extra notes follow, and their failures become a note or a
// log line instead of blocking the mailbox.
func (in *Intake) execute(ctx context.Context, it *item) error {
	a := it.act
	switch a.Kind {
	case mapping.ActCreate:
		f := taskip.TicketFields{Subject: &a.Subject, Description: &a.Description, Priority: &a.Priority}
		if a.UserID != 0 {
			f.UserID = ptr(taskip.ID(a.UserID))
		}
		if a.CreatedBy != 0 {
			f.CreatedBy = ptr(taskip.ID(a.CreatedBy))
		}
		t, err := in.cfg.Tickets.CreateTicket(ctx, f)
		if err != nil && f.UserID != nil && taskip.RefusesField(err, "user_id") {
			// The id came from something remembered (a learned sender, the
			// contact directory, a senders entry) that outlived the contact.
			// The mail is still the customer's: it becomes a ticket for the
			// default user rather than a quarantined message.
			in.log.Warn("customer id refused by TaskIP; ticket made for the default user", "uid", it.env.UID, "user_id", a.UserID)
			it.userRefused = true
			f.UserID = nil
			if d := in.cfg.DefaultUserID; d != 0 && d != a.UserID {
				f.UserID = ptr(taskip.ID(d))
			}
			in.contacts.drop()
			t, err = in.cfg.Tickets.CreateTicket(ctx, f)
		}
		if err != nil {
			return fmt.Errorf("create ticket for %s: %w", it.key, err)
		}
		it.ticket = mapping.Ticket{ID: int64(t.ID), UUID: t.UUID, Status: t.Status, CustomerEmail: t.User.Email}
		in.fresh.created(t, in.cfg.Now())
		if in.cfg.Events != nil {
			in.cfg.Events.TicketCreated(t, it.conversation().Opening())
		}
	case mapping.ActReopenReply:
		in.fresh.touched(a.Ticket.ID)
		if _, err := in.cfg.Tickets.SetStatus(ctx, a.Ticket.UUID, a.ReopenTo, ""); err != nil {
			return fmt.Errorf("reopen ticket %d for %s: %w", a.Ticket.ID, it.key, err)
		}
		fallthrough
	case mapping.ActReply:
		in.fresh.touched(a.Ticket.ID)
		it.ticket = *a.Ticket
		r, err := in.cfg.Tickets.AddReply(ctx, taskip.ID(a.Ticket.ID), taskip.AddReplyFields{
			Message: a.Text, AuthorType: a.AuthorType, NotifyClient: ptr(false),
		})
		if err != nil {
			return fmt.Errorf("reply to ticket %d for %s: %w", a.Ticket.ID, it.key, err)
		}
		it.replyID = int64(r.ID)
	case mapping.ActNote:
		in.fresh.touched(a.Ticket.ID)
		it.ticket = *a.Ticket
		_, err := in.cfg.Tickets.AddNote(ctx, a.Ticket.UUID, a.Text)
		if errors.Is(err, taskip.ErrConflict) && a.Ticket.Status == taskip.StatusClosed && a.NoReopen {
			// Mail from an unverified sender reopens nothing; the
			// quarantine and its alert bring it before a person.
			return fmt.Errorf("note on closed ticket %d for %s, from an unverified sender that may not reopen it: %w", a.Ticket.ID, it.key, err)
		}
		if errors.Is(err, taskip.ErrConflict) && a.Ticket.Status == taskip.StatusClosed {
			// TaskIP takes nothing on a closed ticket. Mail about one is
			// news for the agents (like a customer's reply, it reopens the
			// ticket) rather than something for the failed mailbox.
			if _, err := in.cfg.Tickets.SetStatus(ctx, a.Ticket.UUID, taskip.StatusOpen, ""); err != nil {
				return fmt.Errorf("reopen ticket %d for %s: %w", a.Ticket.ID, it.key, err)
			}
			_, err = in.cfg.Tickets.AddNote(ctx, a.Ticket.UUID, a.Text)
		}
		if err != nil {
			return fmt.Errorf("note on ticket %d for %s: %w", a.Ticket.ID, it.key, err)
		}
	default:
		return fmt.Errorf("unknown action %q", a.Kind)
	}
	if a.Kind != mapping.ActCreate && in.cfg.Events != nil {
		in.cfg.Events.TicketChanged(taskip.ID(it.ticket.ID))
	}
	in.followUps(ctx, it)
	return nil
}

// followUps uploads the attachments and adds the extra notes.
func (in *Intake) followUps(ctx context.Context, it *item) {
	notes := append([]string(nil), it.act.ExtraNotes...)
	if it.msg != nil && len(it.msg.Attachments) > 0 {
		files := attachmentFiles(it.msg)
		if _, err := in.cfg.Tickets.UploadAttachments(ctx, taskip.ID(it.ticket.ID), files, "from email "+it.key); err != nil {
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.Name
			}
			in.log.Warn("attachments not uploaded", "ticket", it.ticket.ID, "err", err)
			notes = append(notes, fmt.Sprintf("Attachments of the email from %s could not be uploaded (%s): %s. The original email stays in the support mailbox.",
				it.email.FromEmail, strings.Join(names, ", "), err))
		}
	}
	for _, n := range notes {
		if _, err := in.cfg.Tickets.AddNote(ctx, it.ticket.UUID, n); err != nil {
			in.log.Warn("note not added", "ticket", it.ticket.ID, "err", err)
		}
	}
}

// completeTx records every outcome in tx: the Message-ID links of
// done messages (clearing their intents), skips and failures, and drops the
// intents of messages that were never attempted.
func (in *Intake) completeTx(tx *state.Tx, items []*item) error {
	now := in.cfg.Now()
	for _, it := range items {
		rec := state.MessageRecord{MessageID: it.key, At: now}
		var err error
		switch it.outcome {
		case done:
			rec.TicketUUID, rec.TicketID, rec.Action = it.ticket.UUID, it.ticket.ID, string(it.act.Kind)
			if err = tx.CompleteIntent(it.key, rec); err == nil && it.ticket.UUID != "" {
				err = tx.SetTicketID(it.ticket.UUID, it.ticket.ID)
			}
			switch {
			case err != nil || it.act.Kind != mapping.ActCreate:
			case it.userRefused:
				err = tx.ForgetSender(it.email.FromEmail)
			case it.act.UserID != 0 && it.act.UserID != in.cfg.DefaultUserID:
				// The catch-all is nobody's own contact: learning it would
				// keep the sender there after an agent makes them one.
				err = tx.LearnSender(it.email.FromEmail, it.act.UserID)
			}
			if err == nil {
				err = in.recordMail(tx, it.act, it.ticket, it.replyID, it.conversation(), it.ack)
			}
		case skipped:
			in.metrics.skipped.WithLabelValues(it.reason).Inc()
			rec.Action = "skip:" + it.reason
			err = tx.RecordMessage(rec)
		case quarantined:
			in.metrics.quarantined.Inc()
			rec.Action = "failed"
			if err = tx.RecordMessage(rec); err == nil {
				err = tx.DropIntent(it.key)
			}
			if err == nil {
				// Queued with the record: a restart that sees the mail
				// again finds it recorded and alerts nobody twice.
				err = in.cfg.Alerts.Queue(tx, "quarantined:"+it.key, mapping.QuarantineAlert(mapping.QuarantinedMail{
					From: it.email.FromEmail, Subject: it.email.Subject, Reason: it.reason,
					Folder: in.cfg.FailedMailbox, Mailbox: in.cfg.Mailbox,
				}))
			}
		case pending:
			if it.key != "" {
				err = tx.DropIntent(it.key)
			}
		case unknown:
			// The intent and the claim stay for reconciliation.
		}
		if err == nil && it.outcome != unknown {
			err = settleClaim(tx, it.act, it.claim)
		}
		if err == nil && it.outcome != pending && it.outcome != unknown && it.key != "" {
			err = tx.ForgetCountedTicket(it.key)
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", it.key, err)
		}
	}
	return nil
}

// recordMail keeps what outbound mail needs of a done message, in the
// transaction that records it: the customer's latest mail (our next one
// answers it), the acknowledgement of a new ticket, and a mark on a reply
// that came in by mail so it is never mailed out again.
func (in *Intake) recordMail(tx *state.Tx, a mapping.Action, t mapping.Ticket, replyID int64, c conversation, ack bool) error {
	if t.UUID == "" {
		return nil
	}
	if replyID > 0 && t.ID > 0 {
		if err := tx.MarkReplyMailed(t.ID, replyID, "email"); err != nil {
			return err
		}
	}
	switch {
	case a.Kind == mapping.ActCreate:
		c = c.Opening()
		if err := noteCustomerMail(tx, t.UUID, c); err != nil {
			return err
		}
		if ack {
			return in.cfg.Outbox.Acknowledge(tx, t, c)
		}
	case (a.Kind == mapping.ActReply || a.Kind == mapping.ActReopenReply) && a.AuthorType == "client":
		return noteCustomerMail(tx, t.UUID, c)
	}
	return nil
}

// conversation is the sender's side of the message.
func (it *item) conversation() conversation {
	return conversation{Name: it.email.FromName, Email: it.email.FromEmail, MessageID: it.email.MessageID,
		References: it.email.References, Subject: it.email.Subject}
}

// agentAnswer reports an agent's answer to the customer by mail, which
// holds a reply claim while in flight.
func agentAnswer(a mapping.Action) bool {
	return (a.Kind == mapping.ActReply || a.Kind == mapping.ActReopenReply) && a.AuthorType == "team_member" && a.Ticket != nil
}

// settleClaim ends the reply claim of an agent's answer by mail.
func settleClaim(tx *state.Tx, a mapping.Action, claim uint64) error {
	if claim == 0 || a.Ticket == nil {
		return nil
	}
	return tx.SettleReplyClaim(a.Ticket.ID, claim)
}

// markAll marks handled messages in the mailbox, in order, and returns how
// many leading items are handled so the cursor can move past them. Runs of
// processed messages are marked with one command.
func (in *Intake) markAll(ctx context.Context, items []*item) (int, error) {
	var run []uint32
	flush := func() error {
		err := in.cfg.Inbox.MarkProcessedSet(ctx, run)
		run = run[:0]
		return err
	}
	for i, it := range items {
		switch it.outcome {
		case pending, unknown:
			if err := flush(); err != nil {
				return 0, err
			}
			return i, nil
		case quarantined:
			if err := flush(); err != nil {
				return 0, err
			}
			if err := in.cfg.Inbox.Quarantine(ctx, it.env.UID); err != nil {
				return i, fmt.Errorf("quarantine uid %d: %w", it.env.UID, err)
			}
		default:
			run = append(run, it.env.UID)
		}
		// One line per mail, so the log alone tells what became of each.
		log := in.log
		if it.auth != nil {
			log = log.With("sender_auth", cmp.Or(string(it.auth.Verdict), "none"))
		}
		log.Info("email handled", "uid", it.env.UID, "outcome", it.outcomeName(), "ticket", it.ticket.ID)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return len(items), nil
}

func (it *item) outcomeName() string {
	switch it.outcome {
	case seen:
		return "seen"
	case skipped:
		return "skipped:" + it.reason
	case done:
		return string(it.act.Kind)
	case quarantined:
		return "quarantined"
	case unknown:
		return "unknown"
	}
	return "pending"
}

func ptr[T any](v T) *T { return &v }
