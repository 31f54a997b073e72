package bridge

// End-to-end scenarios of the Slack and outbound-mail flows, written the way
// a support team works: customers mail, agents answer from Slack (thread
// messages, /ticket, parent menus) and the TaskIP web app, and customers
// answer our mail. Each test asserts what a helpdesk user would expect
// (README "Ticket watch", "Slack commands and threads", "Outbound mail").

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// decodedBody is what the customer reads: the mail's text/plain parts,
// transfer encoding undone.
func decodedBody(t *testing.T, r mailtest.Received) string {
	t.Helper()
	text, _, err := mailParts(r.Data)
	require.NoError(t, err)
	return text
}

// ---------------------------------------------------------------------------
// The in-process commands flow (newCommandsEnv) with a mailing outbox, and
// optionally a wrapper around what Commands asks of TaskIP.

func newScenarioEnv(t *testing.T, wrap func(AgentTickets) AgentTickets) (*commandsEnv, taskipfake.Ticket, *mailtest.SMTPServer) {
	t.Helper()
	e, tk, smtp := newWrappedMailingCommandsEnv(t, wrap)
	e.slack.AddUser(slackfake.User{ID: "UDAVID", Name: "david", RealName: "David Chen", Email: "david@company.com"})
	return e, tk, smtp
}

// event posts a raw Events API message event.
func (e *commandsEnv) event(eventID string, ev map[string]any, headers ...string) {
	e.t.Helper()
	if _, ok := ev["type"]; !ok {
		ev["type"] = "message"
	}
	if _, ok := ev["channel"]; !ok {
		ev["channel"] = testChannel
	}
	body, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": eventID, "team_id": "T1", "event": ev})
	resp := e.post("events", "application/json", body, signingSecret, 0, headers...)
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
}

func (e *commandsEnv) postSigned(path, ctype string, body []byte) {
	e.t.Helper()
	require.Equal(e.t, http.StatusOK, e.post(path, ctype, body, signingSecret, 0).StatusCode)
}

func (e *commandsEnv) waitThreadText(id int, sub string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		return slices.ContainsFunc(e.threadTexts(id), func(s string) bool { return strings.Contains(s, sub) })
	}, scWait, scTick, "thread of #%d shows %q; it has %q", id, sub, e.threadTexts(id))
}

// showNew gives a ticket made in the web app its thread, as a poll would.
func (e *commandsEnv) showNew(tk taskipfake.Ticket) string {
	e.t.Helper()
	e.watch.TicketChanged(taskip.ID(tk.ID))
	var th thread
	require.Eventually(e.t, func() bool {
		var ok bool
		th, ok = storedThread(e.t, e.store, tk.ID)
		return ok
	}, scWait, scTick, "ticket %d has a thread", tk.ID)
	return th.TS
}

