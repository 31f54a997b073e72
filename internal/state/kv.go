package state

import (
	"encoding/json"
	"fmt"
)

// Buckets of the flows' own records (records.go): each is reached only
// through its typed methods, which build its keys.
const (
	bucketSnapshots   = "snapshots"    // the ticket watch's view of each ticket
	bucketThreads     = "threads"      // Slack thread per ticket, and ticket per thread
	bucketSlackEvents = "slack_events" // Slack event_id dedupe
	bucketKV          = "kv"           // conversations, ticket ids by uuid, caches, the watch cursor
)

// decodeJSON is json.Unmarshal with the bucket and key in the error.
func decodeJSON(bucket string, key []byte, raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}
