package bridge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

func testIntakeNewMailCreatesTicket(t *testing.T, mk envMaker) {
	e := mk(t)
	uid := e.deliver(mailMsg("m1@acme.com", "John Smith <john@acme.com>", "Re: Printer on fire", "Smoke from tray 2.\n", "X-Priority: 1 (Highest)"))
	e.cycle()

	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	tk := tickets[0]
	assert.Equal(t, "Printer on fire", tk.Subject)
	assert.Contains(t, tk.Description, "Smoke from tray 2.")
	assert.Contains(t, tk.Description, "From: John Smith <john@acme.com>")
	assert.Equal(t, taskipfake.PriorityHigh, tk.Priority)
	require.NotNil(t, tk.User)
	assert.Equal(t, 15, tk.User.ID, "the contact with that email")
	assert.Equal(t, uid, e.cursor().LastUID)
	msgs := e.imap.Messages(t, "INBOX")
	require.Len(t, msgs, 1)
	assert.True(t, hasFlag(msgs[0].Flags, `\Seen`))

	rec, ok, err := e.store.MessageTicket("m1@acme.com")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(tk.ID), rec.TicketID)

	e.cycle()
	assert.Len(t, e.newTickets(), 1, "a second pass creates nothing")
}

func testIntakeExactlyOneWritePerEmail(t *testing.T, mk envMaker) {
	e := mk(t)
	for i := range 5 {
		e.deliver(mailMsg(fmt.Sprintf("w%d@acme.com", i), "john@acme.com", fmt.Sprintf("Question %d", i), "Hello"))
	}
	e.fake.ResetRequests()
	e.cycle()
	writes := e.countRequests(func(r taskipfake.Request) bool { return r.Method != http.MethodGet })
	assert.Equal(t, 5, writes)
	assert.Len(t, e.newTickets(), 5)
}

func TestIntakeLoopAndNoiseGuard(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		header []string
		reason string
	}{
		{"auto-submitted", "john@acme.com", []string{"Auto-Submitted: auto-replied"}, "auto_submitted"},
		{"precedence bulk", "john@acme.com", []string{"Precedence: bulk"}, "precedence"},
		{"precedence junk", "john@acme.com", []string{"Precedence: junk"}, "precedence"},
		{"x-autoreply", "john@acme.com", []string{"X-Autoreply: yes"}, "autoreply_header"},
		{"x-autorespond", "john@acme.com", []string{"X-Autorespond: on"}, "autoreply_header"},
		{"list-id", "john@acme.com", []string{"List-Id: News <news.acme.com>"}, "mailing_list"},
		{"mailer-daemon", "MAILER-DAEMON@mx.acme.com", nil, "bounce"},
		{"our own address", supportAddr, nil, "own_message"},
		{"our own header", "john@acme.com", []string{"X-Ticketsync-Ticket: 550e8400-e29b-41d4-a716-446655440001"}, "own_message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newIntakeEnv(t, nil)
			uid := e.deliver(mailMsg("n-"+strings.ReplaceAll(tt.name, " ", "-")+"@x", tt.from, "Noise", "x", tt.header...))
			e.cycle()
			assert.Empty(t, e.newTickets())
			assert.Equal(t, uid, e.cursor().LastUID, "recorded and passed")
			rec, ok, err := e.store.MessageTicket("n-" + strings.ReplaceAll(tt.name, " ", "-") + "@x")
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, "skip:"+tt.reason, rec.Action)
		})
	}
	t.Run("empty return path", func(t *testing.T) {
		e := newIntakeEnv(t, nil)
		raw := strings.Replace(string(mailMsg("b@x", "john@acme.com", "Undeliverable", "x")), "Return-Path: <john@acme.com>", "Return-Path: <>", 1)
		e.deliver([]byte(raw))
		e.cycle()
		assert.Empty(t, e.newTickets())
	})
	t.Run("multipart report", func(t *testing.T) {
		e := newIntakeEnv(t, nil)
		raw := "From: john@acme.com\r\nTo: support@example.com\r\nSubject: Delivery report\r\nMessage-ID: <r@x>\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
		e.deliver([]byte(raw))
		e.cycle()
		assert.Empty(t, e.newTickets())
	})
}