// countIn counts the strings containing sub.
func countIn(texts []string, sub string) int {
	n := 0
	for _, s := range texts {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// slowFirstReply holds the first customer reply Commands makes for a
// while, as a slow TaskIP answer would.
type slowFirstReply struct {
	AgentTickets
	calls atomic.Int32
	delay time.Duration
}

func (s *slowFirstReply) Reply(ctx context.Context, uuid string, f taskip.ReplyFields) (taskip.Reply, error) {
	if s.calls.Add(1) == 1 {
		time.Sleep(s.delay)
	}
	return s.AgentTickets.Reply(ctx, uuid, f)
}

// =========================================================================
// Scenarios

// Slack delivers one message three times (its retries), the agent edits and
// deletes it, another bot and our own bot write in the thread: TaskIP gets
// exactly one write.
func TestScenarioSlackRetriesEditsDeletesAndBotsWriteOnce(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	ts := e.threadTS(tk.ID)
	const noteTS = "1700000100.000100"
	note := map[string]any{"user": "USARAH", "text": "toner ordered, arrives Friday", "ts": noteTS, "thread_ts": ts}
	e.event("EvOnce", note)
	e.event("EvOnce", note, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout")
	e.event("EvOnce", note, "X-Slack-Retry-Num", "2", "X-Slack-Retry-Reason", "http_timeout")
	e.event("EvEdit", map[string]any{"subtype": "message_changed", "hidden": true, "ts": "1700000101.000100",
		"message": map[string]any{"type": "message", "user": "USARAH", "text": "toner ordered, arrives Thursday",
			"ts": noteTS, "thread_ts": ts, "edited": map[string]any{"user": "USARAH", "ts": "1700000101.000100"}}})
	e.event("EvDelete", map[string]any{"subtype": "message_deleted", "hidden": true, "ts": "1700000102.000100",
		"deleted_ts": noteTS, "previous_message": map[string]any{"type": "message", "user": "USARAH",
			"text": "toner ordered, arrives Thursday", "ts": noteTS, "thread_ts": ts}})
	e.event("EvOtherBot", map[string]any{"subtype": "bot_message", "bot_id": "BDEPLOY", "username": "deploybot",
		"text": "reply: deploy finished", "ts": "1700000103.000100", "thread_ts": ts})
	e.event("EvEcho", map[string]any{"user": "UBOT", "bot_id": "BBOT0001", "text": "Note saved (internal).",
		"ts": "1700000104.000100", "thread_ts": ts})
	e.event("EvEchoBlocks", map[string]any{"user": "UOTHERAPP", "text": "Ticket update", "ts": "1700000105.000100", "thread_ts": ts,
		"blocks": []any{map[string]any{"type": "section", "block_id": mapping.BlockPrefix + tk.UUID + ":fields",
			"text": map[string]any{"type": "mrkdwn", "text": "Ticket update"}}}})

	require.Eventually(t, func() bool { return len(e.fake.Notes(tk.ID)) == 1 }, scWait, scTick)
	e.waitThreadText(tk.ID, "Note saved (internal)")
	time.Sleep(300 * time.Millisecond) // a second write would have happened by now
	assert.Equal(t, []string{"POST /support-ticket/" + tk.UUID + "/note-store"}, e.writes(), "exactly one TaskIP write")
	assert.Equal(t, "toner ordered, arrives Friday", e.fake.Notes(tk.ID)[0].Note)
	assert.Empty(t, e.fake.Replies(tk.ID), "no bot speaks to the customer")
	assert.Equal(t, 1, countIn(e.threadTexts(tk.ID), "Note saved"), "one confirmation")
	assert.Empty(t, smtp.Messages())
}

// A reply with Slack's formatting (labelled links, mailto, escaped
// characters, a labelled mention) reads as typed in TaskIP and the mail.
func TestScenarioSlackFormattedReplyReadsAsTyped(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	e.message("EvFmt", "USARAH", "reply: See <https://docs.acme.com/reset|the reset guide> or write to "+
		"<mailto:help@acme.com|help@acme.com>. Tom &amp; Jerry &lt;3 - <@U123|sarah> will call.", e.threadTS(tk.ID))
	const want = "See the reset guide (https://docs.acme.com/reset) or write to help@acme.com. Tom & Jerry <3 - @sarah will call."
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 1 }, scWait, scTick)
	assert.Equal(t, want, e.fake.Replies(tk.ID)[0].Message)
	body := decodedBody(t, waitMails(t, smtp, 1)[0])
	assert.Contains(t, body, want)
	for _, raw := range []string{"&amp;", "&lt;", "<https:", "mailto:", "<@U123", "|"} {
		assert.NotContains(t, body, raw)
	}
}

// A bare mention (no label, as the Events API sends it) reads as the
// person's name, never as a Slack user id.
func TestScenarioSlackBareMentionReadsAsName(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	e.message("EvMention", "USARAH", "reply: Hi John, my colleague <@UDAVID> will call you today.", e.threadTS(tk.ID))
	const want = "Hi John, my colleague @David Chen will call you today."
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 1 }, scWait, scTick)
	assert.Equal(t, want, e.fake.Replies(tk.ID)[0].Message)
	got := waitMails(t, smtp, 1)[0]
	assert.Contains(t, decodedBody(t, got), want)
	assert.NotContains(t, mailText(got), "UDAVID")
}

// A reply on a ticket whose customer has no email reaches TaskIP; no mail
// goes anywhere and the thread does not claim one did.
func TestScenarioSlackReplyToCustomerWithoutEmail(t *testing.T) {
	e, _, smtp := newScenarioEnv(t, nil)
	tk := e.fake.SeedTicket(taskipfake.Ticket{Subject: "Visitor at the front desk", Priority: taskipfake.PriorityNormal,
		Status: taskipfake.StatusOpen, User: &taskipfake.Person{Name: "Walk-up Visitor"}})
	ts := e.showNew(tk)
	e.message("EvNoMail", "USARAH", "reply: Your badge is ready at reception.", ts)
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 1 }, scWait, scTick)
	e.waitThreadText(tk.ID, "as a reply.")
	assert.Equal(t, 0, countIn(e.threadTexts(tk.ID), "by email"), "the confirmation does not claim a mail: %q", e.threadTexts(tk.ID))
	time.Sleep(200 * time.Millisecond)
	assert.Empty(t, smtp.Messages())
	assert.Zero(t, e.store.OutboxDepth())
}

