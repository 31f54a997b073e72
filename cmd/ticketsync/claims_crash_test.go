//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	claimChannel = "C0TICKETS"
	claimSigning = "test-signing-secret"
	claimAgent   = "USARAH"
	claimReply   = "reply: We shipped a new blade today."
	claimText    = "We shipped a new blade today."
	// replyPath is where a Slack reply reaches TaskIP.
	replyPath = "/support-ticket/reply/"
	customer  = "john@acme.com"
	// twoPolls is two of the watch's 1s polls and a margin: a mail or
	// thread line finishing a claim twice would be out by then.
	twoPolls = 2500 * time.Millisecond
)

// notSaved is what the watch tells the thread of a Slack reply a dead
// process never wrote to TaskIP.
var notSaved = regexp.MustCompile(`^A reply sent from Slack at \d\d:\d\d UTC was not saved in TaskIP \(ticketsync stopped while sending it\)\. Nothing was mailed to the customer; please send it again\.$`)

// claimEnv is a daemonEnv whose daemons also take Slack thread messages
// and mail agents' replies.
type claimEnv struct {
	*daemonEnv
	slack *slackfake.Server
	smtp  *mailtest.SMTPServer
}

func newClaimEnv(t *testing.T) *claimEnv {
	t.Helper()
	e := &claimEnv{daemonEnv: newDaemonEnv(t), slack: slackfake.New(t), smtp: mailtest.StartSMTP(t, mailtest.SMTPOptions{})}
	raw, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// No acknowledgement: the reply is then the only mail the customer
	// can get, so counting theirs counts the reply's.
	cfg := strings.Replace(string(raw), "  send_agent_replies: false\n",
		fmt.Sprintf("  send_agent_replies: true\n  smtp:\n    addr: %s\n    tls: none\n", e.smtp.Addr()), 1)
	if cfg == string(raw) {
		t.Fatal("the daemon config has no send_agent_replies line to turn on")
	}
	cfg += fmt.Sprintf(`slack:
  bot_token: %s
  signing_secret: %s
  api_url: %s
  channel: %s
  agents:
    %s: 7
`, slackfake.DefaultToken, claimSigning, e.slack.URL(), claimChannel, claimAgent)
	writeFile(t, e.config, cfg)
	// The Slack and SMTP servers' cleanups were registered after the
	// env's, so they would run first: the children must die before the
	// servers they talk to close under them.
	t.Cleanup(func() {
		e.mu.Lock()
		children := slices.Clone(e.children)
		e.mu.Unlock()
		for _, c := range children {
			c.killGroup()
		}
	})
	return e
}

// ticketThread lets the daemon make a ticket of a customer's mail and post
// its Slack parent, and returns the ticket and the parent's ts.
func (e *claimEnv) ticketThread(c *child) (taskipfake.Ticket, string) {
	e.t.Helper()
	e.imap.Append(e.t, "INBOX", mailMsg("blender@acme.com", customer, "Blender jammed", "The blade does not turn.\n"))
	var tk taskipfake.Ticket
	var ts string
	ok := poll(15*time.Second, func() bool {
		if tickets := e.newTickets(); len(tickets) == 1 {
			tk = tickets[0]
			for _, m := range e.slack.Messages(claimChannel) {
				if bytes.Contains(m.Metadata, []byte(tk.UUID)) {
					ts = m.TS
				}
			}
		}
		return ts != "" || c.exited()
	})
	if !ok || ts == "" {
		e.t.Fatalf("no ticket with a Slack thread from the customer's mail (tickets %d, daemon exited %v)", len(e.newTickets()), c.exited())
	}
	return tk, ts
}

var slackEvents atomic.Int64

