package state

import (
	"fmt"
	"time"
)

// MessageRecord links an inbound Message-ID to what intake did with it. It is
// both the dedupe key (a message seen again after a UIDVALIDITY reset or a
// crash is skipped) and the threading link for later replies. TicketUUID and
// TicketID are empty for messages that were skipped (loop guard, noise).
type MessageRecord struct {
	MessageID  string    `json:"message_id"`
	TicketUUID string    `json:"ticket_uuid,omitempty"`
	TicketID   int64     `json:"ticket_id,omitempty"`
	Action     string    `json:"action"` // e.g. created, replied, noted, skipped:<reason>
	At         time.Time `json:"at"`     // drives retention; zero means now
}

type outboundRecord struct {
	TicketUUID string    `json:"ticket_uuid,omitempty"`
	TicketID   int64     `json:"ticket_id,omitempty"`
	At         time.Time `json:"at"`
}

// RecordMessage stores rec under its normalised Message-ID, replacing any
// earlier record for it.
func (t *Tx) RecordMessage(rec MessageRecord) error {
	key, err := normalizeMessageID(rec.MessageID)
	if err != nil {
		return fmt.Errorf("state: record message: %w", err)
	}
	if err := t.recordMessage(key, rec); err != nil {
		return fmt.Errorf("state: record message %s: %w", key, err)
	}
	return nil
}

func (t *Tx) recordMessage(key string, rec MessageRecord) error {
	rec.MessageID = key
	if rec.At.IsZero() {
		rec.At = t.now()
	}
	rec.At = rec.At.UTC()
	return t.putJSON(bucketMessages, key, rec)
}

// MessageTicket looks up an inbound Message-ID (with or without brackets).
func (t *Tx) MessageTicket(msgID string) (MessageRecord, bool, error) {
	key, err := normalizeMessageID(msgID)
	if err != nil {
		return MessageRecord{}, false, fmt.Errorf("state: message ticket: %w", err)
	}
	var rec MessageRecord
	found, err := t.getJSON(bucketMessages, key, &rec)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("state: message ticket %s: %w", key, err)
		}
		return MessageRecord{}, false, err
	}
	rec.MessageID = key // the key is authoritative, whatever an old value says
	return rec, true, nil
}

// RecordOutbound remembers a Message-ID we generated, so that a customer's
// reply quoting it in In-Reply-To/References threads to the ticket, and so
// that our own mail coming back is recognised as ours.
func (t *Tx) RecordOutbound(msgID, ticketUUID string, ticketID int64) error {
	key, err := normalizeMessageID(msgID)
	if err != nil {
		return fmt.Errorf("state: record outbound: %w", err)
	}
	if ticketUUID == "" && ticketID <= 0 {
		return fmt.Errorf("state: record outbound %s: no ticket: %w", key, ErrInvalid)
	}
	rec := outboundRecord{TicketUUID: ticketUUID, TicketID: ticketID, At: t.now().UTC()}
	if err := t.putJSON(bucketOutbound, key, rec); err != nil {
		return fmt.Errorf("state: record outbound %s: %w", key, err)
	}
	return nil
}

// OutboundTicket looks up a Message-ID we sent.
func (t *Tx) OutboundTicket(msgID string) (uuid string, id int64, ok bool, err error) {
	key, err := normalizeMessageID(msgID)
	if err != nil {
		return "", 0, false, fmt.Errorf("state: outbound ticket: %w", err)
	}
	var rec outboundRecord
	ok, err = t.getJSON(bucketOutbound, key, &rec)
	if err != nil {
		return "", 0, false, fmt.Errorf("state: outbound ticket %s: %w", key, err)
	}
	return rec.TicketUUID, rec.TicketID, ok, nil
}

// RecordMessage stores rec in its own transaction; see Tx.RecordMessage.
func (s *Store) RecordMessage(rec MessageRecord) error {
	return s.Update(func(tx *Tx) error { return tx.RecordMessage(rec) })
}

// MessageTicket looks up an inbound Message-ID.
func (s *Store) MessageTicket(msgID string) (rec MessageRecord, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		rec, ok, err = tx.MessageTicket(msgID)
		return err
	})
	return rec, ok, err
}

// RecordOutbound remembers a Message-ID we generated; see Tx.RecordOutbound.
func (s *Store) RecordOutbound(msgID, ticketUUID string, ticketID int64) error {
	return s.Update(func(tx *Tx) error { return tx.RecordOutbound(msgID, ticketUUID, ticketID) })
}

// OutboundTicket looks up a Message-ID we sent.
func (s *Store) OutboundTicket(msgID string) (uuid string, id int64, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		uuid, id, ok, err = tx.OutboundTicket(msgID)
		return err
	})
	return uuid, id, ok, err
}
