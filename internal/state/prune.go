package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultPruneBatch bounds the deletions in one prune transaction. bbolt has
// one writer at a time, so a single huge delete would stall intake for as
// long as it takes and hold every freed page until the end.
const defaultPruneBatch = 1000

// pruneScanFactor bounds how many keys one transaction reads per deletion
// allowed, so a large bucket with little to delete is not scanned in one go
// either.
const pruneScanFactor = 10

// PruneStats says what Prune removed.
type PruneStats struct {
	Messages         int // inbound Message-ID records
	Outbound         int // our outbound Message-IDs
	SenderRate       int // loop-guard rate entries
	OutboxDone       int // closed outbox entries
	Mailed           int // marks of replies already mailed
	Alerts           int // keys of alerts posted or dropped
	Caches           int // acknowledgement times and team-member answers past their use
	SlackEvents      int // Slack event ids past Slack's retries
	ParentClaims     int // claims of Slack parents whose ticket never got a thread
	ThreadPostClaims int // claims of Slack thread posts whose snapshot was never recorded
	Transactions     int // write transactions used
}

// Prune deletes inbound message records, outbound Message-IDs, rate
// entries, closed outbox entries, mailed-reply marks and settled alerts older than
// olderThan, in transactions of at most 1000 deletions. It never touches
// intents (each is unfinished work), open outbox entries (mail still to
// send), cursors (losing one re-reads the mailbox) or learned senders
// (small, and still true), nor the
// generic buckets, whose records have no common notion of age.
//
// A message record pruned this way no longer dedupes its message, so the
// retention must exceed how long a message can stay above the IMAP cursor.
// On error the batches already committed stay committed and the stats
// returned count them.
func (s *Store) Prune(olderThan time.Duration) (PruneStats, error) {
	var st PruneStats
	if s.readOnly {
		return st, fmt.Errorf("state: prune %s: %w", s.path, ErrReadOnly)
	}
	if olderThan <= 0 {
		// Zero would delete every record, almost certainly a config mistake.
		return st, fmt.Errorf("state: prune: retention %s must be positive: %w", olderThan, ErrInvalid)
	}
	cutoff := s.now().Add(-olderThan)
	var err error
	if st.Messages, err = s.pruneByAt(bucketMessages, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketMessages, err)
	}
	if st.Outbound, err = s.pruneByAt(bucketOutbound, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketOutbound, err)
	}
	if st.SenderRate, err = s.pruneRate(cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketSenderRate, err)
	}
	if st.OutboxDone, err = s.pruneByAt(bucketOutboxDone, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketOutboxDone, err)
	}
	if st.Mailed, err = s.pruneByAt(bucketMailed, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketMailed, err)
	}
	if st.Alerts, err = s.pruneByAt(bucketAlertsDone, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketAlertsDone, err)
	}
	if st.Caches, err = s.pruneKV(s.now(), &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketKV, err)
	}
	if st.ParentClaims, err = s.pruneByAt(bucketParentClaims, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketParentClaims, err)
	}
	if st.ThreadPostClaims, err = s.pruneByAt(bucketThreadPostClaims, cutoff, &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketThreadPostClaims, err)
	}
	if st.SlackEvents, err = s.pruneSlackEvents(s.now(), &st.Transactions); err != nil {
		return st, fmt.Errorf("state: prune %s: %w", bucketSlackEvents, err)
	}
	return st, nil
}

// pruneByAt deletes the records of a flat bucket whose "at" is before cutoff,
// resuming each transaction after the last key the previous one examined.
func (s *Store) pruneByAt(bucket string, cutoff time.Time, txs *int) (int, error) {
	deleted := 0
	var after []byte
	for done := false; !done; {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				done = true
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			var victims [][]byte
			var last []byte
			for scanned := 0; k != nil && len(victims) < s.pruneBatch &&
				scanned < s.pruneBatch*pruneScanFactor; k, v = c.Next() {
				scanned++
				last = k
				var rec struct {
					At time.Time `json:"at"`
				}
				// An undecodable value is left for a person to look at.
				if v == nil || json.Unmarshal(v, &rec) != nil {
					continue
				}
				if rec.At.Before(cutoff) {
					victims = append(victims, bytes.Clone(k))
				}
			}
			done = k == nil
			after = bytes.Clone(last)
			for _, key := range victims {
				if err := b.Delete(key); err != nil {
					return err
				}
			}
			n = len(victims)
			return nil
		})
		if err != nil {
			return deleted, err
		}
		deleted += n
		*txs++
	}
	return deleted, nil
}

// pruneRate deletes rate entries before cutoff from every sender's nested
// bucket and removes buckets left empty. A transaction that runs out of
// budget resumes at the same sender, which may have more to delete.
func (s *Store) pruneRate(cutoff time.Time, txs *int) (int, error) {
	cut := timeKey(cutoff)
	deleted := 0
	var from []byte
	for done := false; !done; {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			root := tx.Bucket([]byte(bucketSenderRate))
			if root == nil {
				done = true
				return nil
			}
			// Names first: the nested buckets change below, and a cursor over
			// the parent should not live across that.
			var senders [][]byte
			c := root.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for ; k != nil; k, v = c.Next() {
				if v == nil {
					senders = append(senders, bytes.Clone(k))
				}
			}
			done = true
			for _, sender := range senders {
				b := root.Bucket(sender)
				var old [][]byte
				bc := b.Cursor()
				for ek, _ := bc.First(); ek != nil && n+len(old) < s.pruneBatch; ek, _ = bc.Next() {
					if string(ek[:min(len(ek), len(timeKeyLayout))]) >= cut {
						break
					}
					old = append(old, bytes.Clone(ek))
				}
				for _, ek := range old {
					if err := b.Delete(ek); err != nil {
						return err
					}
				}
				n += len(old)
				if n >= s.pruneBatch {
					from, done = sender, false
					break
				}
				if k, _ := b.Cursor().First(); k == nil {
					if err := root.DeleteBucket(sender); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		deleted += n
		*txs++
	}
	return deleted, nil
}