func testIntakeRateLimitPerSender(t *testing.T, mk envMaker) {
	e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.MaxTicketsPerHour = 3 })
	for i := range 5 {
		e.deliver(mailMsg(fmt.Sprintf("r%d@acme.com", i), "john@acme.com", fmt.Sprintf("Flood %d", i), "again"))
	}
	e.deliver(mailMsg("other@acme.com", "mike@techcorp.com", "Unrelated", "hi"))
	e.cycle()
	assert.Len(t, e.newTickets(), 4, "three from the flooding sender, one from the other")
}

// createFirst delivers a new mail and returns its ticket.
func createFirst(t *testing.T, e *intakeEnv) taskipfake.Ticket {
	t.Helper()
	e.deliver(mailMsg("first@acme.com", "John Smith <john@acme.com>", "Login broken", "I cannot log in."))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	return tickets[0]
}

func testIntakeThreading(t *testing.T, mk envMaker) {
	quoted := "Still broken.\n\nOn Mon, 15 Jan 2024 at 09:30, Support <support@example.com> wrote:\n> Did you try again?\n"
	tests := []struct {
		name  string
		build func(tk taskipfake.Ticket) []byte
	}{
		{"in-reply-to a message we received", func(tk taskipfake.Ticket) []byte {
			return mailMsg("reply1@acme.com", "john@acme.com", "Something else", quoted, "In-Reply-To: <first@acme.com>")
		}},
		{"references a message we sent", func(tk taskipfake.Ticket) []byte {
			return mailMsg("reply2@acme.com", "john@acme.com", "Something else", quoted, "References: <unrelated@x> <out-1@example.com>")
		}},
		{"plus address", func(tk taskipfake.Ticket) []byte {
			raw := mailMsg("reply3@acme.com", "john@acme.com", "Something else", quoted)
			return []byte(strings.Replace(string(raw), "To: "+supportAddr, "To: support+"+tk.UUID+"@example.com", 1))
		}},
		{"subject tag", func(tk taskipfake.Ticket) []byte {
			return mailMsg("reply4@acme.com", "john@acme.com", "Re: Login broken [#"+tk.UUID+"]", quoted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mk(t)
			tk := createFirst(t, e)
			require.NoError(t, e.store.RecordOutbound("out-1@example.com", tk.UUID, int64(tk.ID)))
			e.deliver(tt.build(tk))
			e.cycle()
			assert.Len(t, e.newTickets(), 1, "no second ticket")
			replies := e.fake.Replies(tk.ID)
			require.Len(t, replies, 1)
			assert.Equal(t, "Still broken.", replies[0].Message, "quoted history stripped")
			assert.Equal(t, "client", replies[0].AuthorType)
		})
	}
}

func testIntakeReplyToClosedTicketReopens(t *testing.T, mk envMaker) {
	e := mk(t)
	tk := createFirst(t, e)
	require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusClosed }))
	e.deliver(mailMsg("again@acme.com", "john@acme.com", "Re: Login broken", "It broke again", "In-Reply-To: <first@acme.com>"))
	e.cycle()
	after, _ := e.fake.Ticket(tk.ID)
	assert.Equal(t, taskipfake.StatusOpen, after.Status)
	assert.Len(t, e.fake.Replies(tk.ID), 1)
}

func testIntakeThirdPartyBecomesNote(t *testing.T, mk envMaker) {
	e := mk(t)
	tk := createFirst(t, e)
	notesBefore := len(e.fake.Notes(tk.ID))
	e.deliver(mailMsg("cc@acme.com", "Boss <boss@acme.com>", "Re: Login broken", "Please fix this today", "In-Reply-To: <first@acme.com>"))
	e.cycle()
	assert.Empty(t, e.fake.Replies(tk.ID), "a third party never replies for the customer")
	notes := e.fake.Notes(tk.ID)
	require.Len(t, notes, notesBefore+1)
	assert.Contains(t, notes[len(notes)-1].Note, "boss@acme.com")
	assert.Contains(t, notes[len(notes)-1].Note, "Please fix this today")
}

