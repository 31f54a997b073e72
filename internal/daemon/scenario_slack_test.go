package daemon

// End-to-end scenarios of the Slack and outbound-mail flows on a whole
// daemon, written the way a support team works: customers mail, agents
// answer from Slack (thread messages, /ticket, parent menus) and the
// TaskIP web app, and customers answer our mail. Each test asserts what a
// helpdesk user would expect.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
	"github.com/ticketsync/ticketsync/internal/testkit"
)

// scenarioDaemon is a whole daemon with IMAP, SMTP, Slack and TaskIP
// fakes on loopback.
type scenarioDaemon struct {
	t      *testing.T
	taskip *taskipfake.Server
	slack  *slackfake.Server
	imap   *mailtest.MemServer
	smtp   *mailtest.SMTPServer
	d      *Daemon
	resp   *responses
	// What restart needs to run another daemon on the same servers.
	base, statePath, stateKeys, sections string
	opts                                 Options
	stop                                 func()
}

// stopDaemon stops the daemon (cleanly, as on SIGTERM).
func (e *scenarioDaemon) stopDaemon() {
	e.t.Helper()
	e.stop()
}

// restart runs a new daemon on the same servers and state file.
func (e *scenarioDaemon) restart() {
	e.t.Helper()
	e.stop()
	d, stop := startDaemonWithState(e.t, e.base, e.statePath, e.stateKeys, e.sections, e.opts)
	e.t.Cleanup(stop)
	e.d, e.stop = d, stop
}

// startScenarioDaemon runs a daemon with mail (intake and outbox) and Slack.
// seed runs on the TaskIP fake and the IMAP server before the daemon
// starts; what it returns is appended to the mail section (two-space
// indented keys).
func startScenarioDaemon(t *testing.T, seed func(*taskipfake.Server, *mailtest.MemServer) string) *scenarioDaemon {
	t.Helper()
	return startScenarioDaemonWith(t, seed, scenarioOptions{})
}

// scenarioOptions change what startScenarioDaemonWith builds.
type scenarioOptions struct {
	SMTP   mailtest.SMTPOptions
	Daemon Options
	// StatePath is the state file; "" is one in a fresh temporary
	// directory.
	StatePath string
	// StateKeys are more keys of the state section, two spaces indented.
	StateKeys string
}

// startScenarioDaemonWith is startScenarioDaemon with options.
func startScenarioDaemonWith(t *testing.T, seed func(*taskipfake.Server, *mailtest.MemServer) string, o scenarioOptions) *scenarioDaemon {
	t.Helper()
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})
	mailExtra := ""
	if seed != nil {
		mailExtra = seed(tf, imap)
	}
	sf := slackfake.New(t)
	sf.AddUser(slackfake.User{ID: "USARAH", Name: "sarah", RealName: "Sarah Johnson", Email: "sarah@company.com"})
	sf.AddUser(slackfake.User{ID: "UDAVID", Name: "david", RealName: "David Chen", Email: "david@company.com"})
	sf.AddUser(slackfake.User{ID: "USTRANGER", Name: "stranger", RealName: "Some One", Email: "someone@elsewhere.example"})
	smtp := mailtest.StartSMTP(t, o.SMTP)
	sections := mailSection(imap, smtp, "  acknowledge_new: true\n"+mailExtra) + fmt.Sprintf(`slack:
  bot_token: %s
  signing_secret: %s
  api_url: %s
  channel: %s
  agents:
    USARAH: 7
    UDAVID: 8
`, slackfake.DefaultToken, signingSecret, sf.URL(), testChannel)
	statePath := o.StatePath
	if statePath == "" {
		statePath = filepath.Join(t.TempDir(), "state.db")
	}
	d, stop := startDaemonWithState(t, base, statePath, o.StateKeys, sections, o.Daemon)
	t.Cleanup(stop)
	resp := newResponses(t)
	e := &scenarioDaemon{t: t, taskip: tf, slack: sf, imap: imap, smtp: smtp, d: d, resp: resp,
		base: base, statePath: statePath, stateKeys: o.StateKeys, sections: sections, opts: o.Daemon, stop: stop}
	require.Eventually(t, func() bool { ok, _ := d.watch.BaselineDone(); return ok }, scWait, scTick, "the watch recorded its baseline")
	return e
}

