package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
		t, found, err := in.findWrite(ctx, intent, p)
		if err != nil {
			return fmt.Errorf("intent %s: %w", intent.Key, err)
		}
		if !found {
			in.log.Info("unfinished write not found in TaskIP; the email will be processed again", "key", intent.Key, "kind", intent.Kind)
			if err := in.cfg.Store.DropIntent(intent.Key); err != nil {
				return err
			}
			continue
		}
		in.log.Info("unfinished write found in TaskIP; recording it", "key", intent.Key, "kind", intent.Kind, "ticket", t.ID)
		err = in.cfg.Store.Update(func(tx *state.Tx) error {
			rec := state.MessageRecord{MessageID: intent.Key, TicketUUID: t.UUID, TicketID: t.ID, Action: intent.Kind, At: in.cfg.Now()}
			if err := tx.CompleteIntent(intent.Key, rec); err != nil {
				return err
			}
			if err := tx.Delete(state.BucketKV, rateKey(intent.Key)); err != nil {
				return err
			}
			if err := tx.PutJSON(state.BucketKV, uuidKey(t.UUID), t.ID); err != nil {
				return err
			}
			return in.recordMail(tx, p.Action, t, 0, p.Mail, p.Acknowledge)
		})
		if err != nil {
			return err
		}
		in.cfg.Outbox.Wake()
	}
	return nil
}

// findWrite looks for the effect of an intent in TaskIP.
func (in *Intake) findWrite(ctx context.Context, intent state.Intent, p intentPayload) (mapping.Ticket, bool, error) {
	a := p.Action
	if a.Kind == mapping.ActCreate {
		return in.findCreated(ctx, intent.Key)
	}
	if a.Ticket == nil {
		return mapping.Ticket{}, false, nil
	}
	t, err := in.cfg.Tickets.GetTicket(ctx, taskip.ID(a.Ticket.ID))
	if errors.Is(err, taskip.ErrNotFound) {
		return mapping.Ticket{}, false, nil
	}
	if err != nil {
		return mapping.Ticket{}, false, err
	}
	found := false
	switch a.Kind {
	case mapping.ActReply, mapping.ActReopenReply:
		if t.Replies != nil {
			for _, r := range t.Replies {
				found = found || strings.TrimSpace(r.Message) == strings.TrimSpace(a.Text)
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
	return *a.Ticket, found, nil
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
