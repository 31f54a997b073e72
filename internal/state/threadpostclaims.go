package state

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A thread post claim marks a ticket whose changes are being posted in its
// Slack thread. It is committed before the first chat.postMessage of a
// sync and settled by the snapshot that records what the posts showed
// (SetSnapshot removes it in the same commit). A claim found later means
// those posts may have reached Slack with the record of them lost; the
// watch then counts what the claim says was about to be shown as shown,
// so no change line is posted twice.
type threadPostClaim struct {
	At time.Time `json:"at"`
	// Shown is the watch's view of the ticket (its own type) that the
	// posts were to bring the thread up to.
	Shown json.RawMessage `json:"shown"`
}

func threadPostClaimKey(ticketID int64) string { return strconv.FormatInt(ticketID, 10) }

// ClaimThreadPosts records, before the posts, the view of the ticket they
// will show. A later claim replaces an earlier one: the earlier one's
// posts are part of what the later one shows.
func (t *Tx) ClaimThreadPosts(ticketID int64, shown any) error {
	raw, err := json.Marshal(shown)
	if err != nil {
		return fmt.Errorf("state: claim thread posts of ticket %d: %w", ticketID, err)
	}
	c := threadPostClaim{At: t.now().UTC(), Shown: raw}
	if err := t.putJSON(bucketThreadPostClaims, threadPostClaimKey(ticketID), c); err != nil {
		return fmt.Errorf("state: claim thread posts of ticket %d: %w", ticketID, err)
	}
	return nil
}

// ThreadPostClaim reads the view an unsettled claim of the ticket's thread
// posts was to show into shown; ok is false when there is none.
func (t *Tx) ThreadPostClaim(ticketID int64, shown any) (at time.Time, ok bool, err error) {
	var c threadPostClaim
	if ok, err = t.getJSON(bucketThreadPostClaims, threadPostClaimKey(ticketID), &c); err != nil || !ok {
		return time.Time{}, ok, err
	}
	if err := decodeJSON(bucketThreadPostClaims, []byte(threadPostClaimKey(ticketID)), c.Shown, shown); err != nil {
		return time.Time{}, false, err
	}
	return c.At, true, nil
}