// customerMails puts a mail in the support inbox.
func (e *scenarioDaemon) customerMails(raw []byte) { e.imap.Append(e.t, "INBOX", raw) }

// ticketBySubject waits for the ticket a mail made.
func (e *scenarioDaemon) ticketBySubject(subject string) taskipfake.Ticket {
	e.t.Helper()
	var tk taskipfake.Ticket
	require.Eventually(e.t, func() bool {
		for _, x := range e.taskip.Tickets() {
			if x.Subject == subject {
				tk = x
				return true
			}
		}
		return false
	}, scWait, scTick, "a ticket %q", subject)
	return tk
}

func (e *scenarioDaemon) threadTS(id int) string {
	e.t.Helper()
	var th state.Thread
	require.Eventually(e.t, func() bool {
		var ok bool
		th, ok = storedThread(e.t, e.d.store, id)
		return ok
	}, scWait, scTick, "ticket %d has a Slack thread", id)
	return th.TS
}

func (e *scenarioDaemon) threadTexts(id int) []string {
	var out []string
	for _, c := range e.slack.Thread(testChannel, e.threadTS(id)) {
		out = append(out, c.Text)
	}
	return out
}

// waitThread waits for a thread message containing sub.
func (e *scenarioDaemon) waitThread(id int, sub string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		return slices.ContainsFunc(e.threadTexts(id), func(s string) bool { return strings.Contains(s, sub) })
	}, scWait, scTick, "thread of #%d shows %q; it has %q", id, sub, e.threadTexts(id))
}

func (e *scenarioDaemon) mails(n int) []mailtest.Received {
	e.t.Helper()
	return testkit.WaitMails(e.t, e.smtp, n)
}

func (e *scenarioDaemon) post(path, contentType string, body []byte) {
	e.t.Helper()
	req := testkit.SignedRequest(e.t, "http://"+e.d.Addr()+"/slack/"+path, contentType, body, signingSecret, 0)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
}

func (e *scenarioDaemon) message(eventID, user, text, threadTS string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": eventID, "team_id": "T1",
		"event": map[string]any{"type": "message", "channel": testChannel, "user": user, "text": text,
			"ts": slackTS(), "thread_ts": threadTS}})
	e.post("events", "application/json", body)
}

func (e *scenarioDaemon) command(user, text string) {
	e.t.Helper()
	form := url.Values{"command": {"/ticket"}, "text": {text}, "user_id": {user}, "channel_id": {testChannel},
		"response_url": {e.resp.Server.URL + "/resp"}, "team_id": {"T1"}}
	e.post("commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// menu picks an option of a parent message's status or priority menu.
func (e *scenarioDaemon) menu(user, uuid, actionID, option string) {
	e.t.Helper()
	postAction(e.t, e.post, user, uuid, actionID, option, e.resp.Server.URL+"/resp")
}

func (e *scenarioDaemon) waitResponse(n int) []string {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(e.resp.All()) >= n }, scWait, scTick, "%d responses", n)
	return e.resp.All()
}

// event posts a raw Events API message event to the daemon.
func (e *scenarioDaemon) event(eventID string, ev map[string]any) {
	e.t.Helper()
	ev["type"], ev["channel"] = "message", testChannel
	body, _ := json.Marshal(map[string]any{"type": "event_callback", "event_id": eventID, "team_id": "T1", "event": ev})
	e.post("events", "application/json", body)
}

// mailWith waits for the sent mail whose text contains sub.
func (e *scenarioDaemon) mailWith(sub string) mailtest.Received {
	e.t.Helper()
	return mailWith(e.t, e.smtp, sub)
}

// parentBlocks is the current Block Kit of a ticket's parent message.
func (e *scenarioDaemon) parentBlocks(id int) string {
	m, ok := e.slack.Message(testChannel, e.threadTS(id))
	require.True(e.t, ok)
	return string(m.Blocks)
}

var scSeq struct {
	sync.Mutex
	n int64
}

// slackTS makes a message ts that is unique within the test binary.
func slackTS() string {
	scSeq.Lock()
	defer scSeq.Unlock()
	scSeq.n++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), scSeq.n%1000000)
}

// mailAttachments are a mail's attached files by name.
func mailAttachments(t *testing.T, r mailtest.Received) map[string][]byte {
	t.Helper()
	_, files, err := mailParts(r.Data)
	require.NoError(t, err)
	return files
}

