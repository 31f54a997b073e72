package imap

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// List re-selects the mailbox (so new mail and a changed UIDVALIDITY are
// seen: when MailboxStatus.UIDValidity differs from the caller's, its cursor
// is void) and returns up to limit messages with a UID above afterUID, in
// UID order. limit <= 0 means no limit. Nothing else is filtered: \Seen says
// nothing about whether ticketsync handled a message, the cursor does.
func (b *Inbox) List(ctx context.Context, afterUID uint32, limit int) ([]Envelope, MailboxStatus, error) {
	// SELECT below covers whatever EXISTS arrived before it.
	b.drainSignal()

	var (
		out    []Envelope
		status MailboxStatus
	)
	err := b.run(ctx, "list", func(s *imapSession, _ *cmdGuard) error {
		var err error
		if status, err = b.selectMailbox(s); err != nil {
			return err
		}
		if status.Messages == 0 || afterUID == math.MaxUint32 ||
			(status.UIDNext != 0 && status.UIDNext <= afterUID+1) {
			return nil
		}
		if status.UIDNext != 0 && limit > 0 {
			out, err = envelopesAfter(s.client, afterUID, limit, status.UIDNext)
			return err
		}
		uids, err := uidsAfter(s.client, afterUID, limit)
		if err != nil || len(uids) == 0 {
			return err
		}
		out, err = envelopes(s.client, goimap.UIDSetNum(uids...))
		return err
	})
	if err != nil {
		return nil, status, err
	}
	return out, status, nil
}

// uidsAfter searches UID afterUID+1:*. "*" is the highest UID present, so
// when nothing is newer the range is read backwards and still matches that
// highest UID (RFC 9051 6.4.8): filter it out.
func uidsAfter(c *imapclient.Client, afterUID uint32, limit int) ([]goimap.UID, error) {
	criteria := &goimap.SearchCriteria{
		UID: []goimap.UIDSet{{{Start: goimap.UID(afterUID + 1), Stop: 0}}},
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return nil, err
	}
	var uids []goimap.UID
	for _, uid := range data.AllUIDs() {
		if uint32(uid) > afterUID {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	if limit > 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	return uids, nil
}

// envelopesAfter lists up to limit messages above afterUID by fetching UID
// windows: first the next limit UIDs (mail is appended, so the UIDs above
// the cursor are mostly consecutive), then wider ones while the answer is
// short and the server holds higher UIDs. One listing thus costs about one
// batch whatever the backlog, where a SEARCH of afterUID+1:* returns the
// whole backlog every time (and makes some servers read every message).
func envelopesAfter(c *imapclient.Client, afterUID uint32, limit int, uidNext uint32) ([]Envelope, error) {
	var out []Envelope
	lo, window := uint64(afterUID)+1, uint64(limit)
	for lo < uint64(uidNext) && len(out) < limit {
		hi := min(lo+window-1, uint64(uidNext)-1)
		var set goimap.UIDSet
		set.AddRange(goimap.UID(lo), goimap.UID(hi))
		got, err := envelopes(c, set)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		lo, window = hi+1, min(window*2, maxListWindow)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// maxListWindow bounds the UID range of one listing FETCH.
const maxListWindow = 1 << 16

// messageIDField is the only header a listing needs: the Message-ID that
// lets mail already handled be skipped without its body. Asking for this
// one field rather than the ENVELOPE spares the server from parsing every
// address of every message listed.
var messageIDField = &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}

func envelopes(c *imapclient.Client, uids goimap.UIDSet) ([]Envelope, error) {
	msgs, err := c.Fetch(uids, &goimap.FetchOptions{
		UID: true, RFC822Size: true, Flags: true, InternalDate: true, BodySection: []*goimap.FetchItemBodySection{messageIDField},
	}).Collect()
	if err != nil {
		return nil, err
	}
	out := make([]Envelope, 0, len(msgs))
	for _, m := range msgs {
		if m.UID == 0 {
			continue // an unsolicited FETCH (flag change) that slipped in
		}
		e := Envelope{UID: uint32(m.UID), Size: m.RFC822Size, MessageID: headerMessageID(m.FindBodySection(messageIDField)),
			Received: m.InternalDate}
		for _, f := range m.Flags {
			e.Flags = append(e.Flags, string(f))
		}
		out = append(out, e)
	}
	// Servers answer in sequence order, which is UID order, but the
	// contract is UID order regardless.
	slices.SortFunc(out, func(a, b Envelope) int { return cmp.Compare(a.UID, b.UID) })
	return out, nil
}

// headerMessageID reads the Message-ID out of a header block, without the
// angle brackets, as go-imap reads it out of an ENVELOPE; "" if absent or
// unreadable.
func headerMessageID(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil && h.Len() == 0 {
		return ""
	}
	mh := gomail.Header{Header: message.Header{Header: h}}
	id, err := mh.MessageID()
	if err != nil {
		return ""
	}
	return id
}

// Fetch streams the whole message (BODY.PEEK[], so \Seen is not set) into
// w. The reader is the literal as it comes off the wire: nothing is
// buffered whole, and the command deadline moves on while data flows. An
// error from w is returned as is (wrapped) and leaves the session usable.
// Returns ErrGone if the UID no longer exists.
func (b *Inbox) Fetch(ctx context.Context, uid uint32, w func(r io.Reader) error) error {
	return b.fetchSection(ctx, fmt.Sprintf("fetch uid %d", uid), uid, &goimap.FetchItemBodySection{Peek: true}, w)
}

// FetchHeader is Fetch for the header only (BODY.PEEK[HEADER]), for a
// message too large to take whole.
func (b *Inbox) FetchHeader(ctx context.Context, uid uint32, w func(r io.Reader) error) error {
	section := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, Peek: true}
	return b.fetchSection(ctx, fmt.Sprintf("fetch header uid %d", uid), uid, section, w)
}

func (b *Inbox) fetchSection(ctx context.Context, op string, uid uint32, section *goimap.FetchItemBodySection, w func(io.Reader) error) error {
	return b.run(ctx, op, func(s *imapSession, g *cmdGuard) error {
		cmd := s.client.Fetch(goimap.UIDSetNum(goimap.UID(uid)), &goimap.FetchOptions{
			UID:         true,
			BodySection: []*goimap.FetchItemBodySection{section},
		})
		found := false
		var wErr error
		// Every item must be consumed, even after w failed, or the
		// client's reader stays blocked on this response.
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				body, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok || found {
					continue
				}
				found = true
				var r io.Reader = strings.NewReader("")
				if body.Literal != nil {
					r = &progressReader{r: body.Literal, g: g}
				}
				wErr = w(r)
			}
		}
		if err := cmd.Close(); err != nil {
			if isExpungeIssued(err) {
				return ErrGone
			}
			return err
		}
		switch {
		case wErr != nil:
			return &callbackError{err: wErr}
		case !found:
			return ErrGone
		}
		return nil
	})
}

// codeExpungeIssued (RFC 9051) is missing from go-imap's list.
const codeExpungeIssued goimap.ResponseCode = "EXPUNGEISSUED"

// isExpungeIssued: Dovecot answers NO [EXPUNGEISSUED] for a UID expunged by
// another session that this one was not told about yet.
func isExpungeIssued(err error) bool {
	var imapErr *goimap.Error
	return errors.As(err, &imapErr) && imapErr.Code == codeExpungeIssued
}