// A sender who is no TaskIP contact gets a ticket under the default user;
// their answers are still the customer's replies, not a third party's notes.
func testIntakeRequesterWithoutContactReplies(t *testing.T, mk envMaker) {
	e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.DefaultUserID = 15 })
	e.deliver(mailMsg("walkin-1@example.org", "Walk In <walk.in@example.org>", "Order missing", "Where is my order?"))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	tk := tickets[0]
	require.NotNil(t, tk.User)
	require.NotEqual(t, "walk.in@example.org", tk.User.Email, "filed under the catch-all user")
	notesBefore := len(e.fake.Notes(tk.ID))

	e.deliver(mailMsg("walkin-2@example.org", "Walk In <Walk.In@example.org>", "Re: Order missing", "Order 4711.", "In-Reply-To: <walkin-1@example.org>"))
	e.cycle()
	replies := e.fake.Replies(tk.ID)
	require.Len(t, replies, 1, "the requester's answer is a reply")
	assert.Equal(t, "client", replies[0].AuthorType)
	assert.Equal(t, "Order 4711.", replies[0].Message)
	assert.Len(t, e.fake.Notes(tk.ID), notesBefore, "and not a note")
}

func multipartWithAttachment(id, from, name string, content []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: With a file\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", from, supportAddr, id)
	b.WriteString("Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--XYZ\r\n")
	fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=%q\r\nContent-Transfer-Encoding: base64\r\n\r\n", name)
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XYZ--\r\n")
	return []byte(b.String())
}

func testIntakeAttachments(t *testing.T, mk envMaker) {
	e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.MaxMessageBytes = 256 << 10 })
	e.deliver(multipartWithAttachment("att@acme.com", "john@acme.com", "log.txt", []byte(strings.Repeat("line\n", 1000))))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	files := e.fake.Attachments(tickets[0].ID)
	require.Len(t, files, 1)
	assert.Equal(t, "log.txt", files[0].Filename)
	assert.Equal(t, int64(5000), files[0].Size)
}

func testIntakeMessageOverLimitIsImportedAsHeaderWithNote(t *testing.T, mk envMaker) {
	e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.MaxMessageBytes = 64 << 10 })
	e.deliver(multipartWithAttachment("big@acme.com", "john@acme.com", "huge.bin", make([]byte, 200<<10)))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1, "nothing is dropped silently")
	assert.Contains(t, tickets[0].Description, "over the 64.0 KiB limit")
	assert.Empty(t, e.fake.Attachments(tickets[0].ID))
}

func testIntakeProcessedMailbox(t *testing.T, mk envMaker) {
	e := mk(t, func(_ *IntakeConfig, c *imap.Config) { c.ProcessedMailbox = "Processed" })
	e.deliver(mailMsg("p@acme.com", "john@acme.com", "Move me", "x"))
	e.cycle()
	assert.Empty(t, e.imap.Messages(t, "INBOX"))
	assert.Len(t, e.imap.Messages(t, "Processed"), 1)
}

func testIntakeTransientFailureStopsInOrderThenRecovers(t *testing.T, mk envMaker) {
	e := mk(t)
	e.deliver(mailMsg("t1@acme.com", "john@acme.com", "First", "1"))
	e.deliver(mailMsg("t2@acme.com", "john@acme.com", "Second", "2"))
	e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusServiceUnavailable)
	err := e.intake.Cycle(context.Background())
	require.Error(t, err)
	assert.Empty(t, e.newTickets(), "the second mail does not overtake the first")
	assert.Zero(t, e.cursor().HandledThrough())
	intents, _ := e.store.Intents()
	assert.Len(t, intents, 1, "the create may have landed: its intent waits for reconciliation")

	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 2)
	assert.Equal(t, "First", tickets[0].Subject)
	assert.Equal(t, "Second", tickets[1].Subject)
	intents, _ = e.store.Intents()
	assert.Empty(t, intents)
}

func testIntakePermanentFailureQuarantinesAndMovesOn(t *testing.T, mk envMaker) {
	e := mk(t, func(_ *IntakeConfig, c *imap.Config) { c.FailedMailbox = "Failed" })
	e.deliver(mailMsg("bad@acme.com", "john@acme.com", "Rejected", "1"))
	e.deliver(mailMsg("good@acme.com", "john@acme.com", "Accepted", "2"))
	e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusUnprocessableEntity)
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	assert.Equal(t, "Accepted", tickets[0].Subject)
	assert.Len(t, e.imap.Messages(t, "Failed"), 1)
	rec, ok, _ := e.store.MessageTicket("bad@acme.com")
	require.True(t, ok)
	assert.Equal(t, "failed", rec.Action)
}

