package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type snapshot struct {
	Status   int    `json:"status"`
	Assignee string `json:"assignee,omitempty"`
}

func TestGenericJSON(t *testing.T) {
	s, clk := newStore(t)
	require.NoError(t, s.PutJSON(BucketSnapshots, "u-1", snapshot{Status: 0}))
	require.NoError(t, s.PutJSON(BucketSnapshots, "u-1", snapshot{Status: 2, Assignee: "8"}))
	require.NoError(t, s.PutJSON(BucketSnapshots, "u-2", snapshot{Status: 1}))

	s = reopen(t, s, clk)
	var got snapshot
	ok, err := s.GetJSON(BucketSnapshots, "u-1", &got)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, snapshot{Status: 2, Assignee: "8"}, got, "put replaces")

	ok, err = s.GetJSON(BucketThreads, "u-1", &got)
	require.NoError(t, err)
	assert.False(t, ok, "buckets are separate")

	require.NoError(t, s.Delete(BucketSnapshots, "u-1"))
	require.NoError(t, s.Delete(BucketSnapshots, "u-1"), "deleting a missing key is fine")
	ok, err = s.GetJSON(BucketSnapshots, "u-1", &got)
	require.NoError(t, err)
	assert.False(t, ok)

	var wrong []string
	_, err = s.GetJSON(BucketSnapshots, "u-2", &wrong)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "snapshots/u-2")

	err = s.PutJSON(BucketKV, "bad", make(chan int))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kv/bad")
}

func TestGenericRejectsTypedAndUnknownBuckets(t *testing.T) {
	s, _ := newStore(t)
	for _, b := range []Bucket{"messages", "intents", "meta", "nope", ""} {
		t.Run(string(b), func(t *testing.T) {
			assert.ErrorIs(t, s.PutJSON(b, "k", 1), ErrUnknownBucket)
			_, err := s.GetJSON(b, "k", new(int))
			assert.ErrorIs(t, err, ErrUnknownBucket)
			assert.ErrorIs(t, s.Delete(b, "k"), ErrUnknownBucket)
			assert.ErrorIs(t, s.ForEachJSON(b, func(string, []byte) error { return nil }), ErrUnknownBucket)
			assert.ErrorIs(t, s.Update(func(tx *Tx) error { _, err := tx.NextSequence(b); return err }), ErrUnknownBucket)
		})
	}
	assert.ErrorIs(t, s.PutJSON(BucketKV, "", 1), ErrInvalid)
}

func TestForEachJSONInSequenceOrder(t *testing.T) {
	s, _ := newStore(t)
	// Sequence keys formatted fixed-width are FIFO.
	require.NoError(t, s.Update(func(tx *Tx) error {
		for i := range 12 {
			n, err := tx.NextSequence(BucketSlackEvents)
			if err != nil {
				return err
			}
			if err := tx.PutJSON(BucketSlackEvents, fmt.Sprintf("%020d", n), map[string]int{"i": i}); err != nil {
				return err
			}
		}
		return nil
	}))

	var order []int
	var raws [][]byte
	require.NoError(t, s.ForEachJSON(BucketSlackEvents, func(key string, raw []byte) error {
		var v map[string]int
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		order = append(order, v["i"])
		raws = append(raws, raw)
		return nil
	}))
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, order)
	// Values handed out are copies, still valid after the transaction.
	assert.JSONEq(t, `{"i":11}`, string(raws[11]))

	errStop := errors.New("stop")
	seen := 0
	err := s.ForEachJSON(BucketSlackEvents, func(string, []byte) error {
		seen++
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	assert.Equal(t, 1, seen)
}

// Several flows need a check and a write to be one step, e.g. Slack event_id
// dedupe: claim the id only if nobody has.
func TestTxCheckThenWrite(t *testing.T) {
	s, _ := newStore(t)
	claim := func(eventID string) (bool, error) {
		claimed := false
		err := s.Update(func(tx *Tx) error {
			ok, err := tx.GetJSON(BucketSlackEvents, eventID, new(json.RawMessage))
			if err != nil || ok {
				return err
			}
			claimed = true
			return tx.PutJSON(BucketSlackEvents, eventID, map[string]string{"at": "now"})
		})
		return claimed, err
	}
	first, err := claim("Ev123")
	require.NoError(t, err)
	again, err := claim("Ev123")
	require.NoError(t, err)
	assert.True(t, first)
	assert.False(t, again)
}

func TestForEachJSONPrefix(t *testing.T) {
	s, _ := newStore(t)
	for _, k := range []string{"a:1", "acknowledged:x", "ab:2", "acknowledged:y", "acknowledgedz", "b"} {
		require.NoError(t, s.PutJSON(BucketKV, k, k))
	}
	walk := func(prefix string) []string {
		var keys []string
		require.NoError(t, s.View(func(tx *Tx) error {
			return tx.ForEachJSONPrefix(BucketKV, prefix, func(key string, raw []byte) error {
				var v string
				if err := json.Unmarshal(raw, &v); err != nil || v != key {
					return fmt.Errorf("value of %s: %s", key, raw)
				}
				keys = append(keys, key)
				return nil
			})
		}))
		return keys
	}
	assert.Equal(t, []string{"acknowledged:x", "acknowledged:y"}, walk("acknowledged:"))
	assert.Equal(t, []string{"a:1", "ab:2", "acknowledged:x", "acknowledged:y", "acknowledgedz"}, walk("a"))
	assert.Empty(t, walk("zz"))
	assert.ErrorIs(t, s.View(func(tx *Tx) error {
		return tx.ForEachJSONPrefix("nope", "", func(string, []byte) error { return nil })
	}), ErrUnknownBucket)
}
