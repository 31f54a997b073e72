package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Origins of a reply claim: who wrote the reply, and so who mails it.
const (
	// ReplyFromSlack: an agent's reply from Slack (a thread message or the
	// slash command). The flow that writes it also mails it.
	ReplyFromSlack = "slack"
	// ReplyFromEmail: an agent answered the customer by mail themselves.
	// Nobody mails it again.
	ReplyFromEmail = "email"
)

// ReplyClaim says who owns an agent's reply from before it is written to
// TaskIP until it is recorded (and its mail queued). The ticket watch, which
// sees every reply TaskIP has, mails the ones nobody claimed (made in the
// web app) and leaves the claimed ones to their claimant. A claim has its
// own id, so two equal replies, or the same text on two tickets, are two
// claims.
type ReplyClaim struct {
	ID         uint64 `json:"id"`
	TicketID   int64  `json:"ticket_id"`
	TicketUUID string `json:"ticket_uuid"`
	Origin     string `json:"origin"`
	// TextSum identifies the text, for a reply the watch finds before
	// TaskIP's answer gave its id (ClaimsFor matches by text then).
	TextSum string `json:"text_sum"`
	// ReplyID is TaskIP's id of the reply once the write answered.
	ReplyID int64     `json:"reply_id,omitempty"`
	At      time.Time `json:"at"`
	// Abandoned: the claimant stopped without knowing whether the write
	// landed (its answer was lost); whoever finishes claims need not wait.
	Abandoned bool `json:"abandoned,omitempty"`
	// Work is what finishing the claim after a crash needs (the reply to
	// mail, where to tell the agent), opaque to this package.
	Work json.RawMessage `json:"work,omitempty"`
}

// TextSum is the digest ReplyClaim.TextSum holds for text.
func TextSum(text string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(text)))
	return hex.EncodeToString(sum[:16])
}

func claimKey(ticketID int64, id uint64) string { return fmt.Sprintf("%020d/%020d", ticketID, id) }

// ClaimReply writes c with a new id before the reply's TaskIP write; the
// claim must be committed before that write starts.
func (t *Tx) ClaimReply(c ReplyClaim) (ReplyClaim, error) {
	if c.TicketID <= 0 || (c.Origin != ReplyFromSlack && c.Origin != ReplyFromEmail) {
		return ReplyClaim{}, fmt.Errorf("state: claim reply on ticket %d from %q: %w", c.TicketID, c.Origin, ErrInvalid)
	}
	b, err := t.writeBucket(bucketReplyClaims)
	if err != nil {
		return ReplyClaim{}, fmt.Errorf("state: claim reply: %w", err)
	}
	if c.ID, err = b.NextSequence(); err != nil {
		return ReplyClaim{}, fmt.Errorf("state: claim reply: %w", err)
	}
	if c.At.IsZero() {
		c.At = t.now().UTC()
	}
	if err := t.putJSON(bucketReplyClaims, claimKey(c.TicketID, c.ID), c); err != nil {
		return ReplyClaim{}, fmt.Errorf("state: claim reply: %w", err)
	}
	return c, nil
}

// SetClaimedReplyID records TaskIP's id of a claimed reply, as soon as the
// write answered: from then on the watch matches the reply by its id.
func (t *Tx) SetClaimedReplyID(ticketID int64, id uint64, replyID int64) error {
	var c ReplyClaim
	found, err := t.getJSON(bucketReplyClaims, claimKey(ticketID, id), &c)
	if err != nil || !found {
		return err
	}
	c.ReplyID = replyID
	return t.putJSON(bucketReplyClaims, claimKey(ticketID, id), c)
}

// AbandonReplyClaim marks a claim its claimant cannot finish: the write's
// outcome is unknown, so someone must look in TaskIP.
func (t *Tx) AbandonReplyClaim(ticketID int64, id uint64) error {
	var c ReplyClaim
	found, err := t.getJSON(bucketReplyClaims, claimKey(ticketID, id), &c)
	if err != nil || !found {
		return err
	}
	c.Abandoned = true
	return t.putJSON(bucketReplyClaims, claimKey(ticketID, id), c)
}

// SettleReplyClaim ends a claim: the reply is recorded and its mail queued
// (or known to need none), or it was never written.
func (t *Tx) SettleReplyClaim(ticketID int64, id uint64) error {
	if err := t.delete(bucketReplyClaims, claimKey(ticketID, id)); err != nil {
		return fmt.Errorf("state: settle reply claim %d/%d: %w", ticketID, id, err)
	}
	return nil
}

// ReplyClaimed reports the claim that owns TaskIP reply replyID of a
// ticket with text: the claim with that reply id, else an older claim
// whose write has not answered yet and whose text is the same. nil when
// nobody claimed it.
func (t *Tx) ReplyClaimed(ticketID, replyID int64, text string) (*ReplyClaim, error) {
	claims, err := t.ticketClaims(ticketID)
	if err != nil {
		return nil, err
	}
	sum := TextSum(text)
	var byText *ReplyClaim
	for i := range claims {
		c := &claims[i]
		if c.ReplyID == replyID && replyID > 0 {
			return c, nil
		}
		if c.ReplyID == 0 && c.TextSum == sum && byText == nil {
			byText = c
		}
	}
	return byText, nil
}

func (t *Tx) ticketClaims(ticketID int64) ([]ReplyClaim, error) {
	b := t.bucket(bucketReplyClaims)
	if b == nil {
		return nil, nil
	}
	prefix := []byte(fmt.Sprintf("%020d/", ticketID))
	var out []ReplyClaim
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rc ReplyClaim
		if err := decodeJSON(bucketReplyClaims, k, v, &rc); err != nil {
			return nil, fmt.Errorf("state: reply claims of ticket %d: %w", ticketID, err)
		}
		out = append(out, rc)
	}
	return out, nil
}

// ReplyClaims lists every claim, oldest first within each ticket: after a
// restart, those a flow left behind.
func (t *Tx) ReplyClaims() ([]ReplyClaim, error) {
	b := t.bucket(bucketReplyClaims)
	if b == nil {
		return nil, nil
	}
	var out []ReplyClaim
	err := b.ForEach(func(k, v []byte) error {
		var rc ReplyClaim
		if err := decodeJSON(bucketReplyClaims, k, v, &rc); err != nil {
			return err
		}
		out = append(out, rc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: reply claims: %w", err)
	}
	return out, nil
}
