package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// MarkProcessed files a handled message: MOVE to ProcessedMailbox when the
// server has MOVE, else COPY + STORE \Deleted + UID EXPUNGE when it has
// UIDPLUS, else (and when ProcessedMailbox is empty) flag it \Seen in
// place. Idempotent: a UID that is already gone is success.
func (b *Inbox) MarkProcessed(ctx context.Context, uid uint32) error {
	return b.dispose(ctx, "mark processed", uid, b.cfg.ProcessedMailbox, false)
}

// Quarantine is MarkProcessed for mail that can never succeed, filed to
// FailedMailbox. When it stays in place it also gets the $TicketsyncFailed
// keyword, if the mailbox keeps new keywords, so a person can find it.
func (b *Inbox) Quarantine(ctx context.Context, uid uint32) error {
	return b.dispose(ctx, "quarantine", uid, b.cfg.FailedMailbox, true)
}

func (b *Inbox) dispose(ctx context.Context, verb string, uid uint32, dest string, failed bool) error {
	op := fmt.Sprintf("%s uid %d", verb, uid)
	return b.run(ctx, op, func(s *imapSession, _ *cmdGuard) error {
		set := goimap.UIDSetNum(goimap.UID(uid))
		inPlace := dest == "" || dest == b.cfg.Mailbox || (!s.move && !s.uidPlus)
		if !inPlace {
			// Checked first because some servers answer a MOVE or COPY of
			// a missing UID badly (imapmemserver sends an empty COPYUID,
			// which breaks the connection).
			if ok, err := exists(s.client, uid); err != nil || !ok {
				if err == nil {
					b.log.Debug("imap message already gone", "op", verb, "uid", uid)
				}
				return err
			}
		}
		var err error
		switch {
		case inPlace:
			// Without MOVE and UIDPLUS, EXPUNGE would also remove every
			// other \Deleted message in the mailbox, not just ours.
			err = flagInPlace(s, set, failed)
		case s.move:
			err = tryCreate(s.client, dest, func() error {
				_, err := s.client.Move(set, dest).Wait()
				return err
			})
		default:
			err = copyExpunge(s.client, set, dest)
		}
		if err == nil {
			return nil
		}
		if gone, checkErr := isGone(s.client, uid, err); checkErr != nil {
			return checkErr
		} else if gone {
			b.log.Debug("imap message already gone", "op", verb, "uid", uid)
			return nil
		}
		return err
	})
}

func flagInPlace(s *imapSession, set goimap.UIDSet, failed bool) error {
	flags := []goimap.Flag{goimap.FlagSeen}
	switch {
	case !s.keywords:
	case failed:
		flags = append(flags, failedKeyword)
	default:
		flags = append(flags, doneKeyword)
	}
	return s.client.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close()
}

// copyExpunge is MOVE by hand. Only called with UIDPLUS: UID EXPUNGE then
// touches our message alone. A failure between the steps leaves a copy in
// dest and the original in place; the retry copies again, and Message-ID
// dedupe keeps that harmless.
func copyExpunge(c *imapclient.Client, set goimap.UIDSet, dest string) error {
	err := tryCreate(c, dest, func() error {
		_, err := c.Copy(set, dest).Wait()
		return err
	})
	if err != nil {
		return err
	}
	store := &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}
	if err := c.Store(set, store, nil).Close(); err != nil {
		return err
	}
	return c.UIDExpunge(set).Close()
}

// tryCreate runs f again once after creating dest if the server said
// TRYCREATE (someone deleted the mailbox since Connect made it).
func tryCreate(c *imapclient.Client, dest string, f func() error) error {
	err := f()
	var imapErr *goimap.Error
	if !errors.As(err, &imapErr) || imapErr.Code != goimap.ResponseCodeTryCreate {
		return err
	}
	if err := ensureMailbox(c, dest); err != nil {
		return err
	}
	return f()
}

// isGone reports whether a failed command failed because uid no longer
// exists. Only NO/BAD answers are looked into; the connection is still up
// for those.
func isGone(c *imapclient.Client, uid uint32, err error) (bool, error) {
	var imapErr *goimap.Error
	if !errors.As(err, &imapErr) {
		return false, nil
	}
	if imapErr.Code == codeExpungeIssued {
		return true, nil
	}
	ok, searchErr := exists(c, uid)
	if searchErr != nil {
		if errors.As(searchErr, &imapErr) {
			return false, nil // report the original failure
		}
		return false, searchErr
	}
	return !ok, nil
}

func exists(c *imapclient.Client, uid uint32) (bool, error) {
	criteria := &goimap.SearchCriteria{UID: []goimap.UIDSet{goimap.UIDSetNum(goimap.UID(uid))}}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return false, err
	}
	return slices.Contains(data.AllUIDs(), goimap.UID(uid)), nil
}
