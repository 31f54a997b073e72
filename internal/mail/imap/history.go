package imap

import (
	"context"
	"fmt"
	"slices"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// History is what a first look at a mailbox found: how much mail it holds,
// where new mail starts, and which of the mail already there is to be
// imported.
type History struct {
	Status MailboxStatus
	// Top is the highest UID the mailbox had when it was searched. Mail
	// above it arrived afterwards and is new.
	Top uint32
	// Import holds the UIDs that matched, ascending; all are at most Top.
	Import []uint32
}

// SurveyOptions say which of the mail already in a mailbox is still
// customers' business.
type SurveyOptions struct {
	// Since: mail the server received (INTERNALDATE) before it is history.
	Since time.Time
	// UnreadOnly: mail somebody has read (\Seen) is history too.
	UnreadOnly bool
	// SizeOnly: no search at all, only the mailbox's size and top.
	SizeOnly bool
}

// Survey selects the mailbox and finds the messages matching opts, without
// touching any flag. It answers with a SEARCH and one FETCH of the matches'
// INTERNALDATE, so its cost follows the matches, not the mailbox's size.
func (b *Inbox) Survey(ctx context.Context, opts SurveyOptions) (History, error) {
	b.drainSignal()
	var h History
	err := b.run(ctx, "survey", func(s *imapSession, _ *cmdGuard) error {
		status, err := b.selectMailbox(s)
		if err != nil {
			return err
		}
		h.Status = status
		if status.UIDNext > 0 {
			h.Top = status.UIDNext - 1
		}
		if status.Messages == 0 {
			return nil
		}
		if status.UIDNext == 0 {
			// Without UIDNEXT the last message's UID is the top.
			last, err := s.client.Fetch(goimap.SeqSetNum(status.Messages), &goimap.FetchOptions{UID: true}).Collect()
			if err != nil {
				return err
			}
			for _, m := range last {
				h.Top = max(h.Top, uint32(m.UID))
			}
		}
		if opts.SizeOnly {
			return nil
		}
		// SEARCH SINCE compares dates without time or zone (RFC 9051
		// 6.4.4): ask a day early, then compare the exact INTERNALDATE.
		criteria := &goimap.SearchCriteria{}
		if !opts.Since.IsZero() {
			criteria.Since = opts.Since.AddDate(0, 0, -1)
		}
		if opts.UnreadOnly {
			criteria.NotFlag = []goimap.Flag{goimap.FlagSeen}
		}
		data, err := s.client.UIDSearch(criteria, nil).Wait()
		if err != nil {
			return err
		}
		found := data.AllUIDs()
		if len(found) == 0 {
			return nil
		}
		msgs, err := s.client.Fetch(goimap.UIDSetNum(found...), &goimap.FetchOptions{UID: true, InternalDate: true}).Collect()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.UID == 0 {
				continue
			}
			// A server that keeps no INTERNALDATE cannot date the mail:
			// it passed SEARCH, so it is taken.
			if !opts.Since.IsZero() && !m.InternalDate.IsZero() && m.InternalDate.Before(opts.Since) {
				continue
			}
			h.Import = append(h.Import, uint32(m.UID))
		}
		slices.Sort(h.Import)
		h.Import = slices.Compact(h.Import)
		if n := len(h.Import); n > 0 {
			h.Top = max(h.Top, h.Import[n-1])
		}
		return nil
	})
	if err != nil {
		return History{}, err
	}
	return h, nil
}

// ListSet is List for the given UIDs instead of those above a cursor: it
// re-selects the mailbox and returns the ones that still exist, in UID
// order.
func (b *Inbox) ListSet(ctx context.Context, uids []uint32) ([]Envelope, MailboxStatus, error) {
	b.drainSignal()
	var (
		out    []Envelope
		status MailboxStatus
	)
	err := b.run(ctx, fmt.Sprintf("list %d messages", len(uids)), func(s *imapSession, _ *cmdGuard) error {
		var err error
		if status, err = b.selectMailbox(s); err != nil {
			return err
		}
		if len(uids) == 0 || status.Messages == 0 {
			return nil
		}
		set := make([]goimap.UID, len(uids))
		for i, u := range uids {
			set[i] = goimap.UID(u)
		}
		got, err := envelopes(s.client, goimap.UIDSetNum(set...))
		if err != nil {
			return err
		}
		// A UID FETCH of UIDs that are gone answers for none of them, but
		// a server may still add unsolicited FETCHes of others.
		for _, e := range got {
			if _, ok := slices.BinarySearch(uids, e.UID); ok {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, status, err
	}
	return out, status, nil
}
