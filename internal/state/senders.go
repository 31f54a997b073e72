package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// RateWindow is the span CountSenderTicket counts over.
const RateWindow = time.Hour

type senderRecord struct {
	UserID int64     `json:"user_id"`
	At     time.Time `json:"at"`
}

// LearnSender remembers that email belongs to TaskIP user userID, as seen on
// a ticket. The latest call wins: a contact re-created in TaskIP gets a new id.
func (t *Tx) LearnSender(email string, userID int64) error {
	key, err := normalizeEmail(email)
	if err != nil {
		return fmt.Errorf("state: learn sender: %w", err)
	}
	if userID <= 0 {
		return fmt.Errorf("state: learn sender %s: user id %d: %w", key, userID, ErrInvalid)
	}
	if err := t.putJSON(bucketSenders, key, senderRecord{UserID: userID, At: t.now().UTC()}); err != nil {
		return fmt.Errorf("state: learn sender %s: %w", key, err)
	}
	return nil
}

// ForgetSender drops what was learned for email, once TaskIP refused the id.
func (t *Tx) ForgetSender(email string) error {
	key, err := normalizeEmail(email)
	if err != nil {
		return fmt.Errorf("state: forget sender: %w", err)
	}
	if err := t.delete(bucketSenders, key); err != nil {
		return fmt.Errorf("state: forget sender %s: %w", key, err)
	}
	return nil
}

// SenderUser returns the TaskIP user id learned for email.
func (t *Tx) SenderUser(email string) (int64, bool, error) {
	key, err := normalizeEmail(email)
	if err != nil {
		return 0, false, fmt.Errorf("state: sender user: %w", err)
	}
	var rec senderRecord
	found, err := t.getJSON(bucketSenders, key, &rec)
	if err != nil {
		return 0, false, fmt.Errorf("state: sender user %s: %w", key, err)
	}
	return rec.UserID, found, nil
}

// CountSenderTicket records one ticket from email at time at (zero means
// now) and returns how many the sender has in (at-RateWindow, at], this one
// included. Entries at or before at-RateWindow are deleted as it goes, so a
// sender's bucket stays as small as their rate; Prune removes what is left
// by senders who stopped writing. The loop-guard policy (what count is too
// many) belongs to the caller.
//
// Each sender has a nested bucket keyed by fixed-width time plus a
// sequence, so events are in time order, never collide, and read well in a
// dump.
func (t *Tx) CountSenderTicket(email string, at time.Time) (int, error) {
	key, err := normalizeEmail(email)
	if err != nil {
		return 0, fmt.Errorf("state: count sender ticket: %w", err)
	}
	if at.IsZero() {
		at = t.now()
	}
	n, err := t.countSenderTicket(key, at)
	if err != nil {
		return 0, fmt.Errorf("state: count sender ticket %s: %w", key, err)
	}
	return n, nil
}

// acknowledgementsKey is the rate window of all acknowledgements
// together; no normalised address starts with "@".
const acknowledgementsKey = "@acknowledgements"

// CountAcknowledgement records one acknowledgement at time at (zero means
// now) and returns how many were recorded in (at-RateWindow, at], this one
// included: the window of the global acknowledgement cap.
func (t *Tx) CountAcknowledgement(at time.Time) (int, error) {
	if at.IsZero() {
		at = t.now()
	}
	n, err := t.countSenderTicket(acknowledgementsKey, at)
	if err != nil {
		return 0, fmt.Errorf("state: count acknowledgement: %w", err)
	}
	return n, nil
}

func (t *Tx) countSenderTicket(key string, at time.Time) (int, error) {
	root, err := t.writeBucket(bucketSenderRate)
	if err != nil {
		return 0, err
	}
	b, err := root.CreateBucketIfNotExists([]byte(key))
	if err != nil {
		return 0, err
	}
	lo, hi := timeKey(at.Add(-RateWindow)), timeKey(at)
	n := 1 // the event being recorded
	var stale [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ts := string(k[:min(len(k), len(timeKeyLayout))])
		if ts > hi {
			break // later than at: not in this window, and keys are sorted
		}
		if ts <= lo {
			// Copied: deleting under a live cursor would skip keys.
			stale = append(stale, bytes.Clone(k))
			continue
		}
		n++
	}
	for _, k := range stale {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(at.UTC())
	if err := b.Put(fmt.Appendf(nil, "%s#%016x", hi, seq), raw); err != nil {
		return 0, err
	}
	return n, nil
}

// LearnSender remembers email's TaskIP user id in its own transaction.
func (s *Store) LearnSender(email string, userID int64) error {
	return s.Update(func(tx *Tx) error { return tx.LearnSender(email, userID) })
}

// SenderUser returns the TaskIP user id learned for email.
func (s *Store) SenderUser(email string) (id int64, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		id, ok, err = tx.SenderUser(email)
		return err
	})
	return id, ok, err
}

// CountSenderTicket records a ticket from email and returns the count in the
// last RateWindow; see Tx.CountSenderTicket.
func (s *Store) CountSenderTicket(email string, at time.Time) (n int, err error) {
	err = s.Update(func(tx *Tx) error {
		n, err = tx.CountSenderTicket(email, at)
		return err
	})
	return n, err
}