// agentReplies posts, signed as Slack does, an agent's reply in the
// ticket's thread.
func (e *claimEnv) agentReplies(addr, threadTS, text string) {
	e.t.Helper()
	n := slackEvents.Add(1)
	body, err := json.Marshal(map[string]any{"type": "event_callback", "event_id": fmt.Sprintf("Ev%06d", n), "team_id": "T1",
		"event": map[string]any{"type": "message", "channel": claimChannel, "user": claimAgent, "text": text,
			"ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), n), "thread_ts": threadTS}})
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/events", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(claimSigning, ts, body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("Slack event answered %d", res.StatusCode)
	}
}

// killWhenHeld SIGKILLs the daemon once its reply is held at TaskIP.
func (e *claimEnv) killWhenHeld(c *child, arrived <-chan struct{}) {
	e.t.Helper()
	select {
	case <-arrived:
	case <-c.done:
		e.t.Fatalf("the daemon exited before its reply reached TaskIP (code %d)", c.state.ExitCode())
	case <-time.After(15 * time.Second):
		e.t.Fatal("the agent's reply never reached TaskIP")
	}
	c.killGroup()
}

// heldClientGone waits until TaskIP has seen the killed daemon's
// connection close under the held reply, and returns that request.
func (e *claimEnv) heldClientGone() taskipfake.Request {
	e.t.Helper()
	var held taskipfake.Request
	if !poll(5*time.Second, func() bool {
		for _, r := range e.fake.Requests() {
			if r.Method == http.MethodPost && strings.HasPrefix(r.Path, taskipfake.BasePath+replyPath) && r.Dropped {
				held = r
				return true
			}
		}
		return false
	}) {
		e.t.Fatal("TaskIP never saw the killed daemon's connection close")
	}
	return held
}

// replyWrites counts the reply POSTs TaskIP received, answered or not.
func (e *claimEnv) replyWrites() int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, taskipfake.BasePath+replyPath) {
			n++
		}
	}
	return n
}

// repliesWith counts the ticket's replies in TaskIP with text.
func (e *claimEnv) repliesWith(id int, text string) int {
	n := 0
	for _, r := range e.fake.Replies(id) {
		if strings.Contains(r.Message, text) {
			n++
		}
	}
	return n
}

func (e *claimEnv) threadTexts(ts string) []string {
	var out []string
	for _, m := range e.slack.Thread(claimChannel, ts) {
		out = append(out, m.Text)
	}
	return out
}

// mailsWith counts the messages the SMTP server took that carry text.
func (e *claimEnv) mailsWith(text string) int {
	n := 0
	for _, m := range e.smtp.Messages() {
		if bytes.Contains(m.Data, []byte(text)) {
			n++
		}
	}
	return n
}

