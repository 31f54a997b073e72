package demo

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// CustomerMail is one email from the customer to the support address.
type CustomerMail struct {
	MessageID  string // without angle brackets
	To         string // default SupportAddress
	Subject    string
	Body       string
	InReplyTo  string   // without angle brackets
	References []string // without angle brackets
	Headers    []string // extra "Name: value" lines
}

// NewMessageID returns a Message-ID as the customer's mail system would
// make it.
func NewMessageID() string {
	return strings.ToLower(rand.Text()) + "@mail.acme.com"
}

// Bytes is the message as it arrives in the mailbox.
func (m CustomerMail) Bytes() []byte {
	to := m.To
	if to == "" {
		to = SupportAddress
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", CustomerEmail)
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: %s\r\nSubject: %s\r\n", CustomerName, CustomerEmail, to, m.Subject)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s>\r\n", time.Now().Format(time.RFC1123Z), m.MessageID)
	if m.InReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", m.InReplyTo)
	}
	if len(m.References) > 0 {
		fmt.Fprintf(&b, "References: <%s>\r\n", strings.Join(m.References, "> <"))
	}
	for _, h := range m.Headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}

// SendMail puts the customer's mail in the support INBOX, as delivery does.
func (w *World) SendMail(m CustomerMail) error {
	_, err := w.IMAP.Deliver("INBOX", m.Bytes())
	return err
}

// ThreadMessage is a Slack user's message in a ticket thread, as the
// Events API delivers it.
type ThreadMessage struct {
	EventID  string // Slack's dedupe key; NewThreadMessage sets one
	User     string
	ThreadTS string
	Text     string
	TS       string
}

// NewThreadMessage is user writing text in the thread of threadTS now.
func NewThreadMessage(user, threadTS, text string) ThreadMessage {
	now := time.Now()
	return ThreadMessage{EventID: "Ev" + strings.ToUpper(rand.Text()[:12]), User: user, ThreadTS: threadTS, Text: text,
		TS: fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)}
}

// PostThreadMessage sends the message event to /slack/events, signed with
// the signing secret.
func (w *World) PostThreadMessage(m ThreadMessage) error {
	ev := map[string]any{
		"type": "event_callback", "event_id": m.EventID, "team_id": slackfake.TeamID, "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "message", "channel": Channel, "user": m.User, "text": m.Text,
			"ts": m.TS, "thread_ts": m.ThreadTS},
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = w.postSlack("events", "application/json", body)
	return err
}

// SlashCommand sends `/ticket text` as user, with a response_url recorded
// under responseName, and returns the immediate answer's text.
func (w *World) SlashCommand(user, text, responseName string) (string, error) {
	form := url.Values{"command": {"/ticket"}, "text": {text}, "user_id": {user}, "user_name": {"sarah"},
		"channel_id": {Channel}, "team_id": {slackfake.TeamID}, "response_url": {w.ResponseURL(responseName)},
		"trigger_id": {"demo-trigger"}}
	answer, err := w.postSlack("commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return "", err
	}
	var ack struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(answer, &ack) // an empty acknowledgement is fine too
	return ack.Text, nil
}

// postSlack signs body as Slack does (v0, timestamped) and posts it to the
// daemon's /slack/<path>.
func (w *World) postSlack(path, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, w.DaemonURL()+"/slack/"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(SigningSecret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /slack/%s: %w", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /slack/%s: %s", path, resp.Status)
	}
	return answer, nil
}