// clientReplies are the customer's replies on a ticket, by text.
func clientReplies(tf *taskipfake.Server, id int) []string {
	var out []string
	for _, r := range tf.Replies(id) {
		if r.AuthorType == "client" {
			out = append(out, r.Message)
		}
	}
	return out
}

// agentReplyTexts are the team members' replies on a ticket, by text.
func agentReplyTexts(tf *taskipfake.Server, id int) []string {
	var out []string
	for _, r := range tf.Replies(id) {
		if r.AuthorType == "team_member" {
			out = append(out, r.Message)
		}
	}
	return out
}

// catchAllSeed files senders who are no TaskIP contact under a catch-all
// contact (mail.default_user_id).
func catchAllSeed(tf *taskipfake.Server, _ *mailtest.MemServer) string {
	c := tf.SeedContact(taskipfake.Contact{Name: "Support Inbox", Email: catchAllAddr})
	return fmt.Sprintf("  default_user_id: %d\n", c.ID)
}

const catchAllAddr = "inbox@company.com"

// A whole conversation: the customer mails, the agent writes a note and a
// reply in the thread, sets the ticket pending from the parent menu, the
// customer answers our mail, and the agent answers again.
func TestScenarioSlackMailConversationEndToEnd(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("jane-1@customers.test", "Jane Roe <jane@customers.test>", "Cannot export invoices", "The export button does nothing.\n"))
	tk := e.ticketBySubject("Cannot export invoices")
	ts := e.threadTS(tk.ID)
	ack := e.mails(1)[0]
	assert.Equal(t, []string{"jane@customers.test"}, ack.To, "the acknowledgement goes to the sender")

	// An internal note: nothing reaches the customer.
	e.message("EvConv1", "USARAH", "looks like the CSV worker is stuck", ts)
	require.Eventually(t, func() bool { return len(e.taskip.Notes(tk.ID)) == 1 }, scWait, scTick)
	e.waitThread(tk.ID, "Note saved (internal)")

	// A reply: TaskIP and the customer's mailbox.
	e.message("EvConv2", "USARAH", "reply: Hi Jane, we restarted the export worker. Please try again.", ts)
	reply := e.mails(2)[1]
	assert.Equal(t, []string{"jane@customers.test"}, reply.To)
	rh := header(t, reply)
	assert.Contains(t, mailText(reply), "we restarted the export worker")
	assert.Equal(t, "<jane-1@customers.test>", rh.Get("In-Reply-To"), "answers the customer's mail")
	assert.Regexp(t, `^<support\+`+strings.ToLower(tk.UUID)+`\.[a-z2-7]{10}@example\.com>$`, rh.Get("Reply-To"), "signed with the reply token")
	assert.Contains(t, rh.Get("Subject"), "[#"+tk.UUID+"]")
	assert.Empty(t, rh.Get("Auto-Submitted"), "a person's reply is not automatic")
	e.waitThread(tk.ID, "by email too")

	// Pending from the parent menu.
	e.menu("USARAH", tk.UUID, mapping.ActionSetStatus, "pending")
	e.waitResponse(1)
	e.waitThread(tk.ID, "→ Pending")
	after, _ := e.taskip.Ticket(tk.ID)
	assert.Equal(t, taskipfake.StatusPending, after.Status)

	// The customer answers our reply.
	e.customerMails(mailMsg("jane-2@customers.test", "Jane Roe <jane@customers.test>", rh.Get("Subject"),
		"Works now, thanks!\n\nOn Tue, Acme Support wrote:\n> we restarted the export worker", "In-Reply-To: "+rh.Get("Message-Id")))
	require.Eventually(t, func() bool {
		return slices.Contains(clientReplies(e.taskip, tk.ID), "Works now, thanks!")
	}, scWait, scTick, "the customer's answer joins the ticket, quote cut")
	e.waitThread(tk.ID, "Works now, thanks!")
	after, _ = e.taskip.Ticket(tk.ID)
	assert.Equal(t, taskipfake.StatusOpen, after.Status, "a customer answer on a pending ticket reopens it")
	for _, x := range e.taskip.Tickets() {
		assert.NotEqual(t, "Works now, thanks!", x.Description)
		assert.False(t, x.ID != tk.ID && strings.Contains(x.Subject, "Cannot export invoices"), "no second ticket")
	}

	// The agent closes the loop; the mail answers the customer's latest.
	e.message("EvConv3", "USARAH", "reply: Great, closing this one.", ts)
	last := e.mails(3)[2]
	lh := header(t, last)
	assert.Equal(t, "<jane-2@customers.test>", lh.Get("In-Reply-To"))
	assert.Equal(t, 1, strings.Count(lh.Get("Subject"), "[#"+tk.UUID+"]"), "the tag once: %q", lh.Get("Subject"))
	assert.False(t, strings.HasPrefix(lh.Get("Subject"), "Re: Re:"), "subject %q", lh.Get("Subject"))

	time.Sleep(1500 * time.Millisecond) // a poll or two: nothing is mailed again
	msgs := e.smtp.Messages()
	assert.Len(t, msgs, 3, "acknowledgement and two replies, each once")
	assert.Zero(t, mailsContaining(msgs, "Works now"), "the customer's own words are never mailed back")
	assert.Zero(t, mailsContaining(msgs, "CSV worker"), "a note is never mailed")
	assert.Len(t, e.taskip.Replies(tk.ID), 3)
	assert.Len(t, e.taskip.Notes(tk.ID), 1)
}

