package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Dump writes the whole store as indented JSON for `ticketsync state dump`:
// one top-level key per bucket, each an object of key -> value, values
// inlined when they are JSON and shown as strings otherwise; nested buckets
// (the per-sender rate windows) become nested objects. Printing everything
// is safe because the store holds no secrets by design (see the package
// comment); it does hold customers' addresses and subjects, so a dump is
// still for the operator's eyes.
//
// It reads one consistent snapshot and holds one bucket in memory at a time.
// Use it on a store from OpenReadOnly, which needs the daemon stopped.
func (s *Store) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := s.View(func(tx *Tx) error {
		if _, err := bw.WriteString("{"); err != nil {
			return err
		}
		sep := "\n"
		err := tx.tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			obj, err := dumpBucket(b)
			if err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			var body bytes.Buffer
			enc := json.NewEncoder(&body)
			// Subjects and snapshots may contain <, > and &; keep them legible.
			enc.SetEscapeHTML(false)
			enc.SetIndent("  ", "  ")
			if err := enc.Encode(obj); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			key, _ := json.Marshal(string(name))
			_, err = fmt.Fprintf(bw, "%s  %s: %s", sep, key, bytes.TrimRight(body.Bytes(), "\n"))
			sep = ",\n"
			return err
		})
		if err != nil {
			return err
		}
		_, err = bw.WriteString("\n}\n")
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("state: dump %s: %w", s.path, err)
	}
	return nil
}

func dumpBucket(b *bolt.Bucket) (map[string]any, error) {
	out := map[string]any{}
	err := b.ForEach(func(k, v []byte) error {
		if bytes.Equal(k, keyReplyKey) {
			out[string(k)] = "(secret, not shown)"
			return nil
		}
		if v == nil {
			sub, err := dumpBucket(b.Bucket(k))
			out[string(k)] = sub
			return err
		}
		if json.Valid(v) {
			// Encoded before the transaction ends, so no copy is needed.
			out[string(k)] = json.RawMessage(v)
		} else {
			out[string(k)] = string(v)
		}
		return nil
	})
	return out, err
}
