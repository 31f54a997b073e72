package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The records of the flows that live in the shared buckets: each has its
// key built here, next to its typed methods and its retention (see
// docs/architecture.md, "What ticketsync remembers").

// Conversation is the mail side of a ticket: who the customer writes from
// and the message our next mail answers, so it lands in the same thread of
// their mail client.
type Conversation struct {
	Name       string   `json:"name,omitempty"`
	Email      string   `json:"email"`
	MessageID  string   `json:"message_id,omitempty"`
	References []string `json:"references,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	// Opener is whose mail opened the ticket. Email follows the customer
	// to whatever address they answer from; the opener stays theirs.
	Opener     string `json:"opener,omitempty"`
	OpenerName string `json:"opener_name,omitempty"`
}

// Opening is the conversation of the mail that opens a ticket.
func (c Conversation) Opening() Conversation {
	c.Opener, c.OpenerName = c.Email, c.Name
	return c
}

// Requester is whose mail opened the ticket. A ticket opened in the web
// app has none; its customer's latest mail stands in.
func (c Conversation) Requester() (name, email string) {
	if c.Opener != "" {
		return c.OpenerName, c.Opener
	}
	return c.Name, c.Email
}

// Thread answers the customer's latest mail: In-Reply-To and References.
func (c Conversation) Thread() (inReplyTo string, refs []string) {
	if c.MessageID == "" {
		return "", nil
	}
	refs = append(append([]string(nil), c.References...), c.MessageID)
	return c.MessageID, refs
}

func conversationKey(uuid string) string { return "conversation:" + strings.ToLower(uuid) }

// Conversation reads a ticket's conversation; ok is false for a ticket
// that never had mail.
func (t *Tx) Conversation(uuid string) (c Conversation, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, conversationKey(uuid), &c)
	return c, ok, err
}

// NoteCustomerMail records the customer's latest mail on a ticket, keeping
// who opened it unless c names the opener itself.
func (t *Tx) NoteCustomerMail(uuid string, c Conversation) error {
	if c.Opener == "" {
		old, _, err := t.Conversation(uuid)
		if err != nil {
			return err
		}
		c.Opener, c.OpenerName = old.Opener, old.OpenerName
	}
	return t.putJSON(bucketKV, conversationKey(uuid), c)
}

func uuidKey(uuid string) string { return "ticket-uuid:" + strings.ToLower(uuid) }

// TicketID maps a ticket uuid to its id, as remembered.
func (t *Tx) TicketID(uuid string) (id int64, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, uuidKey(uuid), &id)
	return id, ok, err
}

// SetTicketID remembers a ticket's id by its uuid: mail and Slack name
// tickets by uuid, the API wants ids.
func (t *Tx) SetTicketID(uuid string, id int64) error {
	return t.putJSON(bucketKV, uuidKey(uuid), id)
}

// Thread is a ticket's Slack thread: its parent message.
type Thread struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// ThreadTicket names the ticket of a thread.
type ThreadTicket struct {
	ID   int64  `json:"id"`
	UUID string `json:"uuid"`
}

func threadByTicketKey(ticketID int64) string { return strconv.FormatInt(ticketID, 10) }
func threadByTSKey(channel, ts string) string { return "ts:" + channel + ":" + ts }

// Thread returns the ticket's Slack thread.
func (t *Tx) Thread(ticketID int64) (th Thread, ok bool, err error) {
	ok, err = t.getJSON(bucketThreads, threadByTicketKey(ticketID), &th)
	return th, ok, err
}

// SetThread links a ticket and its thread both ways, and settles the
// claim its parent's post was made under.
func (t *Tx) SetThread(tt ThreadTicket, th Thread) error {
	if err := t.putJSON(bucketThreads, threadByTicketKey(tt.ID), th); err != nil {
		return err
	}
	if err := t.delete(bucketParentClaims, parentClaimKey(tt.ID)); err != nil {
		return err
	}
	return t.putJSON(bucketThreads, threadByTSKey(th.Channel, th.TS), tt)
}

// ThreadTicket returns the ticket whose thread is the message ts.
func (t *Tx) ThreadTicket(channel, ts string) (tt ThreadTicket, ok bool, err error) {
	ok, err = t.getJSON(bucketThreads, threadByTSKey(channel, ts), &tt)
	return tt, ok, err
}

// Snapshot reads the watch's last view of a ticket into v (the watch's
// own type).
func (t *Tx) Snapshot(ticketID int64, v any) (bool, error) {
	return t.getJSON(bucketSnapshots, strconv.FormatInt(ticketID, 10), v)
}

// SetSnapshot stores the watch's view of a ticket, and settles the claim
// of the thread posts that showed it (ClaimThreadPosts).
func (t *Tx) SetSnapshot(ticketID int64, v any) error {
	if err := t.putJSON(bucketSnapshots, strconv.FormatInt(ticketID, 10), v); err != nil {
		return err
	}
	return t.delete(bucketThreadPostClaims, threadPostClaimKey(ticketID))
}

// DeleteSnapshot forgets a ticket the watch saw deleted.
func (t *Tx) DeleteSnapshot(ticketID int64) error {
	if err := t.delete(bucketSnapshots, strconv.FormatInt(ticketID, 10)); err != nil {
		return err
	}
	return t.delete(bucketThreadPostClaims, threadPostClaimKey(ticketID))
}

// SnapshotIDs lists the tickets the watch has a view of. Records whose
// key is not a ticket id (written by an older build) are removed.
func (t *Tx) SnapshotIDs() ([]int64, error) {
	b := t.bucket(bucketSnapshots)
	if b == nil {
		return nil, nil
	}
	var ids []int64
	var junk [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		id, err := strconv.ParseInt(string(k), 10, 64)
		if err != nil {
			junk = append(junk, bytes.Clone(k))
			return nil
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.tx.Writable() {
		for _, k := range junk {
			if err := b.Delete(k); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// WatchCursor is how far the ticket watch has read TaskIP.
type WatchCursor struct {
	UpdatedAt time.Time `json:"updated_at"`
	Baseline  bool      `json:"baseline"`
	// RelinkSince, set by a restore, has the next baseline look in the
	// channel's history from then on for the threads of tickets the
	// restored file has no thread for.
	RelinkSince time.Time `json:"relink_since,omitzero"`
}

const watchCursorKey = "watch:cursor"

// WatchCursor returns the watch's cursor; zero before its first run.
func (t *Tx) WatchCursor() (c WatchCursor, err error) {
	_, err = t.getJSON(bucketKV, watchCursorKey, &c)
	return c, err
}

// SetWatchCursor stores the watch's cursor.
func (t *Tx) SetWatchCursor(c WatchCursor) error { return t.putJSON(bucketKV, watchCursorKey, c) }

func countedKey(msgKey string) string { return "rate-counted:" + msgKey }

// CountedTicket is the sender count a message was given when its intent
// was written, so a retried message is not counted twice.
func (t *Tx) CountedTicket(msgKey string) (n int, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, countedKey(msgKey), &n)
	return n, ok, err
}

// SetCountedTicket keeps a message's sender count until it is settled.
func (t *Tx) SetCountedTicket(msgKey string, n int) error {
	return t.putJSON(bucketKV, countedKey(msgKey), n)
}

// ForgetCountedTicket drops a settled message's sender count.
func (t *Tx) ForgetCountedTicket(msgKey string) error { return t.delete(bucketKV, countedKey(msgKey)) }

func acknowledgedKey(email string) string { return "acknowledged:" + strings.ToLower(email) }

// LastAcknowledged is when the sender was last acknowledged.
func (t *Tx) LastAcknowledged(email string) (at time.Time, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, acknowledgedKey(email), &at)
	return at, ok, err
}

// SetAcknowledged records an acknowledgement to email at at.
func (t *Tx) SetAcknowledged(email string, at time.Time) error {
	return t.putJSON(bucketKV, acknowledgedKey(email), at.UTC())
}

// MemberCache is a cached answer to "is this a TaskIP team member":
// MemberID 0 means no.
type MemberCache struct {
	MemberID int64     `json:"member_id"`
	At       time.Time `json:"at"`
}

func teamMemberKey(email string) string  { return "agent:" + strings.ToLower(email) }
func slackAgentKey(userID string) string { return "slack-agent:" + userID }

// TeamMemberByEmail is the cached team-member answer for a mail sender.
func (t *Tx) TeamMemberByEmail(email string) (m MemberCache, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, teamMemberKey(email), &m)
	return m, ok, err
}

// SetTeamMemberByEmail caches the team-member answer for a mail sender.
func (t *Tx) SetTeamMemberByEmail(email string, m MemberCache) error {
	return t.putJSON(bucketKV, teamMemberKey(email), m)
}

// TeamMemberBySlackUser is the cached team-member answer for a Slack user.
func (t *Tx) TeamMemberBySlackUser(userID string) (m MemberCache, ok bool, err error) {
	ok, err = t.getJSON(bucketKV, slackAgentKey(userID), &m)
	return m, ok, err
}

// SetTeamMemberBySlackUser caches the team-member answer for a Slack user.
func (t *Tx) SetTeamMemberBySlackUser(userID string, m MemberCache) error {
	return t.putJSON(bucketKV, slackAgentKey(userID), m)
}

// FirstSlackEvent records a Slack event id and reports whether it is new:
// Slack delivers an event again when our acknowledgement was late.
func (t *Tx) FirstSlackEvent(id string, at time.Time) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("state: slack event: empty id: %w", ErrInvalid)
	}
	var seen int64
	ok, err := t.getJSON(bucketSlackEvents, id, &seen)
	if err != nil || ok {
		return false, err
	}
	return true, t.putJSON(bucketSlackEvents, id, at.Unix())
}

// pruneKV deletes the kv records that have a retention: acknowledgements
// after a day (their only use is the hourly per-sender limit), team-member
// answers after a week (they are asked again after a day at most), and
// message counts that a crash left behind after the message retention.
func (s *Store) pruneKV(now time.Time, txs *int) (int, error) {
	type rule struct {
		prefix string
		keep   time.Duration
		at     func(raw []byte) (time.Time, bool)
	}
	timeOf := func(raw []byte) (time.Time, bool) {
		var at time.Time
		return at, json.Unmarshal(raw, &at) == nil
	}
	memberAt := func(raw []byte) (time.Time, bool) {
		var m MemberCache
		return m.At, json.Unmarshal(raw, &m) == nil
	}
	rules := []rule{
		{"acknowledged:", 24 * time.Hour, timeOf},
		{"agent:", 7 * 24 * time.Hour, memberAt},
		{"slack-agent:", 7 * 24 * time.Hour, memberAt},
	}
	var stale []string
	err := s.View(func(tx *Tx) error {
		b := tx.bucket(bucketKV)
		if b == nil {
			return nil
		}
		for _, r := range rules {
			c := b.Cursor()
			p := []byte(r.prefix)
			for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
				if at, ok := r.at(v); ok && now.Sub(at) > r.keep {
					stale = append(stale, string(k))
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return s.deleteInBatches(bucketKV, stale, txs)
}

// deleteInBatches deletes keys of bucket, at most pruneBatch per
// transaction, and counts the transactions in txs. On error the batches
// already committed stay committed and are counted in the result.
func (s *Store) deleteInBatches(bucket string, keys []string, txs *int) (int, error) {
	deleted := 0
	for len(keys) > 0 {
		n := min(len(keys), s.pruneBatch)
		err := s.Update(func(tx *Tx) error {
			for _, k := range keys[:n] {
				if err := tx.delete(bucket, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		*txs++
		deleted += n
		keys = keys[n:]
	}
	return deleted, nil
}

// slackEventRetention outlasts Slack's last retry of an event (after five
// minutes) by far.
const slackEventRetention = 7 * 24 * time.Hour

// pruneSlackEvents deletes event ids older than slackEventRetention.
func (s *Store) pruneSlackEvents(now time.Time, txs *int) (int, error) {
	var stale []string
	err := s.View(func(tx *Tx) error {
		b := tx.bucket(bucketSlackEvents)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var unix int64
			if json.Unmarshal(v, &unix) == nil && now.Sub(time.Unix(unix, 0)) > slackEventRetention {
				stale = append(stale, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return s.deleteInBatches(bucketSlackEvents, stale, txs)
}