// An agent cc'd on the conversation answers by email (reply-all): the
// customer has her mail already. TaskIP gets an agent reply and the thread
// shows it, but ticketsync must not mail the same words to the customer a
// second time (intake recordMail: "a mark on a reply that came in by mail so
// it is never mailed out again"; README Outbound mail mails only replies
// written in Slack or the web app).
func TestScenarioSlackAgentAnswerByEmailIsNotMailedAgain(t *testing.T) {
	agentAnswersByEmail(t, false)
}

// The same, when TaskIP took the intake's add-reply but its answer was
// lost: reconciliation finds the reply, and it is still never mailed.
func TestScenarioSlackAgentAnswerByEmailWithLostTaskIPAnswerIsNotMailed(t *testing.T) {
	agentAnswersByEmail(t, true)
}

func agentAnswersByEmail(t *testing.T, loseAnswer bool) {
	t.Helper()
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("kim-1@customers.test", "Kim Lee <kim@customers.test>", "Weekly report is empty",
		"The weekly report shows no data since Monday.\n"))
	tk := e.ticketBySubject("Weekly report is empty")
	e.threadTS(tk.ID)
	ack := e.mails(1)[0]
	require.Equal(t, []string{"kim@customers.test"}, ack.To)
	if loseAnswer {
		e.taskip.DropResponseNextOn(http.MethodPost, fmt.Sprintf("/ticket/%d/add-reply", tk.ID), 1)
	}

	const answer = "Hi Kim, the report job was paused; it runs again tonight."
	e.customerMails(mailMsg("sarah-answer-1@company.com", "Sarah Johnson <sarah@company.com>", "Re: Weekly report is empty",
		answer+"\n\nSarah\n", "In-Reply-To: <kim-1@customers.test>", "Cc: Kim Lee <kim@customers.test>"))
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(agentReplyTexts(e.taskip, tk.ID), func(s string) bool { return strings.Contains(s, "report job was paused") })
	}, scWait, scTick, "the agent's mail is an agent reply in TaskIP")
	if loseAnswer {
		require.Eventually(t, func() bool { return e.taskip.PendingFaults() == 0 }, scWait, scTick, "the answer was lost")
	}
	e.waitThread(tk.ID, "report job was paused")

	time.Sleep(2500 * time.Millisecond) // two polls and a reconciliation: nothing is mailed
	assert.Len(t, agentReplyTexts(e.taskip, tk.ID), 1, "written once")
	assert.Empty(t, clientReplies(e.taskip, tk.ID), "the agent does not speak for the customer")
	msgs := e.smtp.Messages()
	assert.Len(t, msgs, 1, "only the acknowledgement")
	assert.Zero(t, mailsContaining(msgs, "report job was paused"), "the agent sent their own mail")
}

