package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// claimWait is far beyond a Slack reply's TaskIP call with its retries:
// a claim older than this belongs to a flow that is no longer running (the
// process died, or the write's outcome was unknown).
const claimWait = 3 * time.Minute

// finishClaims settles the reply claims Slack flows left behind: those
// from before this watch started (a restart) or older than claimWait. A
// reply TaskIP has is mailed once, as its flow would have; one it does not
// have was never written, and the ticket's thread says so, since the agent
// was never told otherwise. Claims of agents' mail are the intake's, which
// settles them with its intents.
func (w *Watch) finishClaims(ctx context.Context) error {
	if w.cfg.Outbox == nil {
		return nil
	}
	var claims []state.ReplyClaim
	err := w.cfg.Store.View(func(tx *state.Tx) error {
		all, err := tx.ReplyClaims()
		for _, c := range all {
			if c.Origin == state.ReplyFromSlack && (c.Abandoned || c.At.Before(w.started) || w.cfg.Now().Sub(c.At) >= claimWait) {
				claims = append(claims, c)
			}
		}
		return err
	})
	if err != nil || len(claims) == 0 {
		return err
	}
	queued := false
	for _, c := range claims {
		ok, err := w.finishClaim(ctx, c)
		if err != nil {
			return fmt.Errorf("finish reply claim %d on ticket %d: %w", c.ID, c.TicketID, err)
		}
		queued = queued || ok
	}
	if queued {
		w.cfg.Outbox.Wake()
	}
	return nil
}

func (w *Watch) finishClaim(ctx context.Context, c state.ReplyClaim) (bool, error) {
	var ar AgentReply
	if err := json.Unmarshal(c.Work, &ar); err != nil {
		w.log.Warn("unreadable reply claim dropped", "ticket", c.TicketID, "err", err)
		return false, w.cfg.Store.Update(func(tx *state.Tx) error { return tx.SettleReplyClaim(c.TicketID, c.ID) })
	}
	t, err := w.cfg.Tickets.GetTicket(ctx, taskip.ID(c.TicketID))
	switch {
	case errors.Is(err, taskip.ErrNotFound):
		return false, w.cfg.Store.Update(func(tx *state.Tx) error { return tx.SettleReplyClaim(c.TicketID, c.ID) })
	case err != nil:
		return false, err
	}
	ar.Customer, ar.Subject = mime.Address{Name: t.User.Name, Email: t.User.Email}, t.Subject
	replyID, known := c.ReplyID, t.Replies != nil
	var mailed bool
	err = w.cfg.Store.Update(func(tx *state.Tx) error {
		if replyID == 0 && known {
			var err error
			if replyID, err = writtenReply(tx, t, c); err != nil {
				return err
			}
		}
		if err := tx.SettleReplyClaim(c.TicketID, c.ID); err != nil {
			return err
		}
		if replyID == 0 {
			return nil
		}
		ar.ReplyID = replyID
		var err error
		mailed, err = w.cfg.Outbox.Reply(tx, ar)
		return err
	})
	if err != nil {
		return false, err
	}
	switch {
	case replyID != 0:
		w.log.Warn("a Slack reply was not recorded by its flow; recorded now", "ticket", c.TicketID, "reply", replyID, "mailed", mailed)
	default:
		why := "was not saved in TaskIP (ticketsync stopped while sending it)"
		if !known {
			why = "may not have been saved in TaskIP, which does not list replies: check the ticket"
		}
		w.log.Warn("a Slack reply "+why, "ticket", c.TicketID)
		w.tellThread(ctx, c.TicketID, fmt.Sprintf("A reply sent from Slack at %s %s. Nothing was mailed to the customer; please send it again.",
			c.At.UTC().Format("15:04 UTC"), why))
	}
	return mailed, nil
}

// writtenReply finds the claim's reply among the ticket's: an agent's
// reply with its text that nobody recorded or claimed yet. 0 if none.
func writtenReply(tx *state.Tx, t taskip.Ticket, c state.ReplyClaim) (int64, error) {
	for _, r := range t.Replies {
		if r.AuthorType != "team_member" || r.IsPrivate || state.TextSum(r.Message) != c.TextSum {
			continue
		}
		done, err := tx.ReplyMailed(int64(t.ID), int64(r.ID))
		if err != nil {
			return 0, err
		}
		if done {
			continue
		}
		other, err := tx.ReplyClaimed(int64(t.ID), int64(r.ID), "")
		if err != nil {
			return 0, err
		}
		if other != nil && other.ID != c.ID {
			continue
		}
		return int64(r.ID), nil
	}
	return 0, nil
}

// tellThread posts a line in the ticket's Slack thread, when it has one.
func (w *Watch) tellThread(ctx context.Context, ticketID int64, text string) {
	if w.cfg.Chat == nil {
		return
	}
	var th thread
	var ok bool
	err := w.cfg.Store.View(func(tx *state.Tx) (err error) { th, ok, err = tx.Thread(ticketID); return err })
	if err != nil || !ok {
		return
	}
	if _, err := w.cfg.Chat.PostInThread(ctx, th.Channel, th.TS, slack.Message{Text: text}); err != nil {
		w.log.Warn("could not tell the thread", "ticket", ticketID, "err", err)
	}
}