func testIntakeUnparseableMailIsQuarantined(t *testing.T, mk envMaker) {
	e := mk(t, func(_ *IntakeConfig, c *imap.Config) { c.FailedMailbox = "Failed" })
	e.deliver([]byte("this is not a mail at all, no header separator and no colon"))
	e.deliver(mailMsg("fine@acme.com", "john@acme.com", "Fine", "ok"))
	e.cycle()
	assert.Len(t, e.newTickets(), 1)
	assert.Len(t, e.imap.Messages(t, "Failed"), 1)
}

func testIntakeDuplicateMessageIDCreatesOnce(t *testing.T, mk envMaker) {
	e := mk(t)
	raw := mailMsg("dup@acme.com", "john@acme.com", "Twice", "same")
	e.deliver(raw)
	e.deliver(raw)
	e.cycle()
	e.deliver(raw)
	e.cycle()
	assert.Len(t, e.newTickets(), 1)
	e.assertAllSeen()
}

func testIntakeMailWithoutMessageIDIsDedupedByDigest(t *testing.T, mk envMaker) {
	e := mk(t)
	raw := mailMsg("", "john@acme.com", "No id", "body")
	e.deliver(raw)
	e.cycle()
	require.NoError(t, e.store.SetCursor("INBOX", state.Cursor{UIDValidity: e.cursor().UIDValidity, LastUID: 0}))
	e.cycle()
	assert.Len(t, e.newTickets(), 1)
}

func testIntakeUIDValidityChangeRescansWithoutRepeats(t *testing.T, mk envMaker) {
	e := mk(t)
	e.deliver(mailMsg("v1@acme.com", "john@acme.com", "One", "1"))
	e.cycle()
	cur := e.cursor()
	// The server renumbered the mailbox: our cursor's validity is stale.
	require.NoError(t, e.store.SetCursor("INBOX", state.Cursor{UIDValidity: cur.UIDValidity + 1000, LastUID: 99}))
	e.deliver(mailMsg("v2@acme.com", "john@acme.com", "Two", "2"))
	e.cycle()
	assert.Len(t, e.newTickets(), 2)
	assert.Equal(t, cur.UIDValidity, e.cursor().UIDValidity)
}

func testIntakeReconcilesUnfinishedCreate(t *testing.T, mk envMaker) {
	e := mk(t)
	e.deliver(mailMsg("crash@acme.com", "john@acme.com", "Crashed", "body"))
	// A crash after TaskIP accepted the create and before it was recorded:
	// the answer is lost, the intent stays.
	e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
	require.Error(t, e.intake.Cycle(context.Background()))
	require.Len(t, e.newTickets(), 1)

	e.cycle()
	assert.Len(t, e.newTickets(), 1, "reconciliation finds the ticket; no duplicate")
	rec, ok, _ := e.store.MessageTicket("crash@acme.com")
	require.True(t, ok)
	assert.Equal(t, int64(e.newTickets()[0].ID), rec.TicketID)
	assert.True(t, hasFlag(e.imap.Messages(t, "INBOX")[0].Flags, `\Seen`))
}

func testIntakeReplyInSameBatchAsItsTicket(t *testing.T, mk envMaker) {
	e := mk(t)
	e.deliver(mailMsg("q@acme.com", "john@acme.com", "Question", "first"))
	e.deliver(mailMsg("q2@acme.com", "john@acme.com", "Re: Question", "second thought", "In-Reply-To: <q@acme.com>"))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	assert.Len(t, e.fake.Replies(tickets[0].ID), 1)
}

func testIntakeRetriedMailIsCountedOnce(t *testing.T, mk envMaker) {
	e := mk(t, func(c *IntakeConfig, _ *imap.Config) { c.MaxTicketsPerHour = 1 })
	e.deliver(mailMsg("once@acme.com", "john@acme.com", "Only one", "1"))
	for range 3 {
		e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusServiceUnavailable)
		require.Error(t, e.intake.Cycle(context.Background()))
	}
	e.cycle()
	assert.Len(t, e.newTickets(), 1, "retries do not push the sender over the hourly limit")
}

type envMaker func(t *testing.T, opts ...envOption) *intakeEnv