// A customer with two open tickets answers each by a different route; every
// answer lands on the ticket it answers.
func TestScenarioSlackCustomerWithTwoTicketsAnswersTheRightOne(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("jane-vat@customers.test", "Jane Roe <jane@customers.test>", "Invoice shows wrong VAT", "VAT is 19%, should be 7%.\n"))
	e.customerMails(mailMsg("jane-pw@customers.test", "Jane Roe <jane@customers.test>", "Cannot reset password", "The reset link has expired.\n"))
	vat := e.ticketBySubject("Invoice shows wrong VAT")
	pw := e.ticketBySubject("Cannot reset password")
	ack := header(t, e.mailWith("Invoice shows wrong VAT"))

	e.message("EvVat", "USARAH", "reply: We corrected the VAT rate on your invoice.", e.threadTS(vat.ID))
	e.message("EvPw", "USARAH", "reply: We sent you a fresh reset link.", e.threadTS(pw.ID))
	vatMail := header(t, e.mailWith("We corrected the VAT rate"))
	pwMail := header(t, e.mailWith("We sent you a fresh reset link"))
	assert.Equal(t, "<jane-pw@customers.test>", pwMail.Get("In-Reply-To"))

	// In-Reply-To the password mail, a subject that names neither ticket.
	e.customerMails(mailMsg("jane-a1@customers.test", "Jane Roe <jane@customers.test>", "Re: your mail",
		"The new link worked.", "In-Reply-To: "+pwMail.Get("Message-Id")))
	// The VAT ticket's plus address only.
	plus := mailMsg("jane-a2@customers.test", "Jane Roe <jane@customers.test>", "One more question", "Does the fix apply to March too?")
	plus = bytes.Replace(plus, []byte("To: "+supportAddr), []byte("To: "+strings.Trim(vatMail.Get("Reply-To"), "<>")), 1)
	e.customerMails(plus)
	// In-Reply-To the VAT ticket's acknowledgement.
	e.customerMails(mailMsg("jane-a3@customers.test", "Jane Roe <jane@customers.test>", "Re: thanks",
		"Thanks for the quick acknowledgement.", "In-Reply-To: "+ack.Get("Message-Id")))

	require.Eventually(t, func() bool {
		return len(clientReplies(e.taskip, vat.ID)) == 2 && len(clientReplies(e.taskip, pw.ID)) == 1
	}, scWait, scTick, "vat %q, password %q", clientReplies(e.taskip, vat.ID), clientReplies(e.taskip, pw.ID))
	assert.Equal(t, []string{"The new link worked."}, clientReplies(e.taskip, pw.ID))
	assert.ElementsMatch(t, []string{"Does the fix apply to March too?", "Thanks for the quick acknowledgement."}, clientReplies(e.taskip, vat.ID))
	for _, x := range e.taskip.Tickets() {
		assert.NotContains(t, []string{"Re: your mail", "One more question", "Re: thanks", "your mail", "thanks"}, x.Subject, "no new ticket")
	}
}

// A sender who is no TaskIP contact (filed under the catch-all): show names
// them, assigning by mention works, and replies from Slack and the web app
// are mailed to them.
func TestScenarioSlackCommandsOnATicketFromAWalkInSender(t *testing.T) {
	e := startScenarioDaemon(t, catchAllSeed)
	e.customerMails(mailMsg("walkin-1@example.org", "Walk In <walk.in@example.org>", "Cannot log in to the portal", "My password is refused.\n"))
	tk := e.ticketBySubject("Cannot log in to the portal")
	require.NotNil(t, tk.User)
	require.Equal(t, catchAllAddr, tk.User.Email, "filed under the catch-all")
	ts := e.threadTS(tk.ID)

	e.command("USARAH", fmt.Sprintf("show %d", tk.ID))
	assert.Contains(t, e.waitResponse(1)[0], "walk.in@example.org")
	e.command("USARAH", fmt.Sprintf("assign %d <@UDAVID|david>", tk.ID))
	assert.Contains(t, e.waitResponse(2)[1], "assigned to David Chen")
	require.Eventually(t, func() bool { x, _ := e.taskip.Ticket(tk.ID); return x.AssignedTo == 8 }, scWait, scTick)

	e.message("EvWalkIn", "USARAH", "reply: We reset your password; please try again.", ts)
	fromSlack := e.mailWith("We reset your password")
	assert.Equal(t, []string{"walk.in@example.org"}, fromSlack.To)

	_, err := e.taskip.AddAgentReply(tk.ID, "David Chen", "Your account is unlocked as well.")
	require.NoError(t, err)
	fromWeb := e.mailWith("Your account is unlocked")
	assert.Equal(t, []string{"walk.in@example.org"}, fromWeb.To)
	for _, m := range e.smtp.Messages() {
		assert.NotContains(t, m.To, catchAllAddr)
	}
}

