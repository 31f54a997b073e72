package state

import (
	"fmt"
	"sort"
	"time"
)

// Intent is written before a non-idempotent TaskIP call (create a ticket,
// post a reply) and cleared when its outcome is recorded. One still present
// on start means the daemon stopped between the two: the call may or may not
// have happened, so the flow must reconcile (search TaskIP by subject and
// sender) before it retries, or it would create a duplicate ticket.
type Intent struct {
	Key         string    `json:"key"`  // usually the inbound Message-ID; normalised like one
	Kind        string    `json:"kind"` // create|reply|note|...
	Mailbox     string    `json:"mailbox,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	UIDValidity uint32    `json:"uid_validity,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Sender      string    `json:"sender,omitempty"`
	TicketUUID  string    `json:"ticket_uuid,omitempty"`
	TicketID    int64     `json:"ticket_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"` // kept from the first PutIntent
	Attempts    int       `json:"attempts"`   // owned by the store: 1 on the first PutIntent
	Payload     []byte    `json:"payload,omitempty"`
	// Restored: the intent came back with a restored backup, so the flow
	// that wrote it may have finished it since, mail included.
	Restored bool `json:"restored,omitempty"`
}

// PutIntent records that in is about to be attempted. If an intent with the
// same key exists (a retry, possibly after a crash), in replaces it but keeps
// its CreatedAt, and Attempts becomes the old count plus one, so a flow can
// give up on an intent that keeps failing. in.Attempts is ignored.
func (t *Tx) PutIntent(in Intent) error {
	key, err := normalizeMessageID(in.Key)
	if err != nil {
		return fmt.Errorf("state: put intent: %w", err)
	}
	in.Key = key
	var old Intent
	found, err := t.getJSON(bucketIntents, key, &old)
	if err != nil {
		return fmt.Errorf("state: put intent %s: %w", key, err)
	}
	if found {
		in.Attempts = old.Attempts + 1
		in.CreatedAt = old.CreatedAt
	} else {
		in.Attempts = 1
		if in.CreatedAt.IsZero() {
			in.CreatedAt = t.now()
		}
	}
	in.CreatedAt = in.CreatedAt.UTC()
	if err := t.putJSON(bucketIntents, key, in); err != nil {
		return fmt.Errorf("state: put intent %s: %w", key, err)
	}
	return nil
}

// Intent returns the pending intent for key.
func (t *Tx) Intent(key string) (Intent, bool, error) {
	k, err := normalizeMessageID(key)
	if err != nil {
		return Intent{}, false, fmt.Errorf("state: intent: %w", err)
	}
	var in Intent
	found, err := t.getJSON(bucketIntents, k, &in)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("state: intent %s: %w", k, err)
		}
		return Intent{}, false, err
	}
	in.Key = k
	return in, true, nil
}

// Intents returns every pending intent, oldest first (CreatedAt, then Key),
// which is the order in which they were meant to happen.
func (t *Tx) Intents() ([]Intent, error) {
	b := t.bucket(bucketIntents)
	if b == nil {
		return nil, nil
	}
	var out []Intent
	err := b.ForEach(func(k, v []byte) error {
		var in Intent
		if err := decodeJSON(bucketIntents, k, v, &in); err != nil {
			return err
		}
		in.Key = string(k)
		out = append(out, in)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: intents: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// CompleteIntent records the outcome rec (rec.MessageID defaults to key) and
// deletes the intent in the same transaction.
//
// The atomicity is what makes intake crash-safe. If the two writes were
// separate, a crash between them would leave either an intent whose ticket
// is already recorded (harmless but confusing) or, in the other order, no
// intent and no record: the message would then look new and a second ticket
// would be created. With one transaction the file always shows exactly one
// of "intent pending" (reconcile before retrying) or "message recorded"
// (skip). Completing an intent that no longer exists still records rec, so a
// repeated completion is harmless.
func (t *Tx) CompleteIntent(key string, rec MessageRecord) error {
	k, err := normalizeMessageID(key)
	if err != nil {
		return fmt.Errorf("state: complete intent: %w", err)
	}
	if rec.MessageID == "" {
		rec.MessageID = k
	}
	msgKey, err := normalizeMessageID(rec.MessageID)
	if err != nil {
		return fmt.Errorf("state: complete intent %s: %w", k, err)
	}
	if err := t.recordMessage(msgKey, rec); err != nil {
		return fmt.Errorf("state: complete intent %s: record message %s: %w", k, msgKey, err)
	}
	if err := t.delete(bucketIntents, k); err != nil {
		return fmt.Errorf("state: complete intent %s: %w", k, err)
	}
	return nil
}

// DropIntent deletes an intent without recording an outcome, for work that
// was abandoned (the message went to the failed mailbox). Missing is fine.
func (t *Tx) DropIntent(key string) error {
	k, err := normalizeMessageID(key)
	if err != nil {
		return fmt.Errorf("state: drop intent: %w", err)
	}
	if err := t.delete(bucketIntents, k); err != nil {
		return fmt.Errorf("state: drop intent %s: %w", k, err)
	}
	return nil
}

// PutIntent records an intent in its own transaction; see Tx.PutIntent.
func (s *Store) PutIntent(in Intent) error {
	return s.Update(func(tx *Tx) error { return tx.PutIntent(in) })
}

// Intent returns the pending intent for key.
func (s *Store) Intent(key string) (in Intent, ok bool, err error) {
	err = s.View(func(tx *Tx) error {
		in, ok, err = tx.Intent(key)
		return err
	})
	return in, ok, err
}

// Intents returns every pending intent, oldest first.
func (s *Store) Intents() (all []Intent, err error) {
	err = s.View(func(tx *Tx) error {
		all, err = tx.Intents()
		return err
	})
	return all, err
}

// CompleteIntent records rec and deletes the intent atomically; see
// Tx.CompleteIntent for why that matters.
func (s *Store) CompleteIntent(key string, rec MessageRecord) error {
	return s.Update(func(tx *Tx) error { return tx.CompleteIntent(key, rec) })
}

// DropIntent deletes an intent without recording an outcome.
func (s *Store) DropIntent(key string) error {
	return s.Update(func(tx *Tx) error { return tx.DropIntent(key) })
}

// markIntentsRestored flags every intent as come back with a backup.
func (t *Tx) markIntentsRestored() (int, error) {
	all, err := t.Intents()
	if err != nil {
		return 0, err
	}
	for _, in := range all {
		in.Restored = true
		if err := t.putJSON(bucketIntents, in.Key, in); err != nil {
			return 0, fmt.Errorf("state: mark intent %s restored: %w", in.Key, err)
		}
	}
	return len(all), nil
}
