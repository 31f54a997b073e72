package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func commandForm() []byte {
	return []byte(url.Values{
		"token": {"legacy"}, "team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "user_name": {"ann"},
		"command": {"/ticket"}, "text": {"status 42 resolved"}, "response_url": {"https://hooks.slack.com/commands/T1/1/abc"},
		"trigger_id": {"tr1"},
	}.Encode())
}

func TestHTTPRefusesUnverified(t *testing.T) {
	body := commandForm()
	for _, tc := range []struct {
		name   string
		req    signed
		status int
	}{
		{"wrong secret", signed{secret: "not-the-secret"}, http.StatusUnauthorized},
		{"six minutes old", signed{at: testNow.Add(-6 * time.Minute)}, http.StatusUnauthorized},
		{"six minutes ahead", signed{at: testNow.Add(6 * time.Minute)}, http.StatusUnauthorized},
		{"no signature", signed{omit: []string{"X-Slack-Signature"}}, http.StatusUnauthorized},
		{"no timestamp", signed{omit: []string{"X-Slack-Request-Timestamp"}}, http.StatusUnauthorized},
		{"body altered after signing", signed{sendBody: bytes.Replace(body, []byte("resolved"), []byte("closed!!"), 1)}, http.StatusUnauthorized},
		{"signature of another timestamp", signed{headers: map[string]string{"X-Slack-Request-Timestamp": "1705309201"}}, http.StatusUnauthorized},
		{"too large", signed{body: bytes.Repeat([]byte("a"), 64<<10+1)}, http.StatusRequestEntityTooLarge},
		{"too large, chunked", signed{body: bytes.Repeat([]byte("a"), 64<<10+1), chunked: true}, http.StatusRequestEntityTooLarge},
	} {
		for _, path := range []string{"/commands", "/events", "/interactive"} {
			t.Run(tc.name+path, func(t *testing.T) {
				s := newInbound(t)
				req := tc.req
				req.path = path
				if req.body == nil {
					req.body = body
				}
				got := s.do(t, req)
				assert.Equal(t, tc.status, got.status)
				assert.Zero(t, s.rec.total(), "nothing may reach the handler")
				assert.NotContains(t, got.body, testSecret)
				assert.NotContains(t, s.log.String(), testSecret)
			})
		}
	}
}

func TestHTTPRouting(t *testing.T) {
	s := newInbound(t)
	resp, err := http.Get(s.url + "/commands")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, http.StatusNotFound, s.do(t, signed{path: "/other", body: commandForm()}).status)
	assert.Zero(t, s.rec.total())
}