// /ticket list names the walk-in sender, as show and the parent do.
func TestScenarioSlackListNamesTheWalkInSender(t *testing.T) {
	e := startScenarioDaemon(t, catchAllSeed)
	e.customerMails(mailMsg("walkin-2@example.org", "Walk In <walk.in@example.org>", "Where is my parcel", "Order 88 has not arrived.\n"))
	tk := e.ticketBySubject("Where is my parcel")
	e.threadTS(tk.ID)
	e.command("USARAH", "list")
	var line string
	for _, l := range strings.Split(e.waitResponse(1)[0], "\n") {
		if strings.HasPrefix(l, fmt.Sprintf("#%d ", tk.ID)) {
			line = l
		}
	}
	require.NotEmpty(t, line, "the ticket is listed")
	assert.Contains(t, line, "walk.in@example.org")
	assert.Contains(t, line, "Walk In")
	e.command("USARAH", fmt.Sprintf("show %d", tk.ID))
	assert.Contains(t, e.waitResponse(2)[1], "walk.in@example.org")
}

// The customer answers a resolved ticket, then a closed one: each answer
// joins the ticket and reopens it.
func TestScenarioSlackCustomerAnswersReopenResolvedAndClosed(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("lee-1@customers.test", "Lee Park <lee@customers.test>", "Sync stopped", "Calendar sync stopped yesterday.\n"))
	tk := e.ticketBySubject("Sync stopped")
	e.message("EvSync", "USARAH", "reply: We restarted the sync service.", e.threadTS(tk.ID))
	ours := header(t, e.mailWith("We restarted the sync service"))

	status := func(s string, n int) {
		t.Helper()
		e.command("USARAH", fmt.Sprintf("status %d %s", tk.ID, s))
		assert.Contains(t, e.waitResponse(n)[n-1], "status:")
	}
	answer := func(id, text string, n int) {
		t.Helper()
		e.customerMails(mailMsg(id, "Lee Park <lee@customers.test>", ours.Get("Subject"), text, "In-Reply-To: "+ours.Get("Message-Id")))
		require.Eventually(t, func() bool { return len(clientReplies(e.taskip, tk.ID)) == n }, scWait, scTick)
		require.Eventually(t, func() bool { x, _ := e.taskip.Ticket(tk.ID); return x.Status == taskipfake.StatusOpen }, scWait, scTick,
			"the answer reopens the ticket")
	}
	status("resolved", 1)
	answer("lee-2@customers.test", "It stopped again this morning.", 1)
	status("closed", 2)
	answer("lee-3@customers.test", "Still not syncing, sorry.", 2)
	assert.Equal(t, []string{"It stopped again this morning.", "Still not syncing, sorry."}, clientReplies(e.taskip, tk.ID))
	e.waitThread(tk.ID, "Still not syncing")
}

// The customer's server refuses our reply for good: the thread says the
// mail was not delivered, and why.
func TestScenarioSlackBouncedReplyIsToldInTheThread(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("gone-1@customers.test", "Former Employee <gone@customers.test>", "Licence transfer", "Please move my licence.\n"))
	tk := e.ticketBySubject("Licence transfer")
	ts := e.threadTS(tk.ID)
	e.mails(1)
	e.smtp.FailNext(1, 550, "5.1.1", "mailbox unavailable")
	e.message("EvBounce", "USARAH", "reply: Your licence has been moved.", ts)
	e.waitThread(tk.ID, "could not be delivered")
	var warning string
	for _, s := range e.threadTexts(tk.ID) {
		if strings.Contains(s, "could not be delivered") {
			warning = s
		}
	}
	assert.Contains(t, warning, "gone@customers.test")
	assert.Contains(t, warning, "mailbox unavailable")
	assert.Len(t, e.taskip.Replies(tk.ID), 1, "the reply itself is saved")
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, e.smtp.Messages(), 1, "not retried")
}

