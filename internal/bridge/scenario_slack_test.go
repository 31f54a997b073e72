package bridge

// End-to-end scenarios of the Slack and outbound-mail flows, written the way
// a support team works: customers mail, agents answer from Slack (thread
// messages, /ticket, parent menus) and the TaskIP web app, and customers
// answer our mail. Each test asserts what a helpdesk user would expect
// (SPEC 6, README "Ticket watch", "Slack", "Outbound mail").

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	scWait = 10 * time.Second
	scTick = 10 * time.Millisecond
)

// ---------------------------------------------------------------------------
// A whole daemon: IMAP, SMTP, Slack and TaskIP fakes on loopback.

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
	opts                                 DaemonOptions
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
	Daemon DaemonOptions
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
	require.Eventually(t, func() bool { ok, _ := d.watch.baselineDone(); return ok }, scWait, scTick, "the watch recorded its baseline")
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
	var th thread
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
	require.Eventually(e.t, func() bool { return len(e.smtp.Messages()) >= n }, scWait, scTick, "%d mails sent", n)
	return e.smtp.Messages()
}

func (e *scenarioDaemon) post(path, contentType string, body []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+e.d.Addr()+"/slack/"+path, strings.NewReader(string(body)))
	require.NoError(e.t, err)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(signingSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
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
		"response_url": {e.resp.srv.URL + "/resp"}, "team_id": {"T1"}}
	e.post("commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// menu picks an option of a parent message's status or priority menu.
func (e *scenarioDaemon) menu(user, uuid, actionID, option string) {
	e.t.Helper()
	postAction(e.t, e.post, user, uuid, actionID, option, e.resp.srv.URL+"/resp")
}

func (e *scenarioDaemon) waitResponse(n int) []string {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(e.resp.all()) >= n }, scWait, scTick, "%d responses", n)
	return e.resp.all()
}

// postAction sends a block_actions payload for a parent's controls: a
// static select when option is set, else the "Assign to me" button.
func postAction(t *testing.T, post func(path, ctype string, body []byte), user, uuid, actionID, option, respURL string) {
	t.Helper()
	act := map[string]any{"action_id": actionID, "block_id": mapping.BlockPrefix + uuid + ":actions", "type": "button", "value": uuid}
	if option != "" {
		act["type"] = "static_select"
		act["value"] = ""
		act["selected_option"] = map[string]any{"value": uuid + "|" + option, "text": map[string]any{"type": "plain_text", "text": option}}
	}
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user},
		"channel": map[string]any{"id": testChannel}, "response_url": respURL, "actions": []any{act}})
	form := url.Values{"payload": {string(payload)}}
	post("interactive", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// mailText is a sent mail as raw text followed by its decoded text parts,
// so a long line that quoted-printable folded is still found whole.
func mailText(r mailtest.Received) string {
	text, _, _ := mailParts(r.Data)
	return string(r.Data) + "\n" + text
}

// decodedBody is what the customer reads: the mail's text/plain parts,
// transfer encoding undone.
func decodedBody(t *testing.T, r mailtest.Received) string {
	t.Helper()
	text, _, err := mailParts(r.Data)
	require.NoError(t, err)
	return text
}

// mailAttachments are a mail's attached files by name.
func mailAttachments(t *testing.T, r mailtest.Received) map[string][]byte {
	t.Helper()
	_, files, err := mailParts(r.Data)
	require.NoError(t, err)
	return files
}

// mailParts walks a message's MIME tree.
func mailParts(raw []byte) (text string, files map[string][]byte, err error) {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, err
	}
	files = map[string][]byte{}
	var b strings.Builder
	err = walkPart(textproto.MIMEHeader(m.Header), m.Body, &b, files)
	return b.String(), files, err
}

func walkPart(h textproto.MIMEHeader, body io.Reader, text *strings.Builder, files map[string][]byte) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkPart(p.Header, p, text, files); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	content, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if disp, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && disp == "attachment" {
		files[dp["filename"]] = content
		return nil
	}
	if mediaType == "text/plain" {
		text.WriteString(strings.ReplaceAll(string(content), "\r\n", "\n"))
	}
	return nil
}

// mailsContaining counts the sent mails whose raw text contains sub.
func mailsContaining(msgs []mailtest.Received, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(mailText(m), sub) {
			n++
		}
	}
	return n
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

func waitMails(t *testing.T, smtp *mailtest.SMTPServer, n int) []mailtest.Received {
	t.Helper()
	require.Eventually(t, func() bool { return len(smtp.Messages()) >= n }, scWait, scTick, "%d mails sent", n)
	return smtp.Messages()
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

func mailWith(t *testing.T, smtp *mailtest.SMTPServer, sub string) mailtest.Received {
	t.Helper()
	var got mailtest.Received
	require.Eventually(t, func() bool {
		for _, m := range smtp.Messages() {
			if strings.Contains(mailText(m), sub) {
				got = m
				return true
			}
		}
		return false
	}, scWait, scTick, "a mail with %q", sub)
	return got
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

// parentBlocks is the current Block Kit of a ticket's parent message.
func (e *scenarioDaemon) parentBlocks(id int) string {
	m, ok := e.slack.Message(testChannel, e.threadTS(id))
	require.True(e.t, ok)
	return string(m.Blocks)
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
	respURL := e.responses.srv.URL + "/resp"
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
	var th thread
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
