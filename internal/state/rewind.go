package state

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A restored state file is older than the world around it: since the
// backup, mail was sent, replies were written and mailed, Slack threads
// were posted. rewind prepares a restored copy so that the daemon started
// on it does none of that a second time. What it cannot know (whether a
// mail waiting in the backup's outbox went out afterwards) it settles the
// at-most-once way, as possibly sent, and says so in the agents' channel.

// RewindResult counts what rewind settled, for `state restore` to report.
type RewindResult struct {
	BackupAt time.Time
	// Mail is the outbox entries that were waiting or being sent at the
	// backup: closed as possibly sent, never sent again.
	Mail int
	// Replies is the agents' replies in flight at the backup (claimed,
	// not yet recorded): never mailed by the restored daemon.
	Replies int
	// Imports is the mail being imported at the backup: finished from
	// TaskIP as after a crash, but without the acknowledgement, which
	// may have gone out since.
	Imports int
}

// relinkMargin reaches back before the backup's time: a parent posted
// just before the copy began may not be in it yet (and clocks differ).
const relinkMargin = time.Hour

// rewind edits the restored copy at path, taken at backupAt.
func rewind(path string, backupAt, now time.Time) (RewindResult, error) {
	res := RewindResult{BackupAt: backupAt}
	st, err := Open(Config{Path: path, Now: func() time.Time { return now }})
	if err != nil {
		return res, err
	}
	defer st.Close()
	err = st.Update(func(tx *Tx) error {
		// Alerts waiting at the backup may have been posted since: they
		// are posted (a lost one is worse), saying they may repeat.
		waiting, err := tx.Alerts(0)
		if err != nil {
			return err
		}
		for _, a := range waiting {
			a.Text = "(Queued before the backup this state file was restored from; it may have been posted already.) " + a.Text
			if err := tx.putJSON(bucketAlerts, a.Key, a); err != nil {
				return err
			}
		}
		// The watch's view of each ticket is the backup's: take a new
		// baseline instead of posting (and mailing) every change since.
		c, err := tx.WatchCursor()
		if err != nil {
			return err
		}
		if c.Baseline {
			c.Baseline, c.RelinkSince = false, backupAt.Add(-relinkMargin).UTC()
			if err := tx.SetWatchCursor(c); err != nil {
				return err
			}
		}
		var open []OutboxEntry
		if open, err = tx.OutboxOpen(); err != nil {
			return err
		}
		for _, e := range open {
			reason := fmt.Sprintf("the state file was restored from a backup of %s; this mail was waiting then and may have been sent since, so it is not sent again",
				backupAt.UTC().Format(time.RFC3339))
			if _, err := tx.CloseOutbox(e.Seq, OutboxUnknown, reason); err != nil {
				return err
			}
			res.Mail++
			if _, err := tx.QueueAlert(fmt.Sprintf("restore:outbox:%s", e.MessageID), fmt.Sprintf(
				"The state file was restored from a backup of %s. The %s email on ticket #%d was waiting to be sent then and may have gone out since; it is not sent again. Check with the customer if in doubt.",
				backupAt.UTC().Format(time.RFC3339), e.Kind, e.TicketID)); err != nil {
				return err
			}
		}
		if res.Imports, err = tx.markIntentsRestored(); err != nil {
			return err
		}
		claims, err := tx.ReplyClaims()
		if err != nil {
			return err
		}
		for _, c := range claims {
			if err := tx.SettleReplyClaim(c.TicketID, c.ID); err != nil {
				return err
			}
			if c.Origin != ReplyFromSlack {
				continue // the agent mailed it themselves
			}
			res.Replies++
			if _, err := tx.QueueAlert(fmt.Sprintf("restore:claim:%d:%d", c.TicketID, c.ID), fmt.Sprintf(
				"The state file was restored from a backup of %s. An agent's reply on ticket #%d was being saved then; it may not have been emailed to the customer, and it is not emailed now. Check the ticket.",
				backupAt.UTC().Format(time.RFC3339), c.TicketID)); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

// backupTime is when the backup at path was taken: the time in its name,
// else its modification time.
func backupTime(path string) time.Time {
	if m := backupName.FindStringSubmatch(filepath.Base(path)); m != nil {
		if at, err := time.Parse(backupStamp, m[1]); err == nil {
			return at
		}
	}
	if fi, err := os.Stat(path); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}