// intakeCases are the inbound rules (README "Mail intake"), each run against go-imap's
// memory server and against a real Dovecot.
var intakeCases = []struct {
	name string
	run  func(t *testing.T, mk envMaker)
}{
	{"NewMailCreatesTicket", testIntakeNewMailCreatesTicket},
	{"ExactlyOneWritePerEmail", testIntakeExactlyOneWritePerEmail},
	{"Threading", testIntakeThreading},
	{"ReplyToClosedTicketReopens", testIntakeReplyToClosedTicketReopens},
	{"ThirdPartyBecomesNote", testIntakeThirdPartyBecomesNote},
	{"RequesterWithoutContactReplies", testIntakeRequesterWithoutContactReplies},
	{"Attachments", testIntakeAttachments},
	{"MessageOverLimitIsImportedAsHeaderWithNote", testIntakeMessageOverLimitIsImportedAsHeaderWithNote},
	{"ProcessedMailbox", testIntakeProcessedMailbox},
	{"TransientFailureStopsInOrderThenRecovers", testIntakeTransientFailureStopsInOrderThenRecovers},
	{"PermanentFailureQuarantinesAndMovesOn", testIntakePermanentFailureQuarantinesAndMovesOn},
	{"UnparseableMailIsQuarantined", testIntakeUnparseableMailIsQuarantined},
	{"DuplicateMessageIDCreatesOnce", testIntakeDuplicateMessageIDCreatesOnce},
	{"MailWithoutMessageIDIsDedupedByDigest", testIntakeMailWithoutMessageIDIsDedupedByDigest},
	{"UIDValidityChangeRescansWithoutRepeats", testIntakeUIDValidityChangeRescansWithoutRepeats},
	{"ReconcilesUnfinishedCreate", testIntakeReconcilesUnfinishedCreate},
	{"ReplyInSameBatchAsItsTicket", testIntakeReplyInSameBatchAsItsTicket},
	{"RateLimitPerSender", testIntakeRateLimitPerSender},
	{"RetriedMailIsCountedOnce", testIntakeRetriedMailIsCountedOnce},
}

// intakeServers make an intake env on each IMAP server the tests use.
var intakeServers = map[string]envMaker{
	"mem": func(t *testing.T, opts ...envOption) *intakeEnv { return newIntakeEnv(t, nil, opts...) },
	"dovecot": func(t *testing.T, opts ...envOption) *intakeEnv {
		return newIntakeEnv(t, mailtest.StartDovecot(t), opts...)
	},
	// One message per batch: every message after the first is read
	// ahead while the one before it is written.
	"mem-read-ahead": func(t *testing.T, opts ...envOption) *intakeEnv {
		return newIntakeEnv(t, nil, append([]envOption{oneMessagePerBatch}, opts...)...)
	},
}

func TestIntake(t *testing.T) {
	for _, server := range []string{"mem", "mem-read-ahead", "dovecot"} {
		t.Run(server, func(t *testing.T) {
			for _, c := range intakeCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, intakeServers[server]) })
			}
		})
	}
}

func oneMessagePerBatch(c *IntakeConfig, _ *imap.Config) { c.BatchSize = 1 }

