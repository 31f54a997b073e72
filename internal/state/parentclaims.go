package state

import (
	"fmt"
	"strconv"
	"time"
)

// ParentClaim marks a ticket whose Slack parent is being posted. It is
// committed before chat.postMessage and removed with the thread's record
// (SetThread). A claim found later means a post may have reached Slack
// with its answer lost (a crash, a cut connection, a shutdown mid-call):
// the channel's history is searched for it before anything is posted
// again, so a ticket never gets two parents.
type ParentClaim struct {
	TicketID   int64     `json:"ticket_id"`
	TicketUUID string    `json:"ticket_uuid"`
	Channel    string    `json:"channel"`
	At         time.Time `json:"at"`
}

func parentClaimKey(ticketID int64) string { return strconv.FormatInt(ticketID, 10) }

// ClaimParent records c; the claim must be committed before the post.
// A second claim for the same ticket keeps the first one's time, so the
// history search reaches back to the earliest attempt.
func (t *Tx) ClaimParent(c ParentClaim) error {
	if c.TicketID <= 0 || c.Channel == "" {
		return fmt.Errorf("state: claim parent of ticket %d in %q: %w", c.TicketID, c.Channel, ErrInvalid)
	}
	var old ParentClaim
	found, err := t.getJSON(bucketParentClaims, parentClaimKey(c.TicketID), &old)
	if err != nil {
		return fmt.Errorf("state: claim parent of ticket %d: %w", c.TicketID, err)
	}
	if found && old.Channel == c.Channel {
		return nil
	}
	if c.At.IsZero() {
		c.At = t.now().UTC()
	}
	if err := t.putJSON(bucketParentClaims, parentClaimKey(c.TicketID), c); err != nil {
		return fmt.Errorf("state: claim parent of ticket %d: %w", c.TicketID, err)
	}
	return nil
}

// ParentClaim returns the open claim of a ticket's parent, if any.
func (t *Tx) ParentClaim(ticketID int64) (c ParentClaim, ok bool, err error) {
	ok, err = t.getJSON(bucketParentClaims, parentClaimKey(ticketID), &c)
	return c, ok, err
}

// DropParentClaim removes a ticket's claim: the post was refused for good,
// or the history showed it never landed and a new claim follows.
func (t *Tx) DropParentClaim(ticketID int64) error {
	return t.delete(bucketParentClaims, parentClaimKey(ticketID))
}
