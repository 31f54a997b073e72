package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// reconcile settles intents left by a crash or by a write whose outcome was
// unknown: if the write is found in TaskIP the message is recorded as done
// (the next listing then only marks it processed); otherwise the intent is
// dropped and the message is processed afresh. This is what keeps a crash
// from creating a second ticket.
func (in *Intake) reconcile(ctx context.Context) error {
	intents, err := in.cfg.Store.Intents()
	if err != nil || len(intents) == 0 {
		return err
	}
	for _, intent := range intents {
		var p intentPayload
		if err := json.Unmarshal(intent.Payload, &p); err != nil {
			in.log.Warn("dropping unreadable intent", "key", intent.Key, "err", err)
			if err := in.cfg.Store.DropIntent(intent.Key); err != nil {
				return err
			}
			continue
		}
		t, replyID, found, err := in.findWrite(ctx, intent, p)
		if err != nil {
			return fmt.Errorf("intent %s: %w", intent.Key, err)
		}
		if !found {
			in.log.Info("unfinished write not found in TaskIP; the email will be processed again", "key", intent.Key, "kind", intent.Kind)
			err := in.cfg.Store.Update(func(tx *state.Tx) error {
				if err := tx.DropIntent(intent.Key); err != nil {
					return err
				}
				return settleClaim(tx, p.Action, p.Claim)
			})
			if err != nil {
				return err
			}
			continue
		}
		in.log.Info("unfinished write found in TaskIP; recording it", "key", intent.Key, "kind", intent.Kind, "ticket", t.ID)
		if err := in.finishFollowUps(ctx, intent, p, t); err != nil {
			return fmt.Errorf("intent %s: %w", intent.Key, err)
		}
		err = in.cfg.Store.Update(func(tx *state.Tx) error {
			rec := state.MessageRecord{MessageID: intent.Key, TicketUUID: t.UUID, TicketID: t.ID, Action: intent.Kind, At: in.cfg.Now()}
			if err := tx.CompleteIntent(intent.Key, rec); err != nil {
				return err
			}
			if err := tx.ForgetCountedTicket(intent.Key); err != nil {
				return err
			}
			if err := tx.SetTicketID(t.UUID, t.ID); err != nil {
				return err
			}
			if err := settleClaim(tx, p.Action, p.Claim); err != nil {
				return err
			}
			// An intent restored with a backup may have been finished, and
			// its acknowledgement sent, after the backup: none is queued.
			return in.recordMail(tx, p.Action, t, replyID, p.Mail, p.Acknowledge && !intent.Restored)
		})
		if err != nil {
			return err
		}
		in.cfg.Outbox.Wake()
	}
	return nil
}

// finishFollowUps does what the interrupted write left undone: the mail's
// attachments and extra notes (execute's followUps). What already reached
// the ticket, by file name and by note text, is not written twice. A mail
// no longer in the mailbox leaves a note saying its files may be missing.
func (in *Intake) finishFollowUps(ctx context.Context, intent state.Intent, p intentPayload, t mapping.Ticket) error {
	if p.Files == 0 && len(p.Action.ExtraNotes) == 0 {
		return nil
	}
	// Like execute's follow-ups these are best effort: a transient error
	// is retried with the intent, anything else is logged, so one ticket
	// TaskIP will not take them for never holds up the mailbox.
	giveUp := func(err error) error {
		if taskip.IsPermanent(err) {
			in.log.Warn("follow-ups of an interrupted write not finished", "key", intent.Key, "ticket", t.ID, "err", err)
			return nil
		}
		return err
	}
	it := &item{key: intent.Key, act: p.Action, ticket: t, email: mapping.Email{FromEmail: p.Mail.Email}}
	if len(p.Action.ExtraNotes) > 0 {
		full, err := in.cfg.Tickets.GetTicket(ctx, taskip.ID(t.ID))
		if err != nil {
			return giveUp(err)
		}
		it.act.ExtraNotes = slices.DeleteFunc(slices.Clone(p.Action.ExtraNotes), func(n string) bool {
			return slices.ContainsFunc(full.Notes, func(have taskip.Note) bool { return strings.TrimSpace(have.Note) == strings.TrimSpace(n) })
		})
	}
	if p.Files > 0 {
		msg, err := in.refetch(ctx, intent)
		if err != nil {
			return err
		}
		defer func() { _ = msg.Cleanup() }()
		if msg == nil {
			it.act.ExtraNotes = append(it.act.ExtraNotes, fmt.Sprintf(
				"%d attachment(s) of the email from %s may be missing: its import was interrupted and the email could not be found again in the support mailbox.",
				p.Files, p.Mail.Email))
		} else {
			have, err := in.cfg.Tickets.ListAttachments(ctx, taskip.ID(t.ID))
			if err != nil {
				return giveUp(err)
			}
			msg.Attachments = slices.DeleteFunc(msg.Attachments, func(a mime.Attachment) bool {
				return slices.ContainsFunc(have.Attachments, func(h taskip.Attachment) bool {
					return (h.OriginalFilename == a.Filename || h.Filename == a.Filename) && h.FileSize == a.Size
				})
			})
			it.msg = msg
		}
	}
	in.followUps(ctx, it)
	return nil
}