// The next batch is read and looked up while the one before it is written.
// What that batch changes must still be seen by the next: a reply to a mail
// of the batch before threads to its new ticket, a repeat of its mail is a
// duplicate, and a ticket it reopened is not reopened again.
func TestIntakeReadAheadSeesTheBatchBefore(t *testing.T) {
	// The reopen waits until e has been looked up ahead (the ticket still
	// closed), so e is sure to need the second look.
	gate := &lookedUpFirst{seen: make(chan struct{})}
	e := newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) {
		c.BatchSize = 2
		gate.Tickets = c.Tickets
		c.Tickets = gate
	})
	closed := createFirst(t, e)
	require.NoError(t, e.fake.Mutate(closed.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusClosed }))
	e.fake.ResetRequests()
	gate.ticket.Store(int64(closed.ID))

	// Batches of two: [a, b] [c, d] [e, f].
	e.deliver(mailMsg("a@acme.com", "john@acme.com", "VPN down", "since 9:00"))
	e.deliver(mailMsg("b@acme.com", "emma@acme.com", "Invoice wrong", "twice the amount"))
	e.deliver(mailMsg("c@acme.com", "john@acme.com", "Re: VPN down", "still down", "In-Reply-To: <a@acme.com>"))
	e.deliver(mailMsg("d@acme.com", "john@acme.com", "Re: Login broken", "broken again", "In-Reply-To: <first@acme.com>"))
	e.deliver(mailMsg("e@acme.com", "john@acme.com", "Re: Login broken", "and now?", "In-Reply-To: <first@acme.com>"))
	e.deliver(mailMsg("b@acme.com", "emma@acme.com", "Invoice wrong", "twice the amount"))
	e.cycle()

	tickets := e.newTickets()
	require.Len(t, tickets, 3, "the first ticket, a and b; c threads, the repeat of b is a duplicate")
	// a and b are different conversations, written side by side: their
	// ticket numbers may come in either order.
	bySubject := map[string]taskipfake.Ticket{}
	for _, tk := range tickets[1:] {
		bySubject[tk.Subject] = tk
	}
	require.Contains(t, bySubject, "VPN down")
	require.Contains(t, bySubject, "Invoice wrong")
	vpn := e.fake.Replies(bySubject["VPN down"].ID)
	require.Len(t, vpn, 1)
	assert.Equal(t, "still down", vpn[0].Message)

	after, _ := e.fake.Ticket(closed.ID)
	assert.Equal(t, taskipfake.StatusOpen, after.Status)
	replies := e.fake.Replies(closed.ID)
	require.Len(t, replies, 2)
	assert.Equal(t, "broken again", replies[0].Message)
	assert.Equal(t, "and now?", replies[1].Message)
	statusWrites := e.countRequests(func(r taskipfake.Request) bool {
		return r.Method == http.MethodPost && strings.Contains(r.Path, "/status-update/")
	})
	assert.Equal(t, 1, statusWrites, "e is looked up again after d reopened the ticket")

	msgs := e.assertAllSeen()
	require.Len(t, msgs, 7)
	assert.Equal(t, msgs[6].UID, e.cursor().LastUID)
}

// lookedUpFirst holds the reopen of ticket until that ticket has been read
// twice (by the lookups of two messages).
type lookedUpFirst struct {
	Tickets
	ticket atomic.Int64
	reads  atomic.Int32
	seen   chan struct{}
}

func (g *lookedUpFirst) GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error) {
	if int64(id) == g.ticket.Load() && g.reads.Add(1) == 2 {
		close(g.seen)
	}
	return g.Tickets.GetTicket(ctx, id)
}

func (g *lookedUpFirst) SetStatus(ctx context.Context, uuid string, s taskip.Status, notes string) (*taskip.Ticket, error) {
	select {
	case <-g.seen:
	case <-time.After(5 * time.Second):
		return nil, errors.New("test: the second lookup never came")
	}
	return g.Tickets.SetStatus(ctx, uuid, s, notes)
}

// A batch that fails throws away the batch read ahead of it: nothing after
// the failed message is written before it.
func TestIntakeReadAheadDiscardedWhenTheBatchBeforeFails(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "spool")
	require.NoError(t, os.Mkdir(spool, 0o700))
	e := newIntakeEnv(t, nil, oneMessagePerBatch, func(c *IntakeConfig, _ *imap.Config) { c.SpoolDir = spool })
	for i := range 4 {
		e.deliver(multipartWithAttachment(fmt.Sprintf("r%d@acme.com", i), "john@acme.com", fmt.Sprintf("log%d.txt", i), []byte("line\n")))
	}
	e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusServiceUnavailable)
	require.Error(t, e.intake.Cycle(context.Background()))
	assert.Empty(t, e.newTickets())
	assert.Zero(t, e.cursor().HandledThrough())
	intents, err := e.store.Intents()
	require.NoError(t, err)
	var keys []string
	for _, in := range intents {
		keys = append(keys, in.Key)
	}
	assert.Equal(t, []string{"r0@acme.com"}, keys,
		"the failed create keeps its intent for reconciliation; the read-ahead's intents are gone")

	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 4)
	for i, tk := range tickets {
		files := e.fake.Attachments(tk.ID)
		require.Len(t, files, 1)
		assert.Equal(t, fmt.Sprintf("log%d.txt", i), files[0].Filename, "in UID order")
	}
	left, err := os.ReadDir(spool)
	require.NoError(t, err)
	assert.Empty(t, left, "the discarded read-ahead removed its spooled attachments")
}