// Two agents work one ticket at once: one assigns it to herself, the other
// raises the priority, and both answer "Thanks!". Both replies reach TaskIP
// and the customer.
func TestScenarioSlackTwoAgentsOnOneTicket(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	ts := e.threadTS(tk.ID)
	respURL := e.responses.Server.URL + "/resp"
	postAction(t, e.postSigned, "USARAH", tk.UUID, mapping.ActionAssignMe, "", respURL)
	postAction(t, e.postSigned, "UDAVID", tk.UUID, mapping.ActionSetPriority, "high", respURL)
	e.message("EvSarahThanks", "USARAH", "reply: Thanks!", ts)
	e.message("EvDavidThanks", "UDAVID", "reply: Thanks!", ts)
	e.waitResponse(2)
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 2 }, scWait, scTick)
	for _, r := range e.fake.Replies(tk.ID) {
		assert.Equal(t, "Thanks!", r.Message)
	}
	waitMails(t, smtp, 2)
	time.Sleep(300 * time.Millisecond) // a third mail would be out by now
	msgs := smtp.Messages()
	assert.Len(t, msgs, 2, "each reply mailed once")
	assert.Equal(t, 2, mailsContaining(msgs, "Thanks!"))
	after, _ := e.fake.Ticket(tk.ID)
	assert.Equal(t, 7, after.AssignedTo, "Sarah Johnson")
	assert.Equal(t, taskipfake.PriorityHigh, after.Priority)
}

// The same words replied from Slack and later from the web app are two
// replies, and the customer gets both.
func TestScenarioSlackSameTextFromSlackThenWebApp(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	const text = "The replacement part ships tomorrow."
	e.message("EvSame", "USARAH", "reply: "+text, e.threadTS(tk.ID))
	mailWith(t, smtp, text)
	e.waitThreadText(tk.ID, "by email too")

	_, err := e.fake.AddAgentReply(tk.ID, "Sarah Johnson", text)
	require.NoError(t, err)
	e.watch.TicketChanged(taskip.ID(tk.ID))
	waitMails(t, smtp, 2)
	time.Sleep(200 * time.Millisecond) // a third mail would be out by now
	msgs := smtp.Messages()
	assert.Len(t, msgs, 2)
	assert.Equal(t, 2, mailsContaining(msgs, text), "two TaskIP replies, two mails")
	assert.Len(t, e.fake.Replies(tk.ID), 2)
}

// A ticket deleted in TaskIP: commands and thread messages say so, and
// nothing is written or mailed.
func TestScenarioSlackWorkOnATicketDeletedInTaskIP(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	ts := e.threadTS(tk.ID)
	tickets := len(e.fake.Tickets())
	require.NoError(t, e.fake.Delete(tk.ID))

	for _, cmd := range []string{"show %d", "status %d pending", "priority %d high", "note %d called the customer", "reply %d We are on it."} {
		e.command("USARAH", fmt.Sprintf(cmd, tk.ID))
	}
	for _, r := range e.waitResponse(5) {
		assert.Contains(t, r, "No such ticket")
	}
	e.message("EvGoneNote", "USARAH", "checked the printer", ts)
	e.message("EvGoneReply", "USARAH", "reply: We are on it.", ts)
	require.Eventually(t, func() bool { return countIn(e.threadTexts(tk.ID), "No such ticket") == 2 }, scWait, scTick,
		"thread: %q", e.threadTexts(tk.ID))
	time.Sleep(200 * time.Millisecond)
	for _, r := range e.fake.Requests() {
		if r.Method != http.MethodGet {
			assert.Equal(t, http.StatusNotFound, r.Status, "%s %s", r.Method, r.Path)
		}
	}
	assert.Len(t, e.fake.Tickets(), tickets-1, "no ticket made in its place")
	assert.Empty(t, smtp.Messages())
	assert.Zero(t, e.store.OutboxDepth())
}

// A reply on a closed ticket is refused with advice; once reopened, the
// same reply goes through and is mailed once.
func TestScenarioSlackReplyOnClosedTicketAfterReopen(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	ts := e.threadTS(tk.ID)
	e.command("USARAH", fmt.Sprintf("status %d closed", tk.ID))
	assert.Contains(t, e.waitResponse(1)[0], "Closed")

	e.message("EvClosed1", "USARAH", "reply: The printer is fixed.", ts)
	e.waitThreadText(tk.ID, "the ticket is closed")
	assert.Empty(t, e.fake.Replies(tk.ID))

	e.command("USARAH", fmt.Sprintf("status %d open", tk.ID))
	assert.Contains(t, e.waitResponse(2)[1], "Open")
	e.message("EvClosed2", "USARAH", "reply: The printer is fixed.", ts)
	got := mailWith(t, smtp, "The printer is fixed.")
	assert.Equal(t, []string{"john@acme.com"}, got.To)
	e.waitThreadText(tk.ID, "by email too")
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, e.fake.Replies(tk.ID), 1)
	assert.Len(t, smtp.Messages(), 1)
}

