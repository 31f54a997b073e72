package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction, handed to the function given to Store.Update or
// Store.View. The typed operations of the Store exist on Tx too, so that a
// flow can commit several of them together (for example CompleteIntent and
// SetCursor for the same message). A Tx is only valid inside that function
// and must not be shared between goroutines.
type Tx struct {
	tx *bolt.Tx
	s  *Store
}

func (t *Tx) now() time.Time { return t.s.now() }

// bucket is nil only in a read-only store whose older schema lacks it;
// readers treat that as empty.
func (t *Tx) bucket(name string) *bolt.Bucket { return t.tx.Bucket([]byte(name)) }

func (t *Tx) writeBucket(name string) (*bolt.Bucket, error) {
	if !t.tx.Writable() {
		return nil, ErrReadOnly
	}
	b := t.bucket(name)
	if b == nil {
		// Open creates every bucket, so this is a bug or a damaged file.
		return nil, fmt.Errorf("bucket %s is missing", name)
	}
	return b, nil
}

func (t *Tx) getJSON(bucket, key string, v any) (bool, error) {
	b := t.bucket(bucket)
	if b == nil {
		return false, nil
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

func (t *Tx) putJSON(bucket, key string, v any) error {
	b, err := t.writeBucket(bucket)
	if err != nil {
		return err
	}
	raw, err := marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return b.Put([]byte(key), raw)
}

// marshal is json.Marshal without HTML escaping: subjects and addresses
// ("<a@b>", "Q&A") then read as written in a dump.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (t *Tx) delete(bucket, key string) error {
	b, err := t.writeBucket(bucket)
	if err != nil {
		return err
	}
	return b.Delete([]byte(key))
}