// A batch holds at most BatchBytes of mail; the messages cut off follow in
// the same cycle rather than at the next poll.
func TestIntakeBatchBytesCutsBatchesNotTheCycle(t *testing.T) {
	e := newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) { c.BatchBytes = 1 })
	for i := range 3 {
		e.deliver(mailMsg(fmt.Sprintf("bb%d@acme.com", i), "john@acme.com", fmt.Sprintf("Question %d", i), "?"))
	}
	e.fake.ResetRequests()
	e.cycle()
	require.Len(t, e.newTickets(), 3, "one cycle")
	creates := e.countRequests(func(r taskipfake.Request) bool { return r.Method == http.MethodPost })
	assert.Equal(t, 3, creates, "one create each")
	// Outcomes are recorded beside the next batch's writes; by the end of
	// the cycle every one is, and no intent is left.
	for i := range 3 {
		rec, ok, err := e.store.MessageTicket(fmt.Sprintf("bb%d@acme.com", i))
		require.NoError(t, err)
		assert.True(t, ok && rec.TicketID != 0, "bb%d recorded", i)
	}
	intents, err := e.store.Intents()
	require.NoError(t, err)
	assert.Empty(t, intents)
	msgs := e.assertAllSeen()
	assert.Equal(t, msgs[len(msgs)-1].UID, e.cursor().LastUID)
}

func TestFitBatch(t *testing.T) {
	envs := func(sizes ...int64) []imap.Envelope {
		var out []imap.Envelope
		for i, s := range sizes {
			out = append(out, imap.Envelope{UID: uint32(i + 1), Size: s})
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		sizes []int64
		want  int
	}{
		{"all fit", []int64{10, 20, 30}, 3},
		{"cut where the sum passes the budget", []int64{40, 40, 40}, 2},
		{"a big first message still goes alone", []int64{500, 1}, 1},
		{"over the message limit counts at the limit", []int64{10, 1 << 30}, 1},
		{"exactly the budget", []int64{50, 50}, 2},
		{"empty", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Len(t, fitBatch(envs(tt.sizes...), 100, 200), tt.want)
		})
	}
}

// The mail of a recorded batch is marked by the goroutine that reads the
// batch after next. When marking fails, the cursor stays before the
// unmarked mail, no intent is left behind, and the next cycle marks what
// was recorded and handles the rest, every message once.
func TestIntakeMarkFailureKeepsTheCursorBeforeUnmarkedMail(t *testing.T) {
	flaky := &failingMark{}
	e := newIntakeEnv(t, nil, oneMessagePerBatch)
	flaky.Inbox = e.inbox
	e.intake.cfg.Inbox = flaky
	for i := range 3 {
		e.deliver(mailMsg(fmt.Sprintf("k%d@acme.com", i), "john@acme.com", fmt.Sprintf("Question %d", i), "?"))
	}
	flaky.failures.Store(1)
	require.Error(t, e.intake.Cycle(context.Background()))
	require.Len(t, e.newTickets(), 2, "the second message was written while the first was being marked")
	intents, err := e.store.Intents()
	require.NoError(t, err)
	assert.Empty(t, intents)
	assert.Zero(t, e.cursor().HandledThrough(), "the first message is not marked")
	for _, m := range e.imap.Messages(t, "INBOX") {
		assert.False(t, hasFlag(m.Flags, `\Seen`), "uid %d", m.UID)
	}

	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 3, "no message twice")
	for i, tk := range tickets {
		assert.Equal(t, fmt.Sprintf("Question %d", i), tk.Subject)
	}
	msgs := e.assertAllSeen()
	require.Len(t, msgs, 3)
	assert.Equal(t, msgs[2].UID, e.cursor().LastUID)
}

// failingMark fails the next n MarkProcessedSet calls.
type failingMark struct {
	Inbox
	failures atomic.Int32
}

func (f *failingMark) MarkProcessedSet(ctx context.Context, uids []uint32) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("test: mailbox refused the flags")
	}
	return f.Inbox.MarkProcessedSet(ctx, uids)
}

