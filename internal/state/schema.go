package state

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this build reads and writes. Bump it only
// together with a new entry in migrations.
const SchemaVersion = 1

// Buckets used by the typed operations. They are not exported so that the
// generic helpers cannot write records that Prune or the typed readers would
// misread.
const (
	bucketMeta         = "meta"
	bucketCursors      = "cursors"
	bucketMessages     = "messages"
	bucketOutbound     = "outbound"
	bucketIntents      = "intents"
	bucketSenders      = "senders"
	bucketSenderRate   = "sender_rate"
	bucketOutbox       = "outbox"        // mail waiting to be sent, by sequence
	bucketOutboxDone   = "outbox_done"   // what became of each, kept for retention
	bucketMailed       = "mailed"        // replies already mailed or never to be
	bucketAlerts       = "alerts"        // lines for the agents' channel, not yet posted
	bucketAlertsDone   = "alerts_done"   // keys of alerts posted or dropped, for dedupe
	bucketReplyClaims  = "reply_claims"  // agents' replies between claim and record
	bucketParentClaims = "parent_claims" // Slack parents between claim and thread record
	// Slack thread posts between claim and snapshot
	bucketThreadPostClaims = "thread_post_claims"
)

var keySchemaVersion = []byte("schema_version")

// allBuckets is every bucket of the current schema, created on Open so that
// no read path has to cope with a missing bucket in a read-write store.
var allBuckets = []string{
	bucketMeta, bucketCursors, bucketMessages, bucketOutbound, bucketIntents,
	bucketSenders, bucketSenderRate,
	bucketOutbox, bucketOutboxDone, bucketMailed, bucketAlerts, bucketAlertsDone, bucketReplyClaims, bucketParentClaims,
	bucketThreadPostClaims,
	bucketSnapshots, bucketThreads, bucketSlackEvents,
	bucketKV,
}

// migrations[n] upgrades a file from version n to n+1. A file without a meta
// bucket is version 0; a brand-new file is one too, so every migration also
// runs on empty files and must be correct there.
var migrations = []func(tx *bolt.Tx) error{
	0: migrateV0,
}

// upgrade brings the file to SchemaVersion inside the caller's transaction,
// so a failing migration leaves the file exactly as it was.
func upgrade(tx *bolt.Tx, path string) error {
	v, err := checkVersion(tx, path)
	if err != nil {
		return err
	}
	for ; v < SchemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("state: %s: migrate schema %d -> %d: %w", path, v, v+1, err)
		}
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("state: %s: create bucket %s: %w", path, name, err)
		}
	}
	raw, _ := json.Marshal(SchemaVersion)
	if err := tx.Bucket([]byte(bucketMeta)).Put(keySchemaVersion, raw); err != nil {
		return fmt.Errorf("state: %s: write schema version: %w", path, err)
	}
	return nil
}

// checkVersion reads the file's schema version and refuses one newer than
// this build, whose data this code could misread or prune.
func checkVersion(tx *bolt.Tx, path string) (int, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 {
		return 0, fmt.Errorf("state: %s: unreadable schema_version %q", path, raw)
	}
	if v > SchemaVersion {
		return 0, fmt.Errorf("state: %s has schema version %d but this ticketsync knows only up to %d; "+
			"run a newer ticketsync or restore a backup of the file: %w", path, v, SchemaVersion, ErrSchemaTooNew)
	}
	return v, nil
}

// migrateV0 upgrades the pre-release layout, which keyed records by the raw
// header values ("<id@host>", "John@Example.COM"), to normalised keys. Where
// both spellings exist the normalised record wins, being the newer one.
func migrateV0(tx *bolt.Tx) error {
	for _, name := range []string{bucketMessages, bucketOutbound, bucketIntents} {
		if err := rekey(tx.Bucket([]byte(name)), normalizeMessageID); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	if err := rekey(tx.Bucket([]byte(bucketSenders)), normalizeEmail); err != nil {
		return fmt.Errorf("bucket %s: %w", bucketSenders, err)
	}
	return nil
}

func rekey(b *bolt.Bucket, norm func(string) (string, error)) error {
	if b == nil {
		return nil
	}
	type kv struct{ k, v []byte }
	var moves []kv
	if err := b.ForEach(func(k, v []byte) error {
		if v == nil { // nested bucket: not part of the v0 layout
			return nil
		}
		if n, _ := norm(string(k)); n != string(k) {
			// Copies: bbolt's memory is invalid once the bucket changes.
			moves = append(moves, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, m := range moves {
		if err := b.Delete(m.k); err != nil {
			return err
		}
		n, err := norm(string(m.k))
		if err != nil || b.Get([]byte(n)) != nil {
			continue // unusable key, or the normalised record already exists
		}
		if err := b.Put([]byte(n), m.v); err != nil {
			return err
		}
	}
	return nil
}