func TestURLVerification(t *testing.T) {
	s := newInbound(t)
	got := s.do(t, signed{path: "/events", contentType: "application/json",
		body: []byte(`{"token":"legacy","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)})
	require.Equal(t, http.StatusOK, got.status)
	assert.JSONEq(t, `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`, got.body)
	assert.Zero(t, s.rec.total())
}

func TestSlashCommand(t *testing.T) {
	t.Run("reply is the ack body", func(t *testing.T) {
		s := newInbound(t)
		s.rec.reply = Reply{Text: "Working on it…", Ephemeral: true,
			Blocks: []slackapi.Block{slackapi.NewDividerBlock()}}
		got := s.do(t, signed{path: "/commands", body: commandForm()})
		require.Equal(t, http.StatusOK, got.status)
		assert.Equal(t, "application/json; charset=utf-8", got.header.Get("Content-Type"))
		assert.JSONEq(t, `{"response_type":"ephemeral","text":"Working on it…","blocks":[{"type":"divider"}]}`, got.body)
		cmds, _, _ := s.rec.calls()
		assert.Equal(t, []Command{{TeamID: "T1", ChannelID: "C1", UserID: "U1", UserName: "ann", Command: "/ticket",
			Text: "status 42 resolved", ResponseURL: "https://hooks.slack.com/commands/T1/1/abc", TriggerID: "tr1"}}, cmds)
	})
	t.Run("in channel", func(t *testing.T) {
		s := newInbound(t)
		s.rec.reply = Reply{Text: "Ticket 42 resolved"}
		got := s.do(t, signed{path: "/commands", body: commandForm()})
		assert.JSONEq(t, `{"response_type":"in_channel","text":"Ticket 42 resolved"}`, got.body)
	})
	t.Run("empty reply acks without a message", func(t *testing.T) {
		s := newInbound(t)
		got := s.do(t, signed{path: "/commands", body: commandForm()})
		assert.Equal(t, http.StatusOK, got.status)
		assert.Empty(t, got.body)
	})
}

func eventBody(event string) []byte {
	return []byte(`{"token":"legacy","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev01",` +
		`"event_time":1705309200,"event":` + event + `}`)
}

func TestMessageEvents(t *testing.T) {
	const parent, reply = "1705309100.000100", "1705309150.000200"
	for _, tc := range []struct {
		name  string
		event string
		want  MessageEvent
	}{
		{"thread reply", `{"type":"message","channel":"C1","user":"U1","text":"reply: on it","ts":"` + reply +
			`","thread_ts":"` + parent + `","channel_type":"channel","event_ts":"` + reply +
			`","blocks":[{"type":"rich_text","block_id":"Xy1","elements":[]}]}`,
			MessageEvent{Channel: "C1", User: "U1", Text: "reply: on it", TS: reply, ThreadTS: parent}},
		{"edited", `{"type":"message","subtype":"message_changed","hidden":true,"channel":"C1","ts":"1705309190.000300",` +
			`"message":{"type":"message","user":"U1","text":"fixed typo","ts":"` + reply + `","thread_ts":"` + parent +
			`","edited":{"user":"U1","ts":"1705309190.000000"}},"previous_message":{"type":"message","user":"U1","text":"fixd typo","ts":"` + reply + `"}}`,
			MessageEvent{Channel: "C1", User: "U1", Subtype: "message_changed", Text: "fixed typo", TS: reply, ThreadTS: parent, Edited: true}},
		{"deleted", `{"type":"message","subtype":"message_deleted","hidden":true,"channel":"C1","ts":"1705309195.000400",` +
			`"deleted_ts":"` + reply + `","previous_message":{"type":"message","user":"U1","text":"oops","ts":"` + reply + `","thread_ts":"` + parent + `"}}`,
			MessageEvent{Channel: "C1", User: "U1", Subtype: "message_deleted", TS: reply, ThreadTS: parent}},
		{"bot message", `{"type":"message","subtype":"bot_message","channel":"C1","bot_id":"B9","username":"other bot","text":"beep","ts":"` + reply + `"}`,
			MessageEvent{Channel: "C1", BotID: "B9", Subtype: "bot_message", Text: "beep", TS: reply}},
		{"our echo by block_id", `{"type":"message","channel":"C1","user":"UBOT","bot_id":"BBOT","text":"Ticket 42","ts":"` + parent +
			`","blocks":[{"type":"section","block_id":"` + BlockID("summary") + `","text":{"type":"mrkdwn","text":"x"}}]}`,
			MessageEvent{Channel: "C1", User: "UBOT", BotID: "BBOT", Text: "Ticket 42", TS: parent, OurBlocks: true}},
		{"our echo by metadata", `{"type":"message","channel":"C1","user":"UBOT","bot_id":"BBOT","text":"Status: resolved","ts":"` + reply +
			`","thread_ts":"` + parent + `","metadata":{"event_type":"` + MetadataEventType + `","event_payload":{"uuid":"u-42"}}}`,
			MessageEvent{Channel: "C1", User: "UBOT", BotID: "BBOT", Text: "Status: resolved", TS: reply, ThreadTS: parent, OurBlocks: true}},
		{"file share", `{"type":"message","subtype":"file_share","channel":"C1","user":"U1","text":"log attached","ts":"` + reply +
			`","thread_ts":"` + parent + `","files":[{"id":"F1","name":"app.log","mimetype":"text/plain","size":1234,` +
			`"url_private_download":"https://files.slack.com/files-pri/T1-F1/download/app.log"}]}`,
			MessageEvent{Channel: "C1", User: "U1", Subtype: "file_share", Text: "log attached", TS: reply, ThreadTS: parent,
				Files: []SharedFile{{ID: "F1", Name: "app.log", Mimetype: "text/plain", Size: 1234,
					URLPrivateDownload: "https://files.slack.com/files-pri/T1-F1/download/app.log"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newInbound(t)
			got := s.do(t, signed{path: "/events", contentType: "application/json", body: eventBody(tc.event)})
			require.Equal(t, http.StatusOK, got.status)
			_, msgs, _ := s.rec.calls()
			want := tc.want
			want.EventID, want.EventTime, want.TeamID = "Ev01", 1705309200, "T1"
			assert.Equal(t, []MessageEvent{want}, msgs)
		})
	}
}

func TestMessageEventRetryHeaders(t *testing.T) {
	s := newInbound(t)
	got := s.do(t, signed{path: "/events", contentType: "application/json",
		body:    eventBody(`{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1705309150.000200"}`),
		headers: map[string]string{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}})
	require.Equal(t, http.StatusOK, got.status)
	_, msgs, _ := s.rec.calls()
	require.Len(t, msgs, 1)
	assert.Equal(t, 2, msgs[0].RetryNum)
	assert.Equal(t, "http_timeout", msgs[0].RetryReason)
	assert.Equal(t, "Ev01", msgs[0].EventID)
}

func TestOtherEventsAcknowledged(t *testing.T) {
	s := newInbound(t)
	for _, event := range []string{
		`{"type":"reaction_added","user":"U1","reaction":"eyes","item":{"type":"message","channel":"C1","ts":"1.2"},"event_ts":"1.3"}`,
		`{"type":"no_such_event_type","x":1}`,
	} {
		got := s.do(t, signed{path: "/events", contentType: "application/json", body: eventBody(event)})
		assert.Equal(t, http.StatusOK, got.status)
	}
	assert.Zero(t, s.rec.total())
	assert.Equal(t, http.StatusBadRequest, s.do(t, signed{path: "/events", body: []byte("{not json")}).status)
}

func interactiveForm(payload string) []byte {
	return []byte(url.Values{"payload": {payload}}.Encode())
}

func TestBlockActions(t *testing.T) {
	s := newInbound(t)
	payload := `{"type":"block_actions","token":"legacy","trigger_id":"tr9","api_app_id":"A1",
	 "user":{"id":"U1","username":"ann","team_id":"T1"},"team":{"id":"T1"},
	 "container":{"type":"message","message_ts":"1705309100.000100","channel_id":"C1","is_ephemeral":false},
	 "channel":{"id":"C1","name":"support"},
	 "message":{"type":"message","ts":"1705309100.000100","text":"Ticket 42","user":"UBOT"},
	 "response_url":"https://hooks.slack.com/actions/T1/2/def",
	 "actions":[
	  {"type":"static_select","action_id":"set_priority","block_id":"tsync:actions",
	   "selected_option":{"text":{"type":"plain_text","text":"High"},"value":"3"},"action_ts":"1705309200.1"},
	  {"type":"button","action_id":"resolve","block_id":"tsync:actions","value":"uuid-42",
	   "text":{"type":"plain_text","text":"Resolve"},"action_ts":"1705309200.2"}]}`
	got := s.do(t, signed{path: "/interactive", body: interactiveForm(payload)})
	require.Equal(t, http.StatusOK, got.status)
	assert.Empty(t, got.body)
	_, _, actions := s.rec.calls()
	base := BlockAction{UserID: "U1", ChannelID: "C1", MessageTS: "1705309100.000100", BlockID: "tsync:actions",
		ResponseURL: "https://hooks.slack.com/actions/T1/2/def", TriggerID: "tr9"}
	sel, btn := base, base
	sel.ActionID, sel.SelectedValue = "set_priority", "3"
	btn.ActionID, btn.Value = "resolve", "uuid-42"
	assert.Equal(t, []BlockAction{sel, btn}, actions)
}

func TestOtherInteractionsAcknowledged(t *testing.T) {
	s := newInbound(t)
	got := s.do(t, signed{path: "/interactive", body: interactiveForm(
		`{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","type":"modal"}}`)})
	assert.Equal(t, http.StatusOK, got.status)
	got = s.do(t, signed{path: "/interactive", body: interactiveForm(
		`{"type":"shortcut","callback_id":"x","user":{"id":"U1"}}`)})
	assert.Equal(t, http.StatusOK, got.status)
	assert.Zero(t, s.rec.total())
	assert.Equal(t, http.StatusBadRequest, s.do(t, signed{path: "/interactive", body: []byte("x=1")}).status)
}

func TestSlowHandlerAckedInTime(t *testing.T) {
	const ackTimeout = 200 * time.Millisecond
	s := newInbound(t, func(c *InboundConfig) { c.AckTimeout = ackTimeout })
	s.rec.block = make(chan struct{})
	s.rec.reply = Reply{Text: "too late"}
	t.Cleanup(func() { close(s.rec.block) })

	for _, req := range []signed{
		{path: "/commands", body: commandForm()},
		{path: "/events", contentType: "application/json",
			body: eventBody(`{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1.2"}`)},
		{path: "/interactive", body: interactiveForm(`{"type":"block_actions","user":{"id":"U1"},` +
			`"actions":[{"type":"button","block_id":"tsync:actions","action_id":"resolve","value":"u"}]}`)},
	} {
		t.Run(strings.TrimPrefix(req.path, "/"), func(t *testing.T) {
			start := time.Now()
			got := s.do(t, req)
			took := time.Since(start)
			assert.Equal(t, http.StatusOK, got.status)
			assert.Empty(t, got.body, "a late reply cannot be the ack")
			assert.GreaterOrEqual(t, took, ackTimeout)
			assert.Less(t, took, 2*time.Second, "Slack gives up after 3 s")
		})
	}
	assert.Contains(t, s.log.String(), "did not return in time")
}

func TestPanickingHandlerStillAcked(t *testing.T) {
	s := newInbound(t, func(c *InboundConfig) { c.Handler = panicky{} })
	got := s.do(t, signed{path: "/commands", body: commandForm()})
	assert.Equal(t, http.StatusOK, got.status)
	assert.Contains(t, s.log.String(), "handler panicked")
}

type panicky struct{}

func (panicky) HandleCommand(context.Context, Command) Reply { panic("boom") }
func (panicky) HandleMessage(context.Context, MessageEvent)  { panic("boom") }
func (panicky) HandleAction(context.Context, BlockAction)    { panic("boom") }

func TestAckJSONShape(t *testing.T) {
	b, err := json.Marshal(ackOf(Reply{Text: "x", ReplaceOriginal: true}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"response_type":"in_channel","text":"x","replace_original":true}`, string(b))
}
