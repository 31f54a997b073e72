package state

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Bucket names a bucket of the generic key-value facility. Values are JSON;
// keys iterate in byte order.
type Bucket string

// The generic buckets. The typed ones (cursors, messages, intents, ...) are
// reachable only through their typed methods.
const (
	BucketSnapshots   Bucket = "snapshots"    // ticket snapshots for the Slack watch
	BucketThreads     Bucket = "threads"      // Slack thread ts per ticket
	BucketSlackEvents Bucket = "slack_events" // Slack event_id dedupe
	BucketKV          Bucket = "kv"           // small singletons (watch cursor, baseline flag)
)

func (b Bucket) check() error {
	switch b {
	case BucketSnapshots, BucketThreads, BucketSlackEvents, BucketKV:
		return nil
	}
	return fmt.Errorf("bucket %q: %w", string(b), ErrUnknownBucket)
}

func checkKey(b Bucket, key string) error {
	if err := b.check(); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("empty key: %w", ErrInvalid)
	}
	return nil
}

// PutJSON stores v (JSON-encoded) under key, replacing any previous value.
func (t *Tx) PutJSON(bucket Bucket, key string, v any) error {
	if err := checkKey(bucket, key); err != nil {
		return fmt.Errorf("state: put %s/%s: %w", bucket, key, err)
	}
	if err := t.putJSON(string(bucket), key, v); err != nil {
		return fmt.Errorf("state: put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// GetJSON decodes the value under key into v and reports whether it existed.
func (t *Tx) GetJSON(bucket Bucket, key string, v any) (bool, error) {
	if err := checkKey(bucket, key); err != nil {
		return false, fmt.Errorf("state: get %s/%s: %w", bucket, key, err)
	}
	ok, err := t.getJSON(string(bucket), key, v)
	if err != nil {
		return false, fmt.Errorf("state: get %s/%s: %w", bucket, key, err)
	}
	return ok, nil
}

// Delete removes key; a missing key is not an error.
func (t *Tx) Delete(bucket Bucket, key string) error {
	if err := checkKey(bucket, key); err != nil {
		return fmt.Errorf("state: delete %s/%s: %w", bucket, key, err)
	}
	if err := t.delete(string(bucket), key); err != nil {
		return fmt.Errorf("state: delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ForEachJSON calls fn for every key in byte order with a copy of its raw JSON
// value; an error from fn stops the walk and is returned wrapped. fn must not
// modify the same bucket (bbolt cursors do not survive it): collect keys and
// change them after the walk.
func (t *Tx) ForEachJSON(bucket Bucket, fn func(key string, raw []byte) error) error {
	if err := bucket.check(); err != nil {
		return fmt.Errorf("state: iterate %s: %w", bucket, err)
	}
	b := t.bucket(string(bucket))
	if b == nil {
		return nil
	}
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil
		}
		// A copy, because bbolt's memory is unmapped after the transaction
		// and a retained slice would fault much later and far away.
		return fn(string(k), bytes.Clone(v))
	})
	if err != nil {
		return fmt.Errorf("state: iterate %s: %w", bucket, err)
	}
	return nil
}

// ForEachJSONPrefix is ForEachJSON for the keys that start with prefix,
// found by seeking rather than by walking the whole bucket.
func (t *Tx) ForEachJSONPrefix(bucket Bucket, prefix string, fn func(key string, raw []byte) error) error {
	if err := bucket.check(); err != nil {
		return fmt.Errorf("state: iterate %s: %w", bucket, err)
	}
	b := t.bucket(string(bucket))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if v == nil {
			continue
		}
		if err := fn(string(k), bytes.Clone(v)); err != nil {
			return fmt.Errorf("state: iterate %s: %w", bucket, err)
		}
	}
	return nil
}

// NextSequence returns the bucket's next unique, increasing integer. Format
// it fixed-width (fmt.Sprintf("%020d", n)) to get FIFO keys.
func (t *Tx) NextSequence(bucket Bucket) (uint64, error) {
	if err := bucket.check(); err != nil {
		return 0, fmt.Errorf("state: next sequence %s: %w", bucket, err)
	}
	b, err := t.writeBucket(string(bucket))
	if err != nil {
		return 0, fmt.Errorf("state: next sequence %s: %w", bucket, err)
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("state: next sequence %s: %w", bucket, err)
	}
	return n, nil
}

// PutJSON stores v under key in its own transaction.
func (s *Store) PutJSON(bucket Bucket, key string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.PutJSON(bucket, key, v) })
}

// GetJSON decodes the value under key into v and reports whether it existed.
func (s *Store) GetJSON(bucket Bucket, key string, v any) (found bool, err error) {
	err = s.View(func(tx *Tx) error {
		found, err = tx.GetJSON(bucket, key, v)
		return err
	})
	return found, err
}

// Delete removes key in its own transaction; a missing key is not an error.
func (s *Store) Delete(bucket Bucket, key string) error {
	return s.Update(func(tx *Tx) error { return tx.Delete(bucket, key) })
}

// ForEachJSON walks the bucket in one read transaction. fn must not write to
// the store: a write that grows the file waits for this read to end, which
// would deadlock. Collect what to change and Update afterwards.
func (s *Store) ForEachJSON(bucket Bucket, fn func(key string, raw []byte) error) error {
	return s.View(func(tx *Tx) error { return tx.ForEachJSON(bucket, fn) })
}

// decodeJSON is json.Unmarshal with the bucket and key in the error.
func decodeJSON(bucket string, key []byte, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}
