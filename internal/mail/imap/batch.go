package imap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// FetchMany streams several whole messages with one UID FETCH, calling w
// with each message's UID and body as it comes off the wire (BODY.PEEK[],
// nothing buffered whole). It returns the UIDs the server did not answer
// for (expunged meanwhile). w must consume or abandon the reader before
// returning; an error from w stops delivery to w but the response is still
// drained so the session stays usable.
func (b *Inbox) FetchMany(ctx context.Context, uids []uint32, w func(uid uint32, r io.Reader) error) (missing []uint32, err error) {
	if len(uids) == 0 {
		return nil, nil
	}
	if len(uids) == 1 {
		err := b.Fetch(ctx, uids[0], func(r io.Reader) error { return w(uids[0], r) })
		if errors.Is(err, ErrGone) {
			return uids, nil
		}
		return nil, err
	}
	set := make([]goimap.UID, len(uids))
	for i, u := range uids {
		set[i] = goimap.UID(u)
	}
	got := map[uint32]bool{}
	unnamed := false
	err = b.run(ctx, fmt.Sprintf("fetch %d messages", len(uids)), func(s *imapSession, g *cmdGuard) error {
		cmd := s.client.Fetch(goimap.UIDSetNum(set...), &goimap.FetchOptions{
			UID:         true,
			BodySection: []*goimap.FetchItemBodySection{{Peek: true}},
		})
		var wErr error
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			var uid uint32
			for item := msg.Next(); item != nil; item = msg.Next() {
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = uint32(it.UID)
				case imapclient.FetchItemDataBodySection:
					if wErr != nil || got[uid] {
						continue
					}
					if uid == 0 {
						unnamed = true
						continue
					}
					got[uid] = true
					var r io.Reader = strings.NewReader("")
					if it.Literal != nil {
						r = &progressReader{r: it.Literal, g: g}
					}
					wErr = w(uid, r)
				}
			}
		}
		if err := cmd.Close(); err != nil && !isExpungeIssued(err) {
			return err
		}
		if wErr != nil {
			return &callbackError{err: wErr}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, u := range uids {
		if got[u] {
			continue
		}
		if !unnamed {
			missing = append(missing, u)
			continue
		}
		// The server named bodies after them; take the rest one by one.
		err := b.Fetch(ctx, u, func(r io.Reader) error { return w(u, r) })
		switch {
		case errors.Is(err, ErrGone):
			missing = append(missing, u)
		case err != nil:
			return nil, err
		}
	}
	return missing, nil
}

// MarkProcessedSet is MarkProcessed for several messages. Flagging in place
// takes one STORE for all of them; filing into ProcessedMailbox goes message
// by message, which keeps the gone-message handling of MarkProcessed.
func (b *Inbox) MarkProcessedSet(ctx context.Context, uids []uint32) error {
	if len(uids) == 0 {
		return nil
	}
	dest := b.cfg.ProcessedMailbox
	if dest != "" && dest != b.cfg.Mailbox {
		for _, u := range uids {
			if err := b.MarkProcessed(ctx, u); err != nil {
				return err
			}
		}
		return nil
	}
	return b.run(ctx, fmt.Sprintf("mark %d processed", len(uids)), func(s *imapSession, _ *cmdGuard) error {
		var set goimap.UIDSet
		for _, u := range uids {
			set.AddNum(goimap.UID(u))
		}
		// A UID STORE skips UIDs that no longer exist, so this is idempotent.
		return flagInPlace(s, set, false)
	})
}