// refetch reads an intent's mail again; nil when it is no longer where the
// intent saw it. The mailbox is listed at that UID first: after a
// UIDVALIDITY change the same UID may be another mail.
func (in *Intake) refetch(ctx context.Context, intent state.Intent) (*mime.Message, error) {
	if intent.Mailbox != in.cfg.Mailbox || intent.UID == 0 {
		return nil, nil
	}
	envs, status, err := in.cfg.Inbox.List(ctx, intent.UID-1, 1)
	if err != nil {
		return nil, fmt.Errorf("list uid %d again: %w", intent.UID, err)
	}
	if status.UIDValidity != intent.UIDValidity || len(envs) == 0 || envs[0].UID != intent.UID ||
		(envs[0].MessageID != "" && state.NormalizeMessageID(envs[0].MessageID) != intent.Key) {
		return nil, nil
	}
	var msg *mime.Message
	var perr error
	opts := mime.ParseOptions{MaxMessageBytes: in.cfg.MaxMessageBytes, SpoolDir: in.cfg.SpoolDir}
	missing, err := in.cfg.Inbox.FetchMany(ctx, []uint32{intent.UID}, func(_ uint32, r io.Reader) error {
		msg, perr = mime.Parse(r, opts)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fetch uid %d again: %w", intent.UID, err)
	}
	if len(missing) > 0 || msg == nil {
		return nil, nil
	}
	if perr != nil && len(msg.Attachments) == 0 {
		_ = msg.Cleanup()
		return nil, nil
	}
	return msg, nil
}

// findWrite looks for the effect of an intent in TaskIP. replyID is the
// reply found, when the server lists replies.
func (in *Intake) findWrite(ctx context.Context, intent state.Intent, p intentPayload) (ticket mapping.Ticket, replyID int64, found bool, err error) {
	a := p.Action
	if a.Kind == mapping.ActCreate {
		ticket, found, err = in.findCreated(ctx, intent.Key)
		return ticket, 0, found, err
	}
	if a.Ticket == nil {
		return mapping.Ticket{}, 0, false, nil
	}
	t, err := in.cfg.Tickets.GetTicket(ctx, taskip.ID(a.Ticket.ID))
	if errors.Is(err, taskip.ErrNotFound) {
		return mapping.Ticket{}, 0, false, nil
	}
	if err != nil {
		return mapping.Ticket{}, 0, false, err
	}
	switch a.Kind {
	case mapping.ActReply, mapping.ActReopenReply:
		if t.Replies != nil {
			for _, r := range t.Replies {
				if strings.TrimSpace(r.Message) == strings.TrimSpace(a.Text) {
					found, replyID = true, int64(r.ID)
				}
			}
		} else {
			// Without the replies themselves the count is the only evidence.
			found = t.ReplyCount > p.ReplyCountBefore
		}
	case mapping.ActNote:
		// A server that does not list notes leaves no evidence; the note is
		// written again, preferring a duplicate note to a lost one.
		for _, n := range t.Notes {
			found = found || strings.TrimSpace(n.Note) == strings.TrimSpace(a.Text)
		}
	}
	return *a.Ticket, replyID, found, nil
}

// findCreated searches for the ticket whose description carries the
// message's key (the footer written by mapping.DecideIntake).
func (in *Intake) findCreated(ctx context.Context, key string) (mapping.Ticket, bool, error) {
	page, err := in.cfg.Tickets.ListTickets(ctx, taskip.ListParams{Search: key, Sort: "created_at", Order: "desc", Limit: 20})
	if err != nil {
		return mapping.Ticket{}, false, err
	}
	for _, t := range page.Tickets {
		if strings.Contains(t.Description, key) {
			return mapping.Ticket{ID: int64(t.ID), UUID: t.UUID, Status: t.Status, CustomerEmail: t.User.Email}, true, nil
		}
	}
	return mapping.Ticket{}, false, nil
}