// Reply 1 meets an SMTP outage; reply 2 is written once the server is back.
// The customer still reads reply 1 first.
func TestScenarioSlackRepliesKeepTheirOrderThroughAnSMTPOutage(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	ts := e.threadTS(tk.ID)
	smtp.SetDown(true)
	e.message("EvOut1", "USARAH", "reply: First, unplug the printer.", ts)
	require.Eventually(t, func() bool {
		tried := false
		_ = e.store.View(func(tx *state.Tx) error {
			open, err := tx.OutboxOpen()
			for _, en := range open {
				tried = tried || en.Attempts > 0
			}
			return err
		})
		return tried
	}, scWait, scTick, "reply 1 met the outage")
	smtp.SetDown(false)
	e.message("EvOut2", "USARAH", "reply: Then plug it in again.", ts)
	msgs := waitMails(t, smtp, 2)
	assert.Contains(t, decodedBody(t, msgs[0]), "First, unplug the printer.")
	assert.Contains(t, decodedBody(t, msgs[1]), "Then plug it in again.")
	replies := e.fake.Replies(tk.ID)
	require.Len(t, replies, 2)
	assert.Equal(t, "First, unplug the printer.", replies[0].Message)
}

// Two quick replies, the first one's TaskIP call slow: TaskIP and the
// customer's mailbox have them in the order written.
func TestScenarioSlackRapidRepliesKeepTheirOrder(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, func(a AgentTickets) AgentTickets {
		return &slowFirstReply{AgentTickets: a, delay: 200 * time.Millisecond}
	})
	ts := e.threadTS(tk.ID)
	e.message("EvStep1", "USARAH", "reply: Step 1", ts)
	e.message("EvStep2", "USARAH", "reply: Step 2", ts)
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 2 }, scWait, scTick)
	var texts []string
	for _, r := range e.fake.Replies(tk.ID) {
		texts = append(texts, r.Message)
	}
	assert.Equal(t, []string{"Step 1", "Step 2"}, texts)
	msgs := waitMails(t, smtp, 2)
	assert.Contains(t, decodedBody(t, msgs[0]), "Step 1")
	assert.Contains(t, decodedBody(t, msgs[1]), "Step 2")
}

// A thread message whose author cannot be checked is claimed (Slack will
// not send it again), so the thread must say nothing was saved.
func TestScenarioSlackThreadMessageIsNeverDroppedSilently(t *testing.T) {
	t.Run("no email in the Slack profile", func(t *testing.T) {
		e, tk, _ := newScenarioEnv(t, nil)
		e.slack.AddUser(slackfake.User{ID: "UNOMAIL", Name: "temp", RealName: "Temp Worker"})
		e.message("EvNoMail", "UNOMAIL", "reply: I will take this one.", e.threadTS(tk.ID))
		e.waitThreadText(tk.ID, "Nothing was saved")
		assert.Empty(t, e.fake.Replies(tk.ID))
		assert.Empty(t, e.fake.Notes(tk.ID))
	})
	t.Run("team-member search answers 503", func(t *testing.T) {
		e, tk, _ := newScenarioEnv(t, nil)
		e.fake.FailNextOn(http.MethodGet, "/team-member", 5, http.StatusServiceUnavailable)
		e.message("EvDown", "USARAH", "checked the toner", e.threadTS(tk.ID))
		e.waitThreadText(tk.ID, "Nothing was saved")
		assert.Empty(t, e.fake.Replies(tk.ID))
		assert.Empty(t, e.fake.Notes(tk.ID))
	})
}

// TaskIP takes a Slack reply but its answer is lost: the thread says TaskIP
// did not confirm, and the customer gets the reply exactly once (the watch
// finds it in TaskIP as it finds any reply it was not told about).
func TestScenarioSlackReplyWithLostTaskIPAnswerIsMailedOnce(t *testing.T) {
	e, tk, smtp := newScenarioEnv(t, nil)
	e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket/reply/", 1)
	const text = "Your refund was issued today."
	e.message("EvLost", "USARAH", "reply: "+text, e.threadTS(tk.ID))
	e.waitThreadText(tk.ID, "did not confirm")
	require.Len(t, e.fake.Replies(tk.ID), 1, "TaskIP has the reply")

	e.watch.TicketChanged(taskip.ID(tk.ID)) // the next poll
	mailWith(t, smtp, text)
	e.watch.TicketChanged(taskip.ID(tk.ID))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, mailsContaining(smtp.Messages(), text), "mailed exactly once")
	assert.Len(t, e.fake.Replies(tk.ID), 1)
}
