package mailtest

import (
	"bytes"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Preload is AppendAt without the connection, for filling a mailbox with
// tens of thousands of messages before the code under test starts: one
// APPEND per connection costs a login each, and even one session pays a
// round trip per message. It calls the memory backend's User.Append, the
// very method the server's APPEND ends in, so the message gets the same
// UID, INTERNALDATE, flags and EXISTS notification an APPEND would give
// it; only the wire is skipped.
func (m *MemServer) Preload(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32 {
	t.Helper()
	opts := &imap.AppendOptions{Time: received}
	for _, f := range flags {
		opts.Flags = append(opts.Flags, imap.Flag(f))
	}
	data, err := m.user.Append(mailbox, bytes.NewReader(raw), opts)
	if err != nil {
		t.Fatalf("mailtest: preload into %s: %v", mailbox, err)
	}
	return uint32(data.UID)
}

// Unseen counts the messages in mailbox without \Seen, from the backend:
// cheap enough to poll on a large mailbox while a client works on it.
func (m *MemServer) Unseen(t testing.TB, mailbox string) int {
	t.Helper()
	data, err := m.user.Status(mailbox, &imap.StatusOptions{NumUnseen: true})
	if err != nil || data.NumUnseen == nil {
		t.Fatalf("mailtest: status %s: %v", mailbox, err)
	}
	return int(*data.NumUnseen)
}

// Flags is every message's flags by UID, read over IMAP (EXAMINE and one
// FETCH 1:* of UID and FLAGS, so nothing changes). Messages parses each
// message's envelope as well, which a check of a large mailbox does not
// need.
func (m *MemServer) Flags(t testing.TB, mailbox string) map[uint32][]string {
	t.Helper()
	out := map[uint32][]string{}
	m.admin.do(t, "flags of "+mailbox, func(c *imapclient.Client) error {
		sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil || sel.NumMessages == 0 {
			return err
		}
		cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			buf, err := msg.Collect()
			if err != nil {
				return err
			}
			flags := make([]string, len(buf.Flags))
			for i, f := range buf.Flags {
				flags[i] = string(f)
			}
			out[uint32(buf.UID)] = flags
		}
		return cmd.Close()
	})
	return out
}