// A reply with a file shared in Slack: the file reaches the ticket and the
// mail, as an attachment.
func TestScenarioSlackReplyWithAFileReachesTicketAndMail(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("guide-1@customers.test", "Jane Roe <jane@customers.test>", "How to set up VPN", "Which settings do I need?\n"))
	tk := e.ticketBySubject("How to set up VPN")
	ts := e.threadTS(tk.ID)
	e.mails(1)
	content := []byte("server: vpn.acme.example\nprotocol: wireguard\n")
	url := e.slack.AddFile("vpn-settings.txt", content)
	e.event("EvFile", map[string]any{"subtype": "file_share", "user": "USARAH", "text": "reply: The settings are attached.",
		"ts": slackTS(), "thread_ts": ts, "files": []any{map[string]any{"id": "FVPN", "name": "vpn-settings.txt",
			"mimetype": "text/plain", "size": len(content), "url_private_download": url}}})

	require.Eventually(t, func() bool { return len(e.taskip.Attachments(tk.ID)) == 1 }, scWait, scTick)
	assert.Equal(t, "vpn-settings.txt", e.taskip.Attachments(tk.ID)[0].Filename)
	got := e.mailWith("The settings are attached.")
	assert.Equal(t, []string{"jane@customers.test"}, got.To)
	assert.Equal(t, content, mailAttachments(t, got)["vpn-settings.txt"])
	require.Len(t, e.taskip.Replies(tk.ID), 1)
	assert.Equal(t, "The settings are attached.", e.taskip.Replies(tk.ID)[0].Message)
}

// Five walk-in mails wait in the inbox and TaskIP is slow; an agent answers
// the first ticket as soon as its thread appears. The mail goes to the
// sender, not to the catch-all contact.
func TestScenarioSlackEarlyReplyDuringABacklogGoesToTheSender(t *testing.T) {
	e := startScenarioDaemon(t, catchAllSeed)
	e.taskip.SetLatency(300 * time.Millisecond)
	for i := 1; i <= 5; i++ {
		e.customerMails(mailMsg(fmt.Sprintf("backlog-%d@visitors.example", i), fmt.Sprintf("Visitor %d <visitor%d@visitors.example>", i, i),
			fmt.Sprintf("Backlog question %d", i), fmt.Sprintf("Question number %d.\n", i)))
	}
	var tk taskipfake.Ticket
	require.Eventually(t, func() bool {
		for _, x := range e.taskip.Tickets() {
			if x.Subject == "Backlog question 1" {
				tk = x
				return true
			}
		}
		return false
	}, 3*scWait, scTick)
	var th state.Thread
	require.Eventually(t, func() bool {
		var ok bool
		th, ok = storedThread(t, e.d.store, tk.ID)
		return ok
	}, 3*scWait, time.Millisecond, "the first ticket's thread")
	e.message("EvEarly", "USARAH", "reply: Hello, we are looking into your question.", th.TS)
	var got mailtest.Received
	require.Eventually(t, func() bool {
		for _, m := range e.smtp.Messages() {
			if strings.Contains(mailText(m), "we are looking into your question") {
				got = m
				return true
			}
		}
		return false
	}, 3*scWait, scTick)
	assert.Equal(t, []string{"visitor1@visitors.example"}, got.To)
	for _, m := range e.smtp.Messages() {
		assert.NotContains(t, m.To, catchAllAddr)
	}
}

// A backlog of walk-in senders with TaskIP slow: every parent ends up
// naming its sender, not the catch-all contact alone.
func TestScenarioSlackEveryParentNamesTheWalkInSender(t *testing.T) {
	e := startScenarioDaemon(t, catchAllSeed)
	e.taskip.SetLatency(300 * time.Millisecond)
	const n = 6
	for i := 1; i <= n; i++ {
		e.customerMails(mailMsg(fmt.Sprintf("crowd-%d@visitors.example", i), fmt.Sprintf("Guest %d <guest%d@visitors.example>", i, i),
			fmt.Sprintf("Crowd question %d", i), "Hello.\n"))
	}
	for i := 1; i <= n; i++ {
		var tk taskipfake.Ticket
		require.Eventually(t, func() bool {
			for _, x := range e.taskip.Tickets() {
				if x.Subject == fmt.Sprintf("Crowd question %d", i) {
					tk = x
					return true
				}
			}
			return false
		}, 3*scWait, scTick)
		addr := fmt.Sprintf("guest%d@visitors.example", i)
		require.Eventually(t, func() bool {
			th, ok := storedThread(t, e.d.store, tk.ID)
			if !ok {
				return false
			}
			m, found := e.slack.Message(testChannel, th.TS)
			return found && strings.Contains(string(m.Blocks), addr)
		}, 3*scWait, scTick, "the parent of #%d names %s", tk.ID, addr)
		assert.Contains(t, e.parentBlocks(tk.ID), fmt.Sprintf("Guest %d", i))
	}
}
