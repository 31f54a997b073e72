package state

import (
	"fmt"
	"slices"
	"time"
)

// Alert is a line for the agents' channel about something nobody would
// otherwise see: a mail that could not be imported, a limit reached. It is
// queued in the transaction that records its cause, so it is neither lost
// nor repeated when that cause is seen again after a restart.
type Alert struct {
	// Key names what the alert is about (e.g. the mail's Message-ID); one
	// alert per key is ever queued within the retention.
	Key  string    `json:"key"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
	// Posting is the claim: set and committed before the post, so a crash
	// during the post leaves a claim that is dropped, never posted again.
	Posting bool `json:"posting,omitempty"`
}

// QueueAlert queues text under key unless an alert for key was queued
// before (still waiting or already posted). It reports whether it queued.
func (t *Tx) QueueAlert(key, text string) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("state: queue alert: empty key: %w", ErrInvalid)
	}
	var seen Alert
	for _, b := range []string{bucketAlerts, bucketAlertsDone} {
		found, err := t.getJSON(b, key, &seen)
		if err != nil {
			return false, fmt.Errorf("state: queue alert %s: %w", key, err)
		}
		if found {
			return false, nil
		}
	}
	a := Alert{Key: key, Text: text, At: t.now().UTC()}
	if err := t.putJSON(bucketAlerts, key, a); err != nil {
		return false, fmt.Errorf("state: queue alert %s: %w", key, err)
	}
	return true, nil
}

// Alerts returns the alerts not yet settled, claimed ones included, oldest
// first, at most limit (0: all).
func (t *Tx) Alerts(limit int) ([]Alert, error) {
	b := t.bucket(bucketAlerts)
	if b == nil {
		return nil, nil
	}
	var out []Alert
	err := b.ForEach(func(k, v []byte) error {
		var a Alert
		if err := decodeJSON(bucketAlerts, k, v, &a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: alerts: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Alert) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ClaimAlert marks the alert as being posted; commit it before the post.
func (t *Tx) ClaimAlert(key string) error {
	var a Alert
	found, err := t.getJSON(bucketAlerts, key, &a)
	if err != nil {
		return fmt.Errorf("state: claim alert %s: %w", key, err)
	}
	if !found {
		return fmt.Errorf("state: claim alert %s: not queued: %w", key, ErrInvalid)
	}
	a.Posting = true
	return t.putJSON(bucketAlerts, key, a)
}

// SettleAlert ends the alert: posted, or dropped after a crash during the
// post or a refusal that will not change. Its key is kept for the
// retention so the same cause never queues it again.
func (t *Tx) SettleAlert(key string) error {
	var a Alert
	found, err := t.getJSON(bucketAlerts, key, &a)
	if err != nil {
		return fmt.Errorf("state: settle alert %s: %w", key, err)
	}
	if !found {
		return nil
	}
	if err := t.delete(bucketAlerts, key); err != nil {
		return fmt.Errorf("state: settle alert %s: %w", key, err)
	}
	a.Posting, a.Text, a.At = false, "", t.now().UTC()
	if err := t.putJSON(bucketAlertsDone, key, a); err != nil {
		return fmt.Errorf("state: settle alert %s: %w", key, err)
	}
	return nil
}

// ReleaseAlert lifts a claim whose post Slack provably did not take, so
// it is tried again.
func (t *Tx) ReleaseAlert(key string) error {
	var a Alert
	found, err := t.getJSON(bucketAlerts, key, &a)
	if err != nil || !found {
		return err
	}
	a.Posting = false
	return t.putJSON(bucketAlerts, key, a)
}
