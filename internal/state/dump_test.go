package state

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestDump(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.SetCursor("INBOX", Cursor{UIDValidity: 3, LastUID: 41}))
	require.NoError(t, s.RecordMessage(MessageRecord{MessageID: "m1@x", TicketUUID: "u-1", TicketID: 5, Action: "created"}))
	require.NoError(t, s.PutIntent(Intent{Key: "m2@x", Kind: "reply", Payload: []byte{0xff, 0x00}}))
	_, err := s.CountSenderTicket("john@acme.com", time.Time{})
	require.NoError(t, err)
	require.NoError(t, s.put(bucketSnapshots, "u-1", map[string]string{"subject": "A <b> & c"}))
	// Something that is not JSON, as an older build or a hand edit might leave.
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketKV)).Put([]byte("raw"), []byte("not json"))
	}))
	require.NoError(t, s.Close())

	ro, err := OpenReadOnly(Config{Path: s.Path(), Now: clk.Now})
	require.NoError(t, err)
	defer ro.Close()
	var buf bytes.Buffer
	require.NoError(t, ro.Dump(&buf))

	require.True(t, json.Valid(buf.Bytes()), buf.String())
	var got map[string]map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	for _, name := range allBuckets {
		assert.Contains(t, got, name)
	}
	assert.Len(t, got, len(allBuckets))

	assert.Equal(t, float64(1), got["meta"]["schema_version"])
	assert.Equal(t, map[string]any{"uid_validity": float64(3), "last_uid": float64(41)}, got["cursors"]["INBOX"])
	assert.Equal(t, "u-1", got["messages"]["m1@x"].(map[string]any)["ticket_uuid"])
	assert.Equal(t, "reply", got["intents"]["m2@x"].(map[string]any)["kind"])
	assert.Len(t, got["sender_rate"]["john@acme.com"], 1, "nested bucket as nested object")
	assert.Equal(t, "not json", got["kv"]["raw"])
	assert.Contains(t, buf.String(), `"A <b> & c"`, "no HTML escaping")
	assert.Contains(t, buf.String(), "\n  \"cursors\": {\n    \"INBOX\": {\n", "indented")
}

func TestDumpEmptyStoreIsValidJSON(t *testing.T) {
	s, _ := newStore(t)
	var buf bytes.Buffer
	require.NoError(t, s.Dump(&buf))
	var got map[string]map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
	assert.Len(t, got, len(allBuckets))
}

// The reply key is made once, kept across restarts, and never dumped.
func TestReplyKeyKeptAndNotDumped(t *testing.T) {
	s, clk := newStore(t)
	k1, err := s.ReplyKey()
	require.NoError(t, err)
	require.Len(t, k1, 32)
	s = reopen(t, s, clk)
	k2, err := s.ReplyKey()
	require.NoError(t, err)
	assert.Equal(t, k1, k2)
	var out bytes.Buffer
	require.NoError(t, s.Dump(&out))
	assert.Contains(t, out.String(), `"reply_key": "(secret, not shown)"`)
	assert.NotContains(t, out.String(), base64.StdEncoding.EncodeToString(k1))
}