// A rejected key (being rotated, mistyped) is the daemon's problem, not the
// message's: mail waits in the inbox instead of being quarantined.
func TestIntakeRejectedKeyWaitsInsteadOfQuarantining(t *testing.T) {
	e := newIntakeEnv(t, nil, func(_ *IntakeConfig, c *imap.Config) { c.FailedMailbox = "Failed" })
	e.deliver(mailMsg("key@acme.com", "john@acme.com", "Login broken", "I cannot log in."))
	e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusUnauthorized)
	require.Error(t, e.intake.Cycle(context.Background()))
	assert.Empty(t, e.newTickets())
	assert.Empty(t, e.imap.Messages(t, "Failed"), "not quarantined")
	_, ok, err := e.store.MessageTicket("key@acme.com")
	require.NoError(t, err)
	assert.False(t, ok, "not recorded as handled")

	e.cycle() // the key works again
	assert.Len(t, e.newTickets(), 1)
}

// A create or reply whose answer was lost is found by reconciliation; the
// attachments that were to follow it still reach the ticket, once.
func TestIntakeReconcileFinishesAttachments(t *testing.T) {
	withLostCreate := func(t *testing.T) (*intakeEnv, taskipfake.Ticket) {
		e := newIntakeEnv(t, nil)
		e.deliver(multipartWithAttachment("att-lost@acme.com", "john@acme.com", "log.txt", []byte(strings.Repeat("line\n", 100))))
		e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
		require.Error(t, e.intake.Cycle(context.Background()))
		tickets := e.newTickets()
		require.Len(t, tickets, 1)
		require.Empty(t, e.fake.Attachments(tickets[0].ID))
		return e, tickets[0]
	}
	fileNames := func(e *intakeEnv, id int) []string {
		var names []string
		for _, f := range e.fake.Attachments(id) {
			names = append(names, f.Filename)
		}
		return names
	}

	t.Run("uploaded after the ticket is found", func(t *testing.T) {
		e, tk := withLostCreate(t)
		e.cycle()
		assert.Len(t, e.newTickets(), 1)
		assert.Equal(t, []string{"log.txt"}, fileNames(e, tk.ID))
		assert.Empty(t, e.fake.Notes(tk.ID))
		e.assertAllSeen()
	})
	t.Run("not uploaded twice", func(t *testing.T) {
		e, tk := withLostCreate(t)
		// The file reached the ticket before the crash.
		_, err := e.client.UploadAttachments(context.Background(), taskip.ID(tk.ID),
			[]taskip.File{{Name: "log.txt", ContentType: "text/plain", Open: func() (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(strings.Repeat("line\n", 100))), nil
			}}}, "")
		require.NoError(t, err)
		e.cycle()
		assert.Equal(t, []string{"log.txt"}, fileNames(e, tk.ID))
	})
	t.Run("a note when the mail is gone", func(t *testing.T) {
		e, tk := withLostCreate(t)
		e.imap.(*mailtest.MemServer).RecreateMailbox(t, "INBOX")
		e.cycle()
		assert.Empty(t, e.fake.Attachments(tk.ID))
		notes := e.fake.Notes(tk.ID)
		require.Len(t, notes, 1)
		assert.Contains(t, notes[0].Note, "1 attachment(s) of the email from john@acme.com may be missing")
	})
}

// Follow-ups TaskIP refuses for good (the ticket deleted meanwhile) are
// given up with a log line: the interrupted write is still recorded and
// the mailbox moves on.
func TestIntakeReconcileGivesUpFollowUpsTaskIPRefuses(t *testing.T) {
	e := newIntakeEnv(t, nil)
	e.deliver(multipartWithAttachment("att-gone@acme.com", "john@acme.com", "log.txt", []byte(strings.Repeat("line\n", 100))))
	e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
	require.Error(t, e.intake.Cycle(context.Background()))
	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	e.fake.FailNextOn(http.MethodGet, fmt.Sprintf("/ticket/%d/attachments", tickets[0].ID), 1, http.StatusNotFound)

	e.cycle()
	assert.Len(t, e.newTickets(), 1)
	e.assertAllSeen()
	rec, ok, err := e.store.MessageTicket("att-gone@acme.com")
	require.NoError(t, err)
	require.True(t, ok, "recorded")
	assert.Equal(t, int64(tickets[0].ID), rec.TicketID)
}
