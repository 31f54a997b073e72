package state

import (
	"crypto/rand"
	"fmt"
)

// keyReplyKey names the meta record holding the key that signs reply
// addresses (address+<uuid>.<token>@domain). It is the one secret the state
// file holds: Dump leaves it out.
var keyReplyKey = []byte("reply_key")

// replyKeyBytes is the HMAC key's length: SHA-256's block-sized strength.
const replyKeyBytes = 32

// ReplyKey returns the key that signs reply addresses, made at random the
// first time. Losing it (a new state file) makes older reply addresses
// plain ones again: replies to them still thread, without the token's
// proof.
func (s *Store) ReplyKey() ([]byte, error) {
	var key []byte
	err := s.Update(func(tx *Tx) error {
		b, err := tx.writeBucket(bucketMeta)
		if err != nil {
			return err
		}
		if v := b.Get(keyReplyKey); len(v) == replyKeyBytes {
			key = append([]byte(nil), v...)
			return nil
		}
		key = make([]byte, replyKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return b.Put(keyReplyKey, key)
	})
	if err != nil {
		return nil, fmt.Errorf("state: reply key: %w", err)
	}
	return key, nil
}
