package state

import "fmt"

// Cursor is how far intake has read a mailbox. The zero Cursor means nothing
// has been read yet (UIDVALIDITY is never 0 on a real server).
//
// Mail at or below LastUID is handled, except the UIDs in Pending: on the
// first look at a mailbox the cursor starts at its top, and the few messages
// already there that are still to be imported wait in Pending, ascending.
// Everything else below LastUID is history, left alone.
type Cursor struct {
	UIDValidity uint32   `json:"uid_validity"`
	LastUID     uint32   `json:"last_uid"`
	Pending     []uint32 `json:"pending,omitempty"`
}

// HandledThrough is the UID up to which every message is handled or
// history: the cursor's own position, or just before its first pending
// import.
func (c Cursor) HandledThrough() uint32 {
	if len(c.Pending) > 0 {
		return c.Pending[0] - 1
	}
	return c.LastUID
}

// advance is c after the mail up to uid is handled: the pending UIDs up to
// it are done, and LastUID never moves back.
func (c Cursor) advance(uid uint32) Cursor {
	i := 0
	for i < len(c.Pending) && c.Pending[i] <= uid {
		i++
	}
	if i > 0 {
		c.Pending = append([]uint32(nil), c.Pending[i:]...)
	}
	if len(c.Pending) == 0 {
		c.Pending = nil
	}
	c.LastUID = max(c.LastUID, uid)
	return c
}

// Cursor returns the stored cursor for mailbox, or the zero Cursor.
func (t *Tx) Cursor(mailbox string) (Cursor, error) {
	key, err := normalizeMailbox(mailbox)
	if err != nil {
		return Cursor{}, fmt.Errorf("state: cursor %q: %w", mailbox, err)
	}
	var c Cursor
	if _, err := t.getJSON(bucketCursors, key, &c); err != nil {
		return Cursor{}, fmt.Errorf("state: cursor %s: %w", key, err)
	}
	return c, nil
}

// SetCursor stores c for mailbox. Within one UIDVALIDITY cursors only move
// forward: c.LastUID says the mail up to it is handled, which also settles
// the stored cursor's Pending UIDs up to it, and a LastUID lower than the
// stored one never moves it back, so a late or replayed write can never make
// intake fetch (and re-process) old mail; c.Pending is then ignored. A
// different UIDVALIDITY (or no stored cursor) means a new start: c replaces
// the cursor outright, Pending included; Message-ID dedupe keeps re-fetched
// messages from becoming new tickets.
func (t *Tx) SetCursor(mailbox string, c Cursor) error {
	key, err := normalizeMailbox(mailbox)
	if err != nil {
		return fmt.Errorf("state: set cursor %q: %w", mailbox, err)
	}
	if c.UIDValidity == 0 {
		return fmt.Errorf("state: set cursor %s: zero UIDVALIDITY: %w", key, ErrInvalid)
	}
	var old Cursor
	found, err := t.getJSON(bucketCursors, key, &old)
	if err != nil {
		return fmt.Errorf("state: set cursor %s: %w", key, err)
	}
	if found && old.UIDValidity == c.UIDValidity {
		next := old.advance(c.LastUID)
		if next.LastUID == old.LastUID && len(next.Pending) == len(old.Pending) {
			return nil
		}
		c = next
	}
	if err := t.putJSON(bucketCursors, key, c); err != nil {
		return fmt.Errorf("state: set cursor %s: %w", key, err)
	}
	return nil
}

// Cursor returns the stored cursor for mailbox, or the zero Cursor.
func (s *Store) Cursor(mailbox string) (c Cursor, err error) {
	err = s.View(func(tx *Tx) error {
		c, err = tx.Cursor(mailbox)
		return err
	})
	return c, err
}

// SetCursor stores c for mailbox; see Tx.SetCursor for the forward-only rule.
func (s *Store) SetCursor(mailbox string, c Cursor) error {
	return s.Update(func(tx *Tx) error { return tx.SetCursor(mailbox, c) })
}
