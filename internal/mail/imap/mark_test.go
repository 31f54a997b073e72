package imap_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if strings.EqualFold(f, flag) { // keywords are case-insensitive
			return true
		}
	}
	return false
}

func find(msgs []mailtest.MemMessage, messageID string) (mailtest.MemMessage, bool) {
	for _, m := range msgs {
		if m.MessageID == messageID {
			return m, true
		}
	}
	return mailtest.MemMessage{}, false
}

func TestInboxMarkProcessedInPlace(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		uid := srv.Append(t, "INBOX", msg(1))
		ib, _ := newInbox(t, srv, nil)
		connect(t, ib)
		ctx := testCtx(t)

		require.NoError(t, ib.MarkProcessed(ctx, uid))
		require.NoError(t, ib.MarkProcessed(ctx, uid), "idempotent")
		m, ok := find(srv.Messages(t, "INBOX"), "m1@example.net")
		require.True(t, ok, "kept in place")
		assert.Contains(t, m.Flags, `\Seen`)

		require.NoError(t, ib.MarkProcessed(ctx, uid+50), "a UID that is gone is done")
	})
}

func TestInboxMarkProcessedMoves(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		uid := srv.Append(t, "INBOX", msg(1))
		keep := srv.Append(t, "INBOX", msg(2))
		ib, _ := newInbox(t, srv, func(c *imap.Config) { c.ProcessedMailbox = "Processed" })
		connect(t, ib) // creates Processed
		ctx := testCtx(t)

		require.NoError(t, ib.MarkProcessed(ctx, uid))
		require.NoError(t, ib.MarkProcessed(ctx, uid), "idempotent once moved")
		inbox := srv.Messages(t, "INBOX")
		require.Len(t, inbox, 1)
		assert.Equal(t, keep, inbox[0].UID)
		_, ok := find(srv.Messages(t, "Processed"), "m1@example.net")
		assert.True(t, ok)

		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		assert.Equal(t, []uint32{keep}, uidsOf(envs))
	})
}

func TestInboxQuarantine(t *testing.T) {
	eachServer(t, func(t *testing.T, srv mailtest.Server) {
		t.Run("in place", func(t *testing.T) {
			uid := srv.Append(t, "INBOX", msg(1))
			ib, _ := newInbox(t, srv, nil)
			connect(t, ib)
			require.NoError(t, ib.Quarantine(testCtx(t), uid))
			m, ok := find(srv.Messages(t, "INBOX"), "m1@example.net")
			require.True(t, ok)
			assert.Contains(t, m.Flags, `\Seen`)
			assert.True(t, hasFlag(m.Flags, "$TicketsyncFailed"), "flags %v", m.Flags)
		})
		t.Run("to failed mailbox", func(t *testing.T) {
			uid := srv.Append(t, "INBOX", msg(2))
			ib, _ := newInbox(t, srv, func(c *imap.Config) { c.FailedMailbox = "Failed" })
			connect(t, ib)
			require.NoError(t, ib.Quarantine(testCtx(t), uid))
			_, inInbox := find(srv.Messages(t, "INBOX"), "m2@example.net")
			assert.False(t, inInbox)
			_, inFailed := find(srv.Messages(t, "Failed"), "m2@example.net")
			assert.True(t, inFailed)
		})
	})
}

// The fallbacks need a server without MOVE (and UIDPLUS): only the
// memserver can pretend.
func TestInboxMarkProcessedFallbacks(t *testing.T) {
	t.Run("copy and UID EXPUNGE without MOVE", func(t *testing.T) {
		srv := mailtest.StartMemServer(t, mailtest.MemOptions{NoMove: true})
		uid := srv.Append(t, "INBOX", msg(1))
		other := srv.Append(t, "INBOX", msg(2))
		srv.AddFlags(t, "INBOX", other, `\Deleted`) // someone else's pending delete
		ib, _ := newInbox(t, srv, func(c *imap.Config) { c.ProcessedMailbox = "Processed" })
		connect(t, ib)
		ctx := testCtx(t)

		require.NoError(t, ib.MarkProcessed(ctx, uid))
		require.NoError(t, ib.MarkProcessed(ctx, uid))
		inbox := srv.Messages(t, "INBOX")
		require.Len(t, inbox, 1, "UID EXPUNGE removes ours only")
		assert.Equal(t, other, inbox[0].UID)
		assert.Len(t, srv.Messages(t, "Processed"), 1)
	})
	t.Run("flag only without MOVE and UIDPLUS", func(t *testing.T) {
		srv := mailtest.StartMemServer(t, mailtest.MemOptions{NoMove: true, NoUIDPlus: true})
		uid := srv.Append(t, "INBOX", msg(1))
		other := srv.Append(t, "INBOX", msg(2))
		srv.AddFlags(t, "INBOX", other, `\Deleted`)
		ib, _ := newInbox(t, srv, func(c *imap.Config) {
			c.ProcessedMailbox = "Processed"
			c.FailedMailbox = "Failed"
		})
		connect(t, ib)
		ctx := testCtx(t)

		require.NoError(t, ib.MarkProcessed(ctx, uid))
		require.NoError(t, ib.Quarantine(ctx, other))
		inbox := srv.Messages(t, "INBOX")
		require.Len(t, inbox, 2, "a plain EXPUNGE would have taken the other \\Deleted message too")
		assert.Contains(t, inbox[0].Flags, `\Seen`)
		assert.True(t, hasFlag(inbox[0].Flags, "$TicketsyncDone"), "flags %v", inbox[0].Flags)
		assert.True(t, hasFlag(inbox[1].Flags, "$TicketsyncFailed"), "flags %v", inbox[1].Flags)
		assert.Empty(t, srv.Messages(t, "Processed"))
		envs, _, err := ib.List(ctx, 0, 0)
		require.NoError(t, err)
		require.Len(t, envs, 2)
		assert.True(t, imap.Handled(envs[0].Flags), "the listing shows the mark: %v", envs[0].Flags)
		assert.True(t, imap.Handled(envs[1].Flags))
	})
	t.Run("mailbox deleted behind our back", func(t *testing.T) {
		srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
		uid := srv.Append(t, "INBOX", msg(1))
		ib, _ := newInbox(t, srv, func(c *imap.Config) { c.ProcessedMailbox = "Processed" })
		connect(t, ib)
		srv.DeleteMailbox(t, "Processed") // MOVE now gets NO [TRYCREATE]
		require.NoError(t, ib.MarkProcessed(testCtx(t), uid))
		assert.Len(t, srv.Messages(t, "Processed"), 1)
	})
}

func TestHandled(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  bool
	}{
		{nil, false},
		{[]string{`\Seen`}, false},
		{[]string{`\Seen`, "$TicketsyncDone"}, true},
		{[]string{"$ticketsyncdone"}, true},
		{[]string{"$TicketsyncFailed"}, true},
		{[]string{"$TicketsyncDoneX"}, false},
	} {
		assert.Equal(t, tc.want, imap.Handled(tc.flags), "%v", tc.flags)
	}
}