// requireNoClaims reads the state file of stopped daemons.
func (e *claimEnv) requireNoClaims() {
	e.t.Helper()
	st, err := state.OpenReadOnly(state.Config{Path: e.statePath()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	var claims []state.ReplyClaim
	if err := st.View(func(tx *state.Tx) (err error) { claims, err = tx.ReplyClaims(); return err }); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range claims {
		e.t.Errorf("reply claim %d on ticket %d left in the state file (at %s, reply %d)", c.ID, c.TicketID, c.At, c.ReplyID)
	}
}

// SIGKILL after the reply claim was committed and before TaskIP took the
// reply. Nobody may write it later: the agent was never told it was
// saved, and may already have said something else. The restart tells the
// thread once, mails nothing, and drops the claim.
func TestSlackReplyKilledBeforeTaskIPWriteIsReportedNotSaved(t *testing.T) {
	e := newClaimEnv(t)
	c := e.start()
	addr := c.httpAddr(15 * time.Second)
	tk, ts := e.ticketThread(c)

	arrived, release := e.fake.HoldNextOn(http.MethodPost, replyPath)
	t.Cleanup(release)
	e.agentReplies(addr, ts, claimReply)
	e.killWhenHeld(c, arrived)
	// Released only once TaskIP knows its client is gone: a write whose
	// sender died is not applied, as with a connection cut mid-request.
	held := e.heldClientGone()
	release()
	if held.Status != 0 || !bytes.Contains(held.Body, []byte(claimText)) {
		t.Fatalf("held request: status %d, body %s; want the agent's reply, never answered", held.Status, held.Body)
	}

	c = e.start()
	if !poll(15*time.Second, func() bool {
		return slices.ContainsFunc(e.threadTexts(ts), notSaved.MatchString) || c.exited()
	}) || c.exited() {
		t.Fatalf("the thread was never told the reply was not saved; it has %q", e.threadTexts(ts))
	}
	time.Sleep(twoPolls)
	c.stop()

	told := 0
	for _, line := range e.threadTexts(ts) {
		if strings.Contains(line, "not saved") {
			told++
			if !notSaved.MatchString(line) {
				t.Errorf("thread line %q, want one matching %s", line, notSaved)
			}
		}
		if strings.HasPrefix(line, "Sent to ") {
			t.Errorf("the thread says %q of a reply that was never saved", line)
		}
	}
	if told != 1 {
		t.Errorf("the thread was told %d times that the reply was not saved, want once: %q", told, e.threadTexts(ts))
	}
	if n := e.repliesWith(tk.ID, claimText); n != 0 {
		t.Errorf("TaskIP has the reply %d times; nobody may write it after the kill", n)
	}
	if n := e.replyWrites(); n != 1 {
		t.Errorf("TaskIP received %d reply writes, want only the killed daemon's", n)
	}
	if to := deliveredOnce(t, e.smtp); len(to) != 0 {
		t.Errorf("mail sent %v, want none", to)
	}
	e.requireNoClaims()
}

// SIGKILL after TaskIP took the reply and before the daemon settled its
// claim and queued the customer's mail. The restart finds the reply in
// TaskIP and mails it once; it is not written again.
func TestSlackReplyKilledAfterTaskIPWriteIsMailedOnce(t *testing.T) {
	e := newClaimEnv(t)
	c := e.start()
	addr := c.httpAddr(15 * time.Second)
	tk, ts := e.ticketThread(c)

	arrived, release := e.fake.HoldResponseNextOn(http.MethodPost, replyPath)
	t.Cleanup(release)
	e.agentReplies(addr, ts, claimReply)
	e.killWhenHeld(c, arrived)
	if held := e.heldClientGone(); held.Status != http.StatusCreated {
		t.Fatalf("held request: status %d, want a write TaskIP applied (201) and never answered", held.Status)
	}
	if n := e.repliesWith(tk.ID, claimText); n != 1 {
		t.Fatalf("TaskIP has the reply %d times before the restart, want 1", n)
	}
	if n := e.mailsWith(claimText); n != 0 {
		t.Fatalf("the killed daemon mailed the reply %d times before settling its claim", n)
	}

	c = e.start()
	if !poll(15*time.Second, func() bool { return e.mailsWith(claimText) >= 1 || c.exited() }) || c.exited() {
		t.Fatalf("the reply was never mailed after the restart (%d mails)", len(e.smtp.Messages()))
	}
	time.Sleep(twoPolls)
	c.stop()

	if to := deliveredOnce(t, e.smtp); to[customer] != 1 || len(to) != 1 {
		t.Errorf("deliveries %v, want exactly one to %s", to, customer)
	}
	if n := e.mailsWith(claimText); n != 1 {
		t.Errorf("%d mails carry the reply, want 1", n)
	}
	if n := e.repliesWith(tk.ID, claimText); n != 1 {
		t.Errorf("TaskIP has the reply %d times, want 1", n)
	}
	if n := e.replyWrites(); n != 1 {
		t.Errorf("TaskIP received %d reply writes, want only the killed daemon's", n)
	}
	for _, line := range e.threadTexts(ts) {
		if strings.Contains(line, "not saved") {
			t.Errorf("the thread says %q of a reply TaskIP has", line)
		}
	}
	if open, closed := e.outbox(); open != 0 || closed[state.OutboxSent] != 1 {
		t.Errorf("outbox open=%d closed=%v, want the reply sent", open, closed)
	}
	e.requireNoClaims()
}
