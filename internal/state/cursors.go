package state

import "fmt"

// Cursor is how far intake has read a mailbox. The zero Cursor means nothing
// has been read yet (UIDVALIDITY is never 0 on a real server).
type Cursor struct {
	UIDValidity uint32 `json:"uid_validity"`
	LastUID     uint32 `json:"last_uid"`
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
// forward: a LastUID lower than the stored one is ignored, so a late or
// replayed write can never make intake fetch (and re-process) old mail. A
// different UIDVALIDITY means the server renumbered the mailbox, so c
// replaces the cursor outright, even when its LastUID is lower; Message-ID
// dedupe then keeps the re-fetched messages from becoming new tickets.
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
	if found && old.UIDValidity == c.UIDValidity && c.LastUID <= old.LastUID {
		return nil
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
