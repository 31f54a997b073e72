package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
	"github.com/ticketsync/ticketsync/internal/testkit"
)

type commandsEnv struct {
	*watchEnv
	cmds      *Commands
	inbound   *httptest.Server
	responses *responses
	cancel    context.CancelFunc
}

// newCommandsEnv wires the commands flow behind the real HTTP handler, with
// a thread for one fresh ticket. Slack user USARAH is team member Sarah
// Johnson by email; USTRANGER matches nobody.
func newCommandsEnv(t *testing.T, edit ...func(*WatchConfig)) (*commandsEnv, taskipfake.Ticket) {
	t.Helper()
	return newWrappedCommandsEnv(t, nil, edit...)
}

// newWrappedCommandsEnv is newCommandsEnv with wrap around what Commands
// asks of TaskIP (nil: nothing around it).
func newWrappedCommandsEnv(t *testing.T, wrap func(AgentTickets) AgentTickets, edit ...func(*WatchConfig)) (*commandsEnv, taskipfake.Ticket) {
	t.Helper()
	w := newWatchEnv(t, taskipfake.Options{}, edit...)
	w.slack.AddUser(slackfake.User{ID: "USARAH", Name: "sarah", RealName: "Sarah Johnson", Email: sarahEmail(t, w)})
	w.slack.AddUser(slackfake.User{ID: "USTRANGER", Name: "stranger", RealName: "Some One", Email: "someone@elsewhere.example"})
	resp := newResponses(t)
	side := struct {
		*slack.Poster
		slack.Responder
	}{w.poster, slack.Responder{}}
	var tickets AgentTickets = w.client
	if wrap != nil {
		tickets = wrap(tickets)
	}
	cmds, err := NewCommands(CommandsConfig{Tickets: tickets, Slack: side, Store: w.store, Events: w.watch,
		Outbox: w.cfg.Outbox, Logger: testLogger(t), ReplyPrefix: "reply:", BotUserID: "UBOT", Channel: testChannel})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = cmds.Run(ctx) }()
	t.Cleanup(cancel)
	in := httptest.NewServer(http.StripPrefix("/slack", slack.NewHTTPHandler(slack.InboundConfig{
		Verifier: slack.Verifier{Secret: signingSecret}, Handler: cmds, Logger: testLogger(t)})))
	t.Cleanup(in.Close)

	w.poll()
	tk := w.newTicket("Printer on fire")
	w.poll()
	w.fake.ResetRequests()
	// The watch runs too, so changes made from Slack update the parent.
	go func() { _ = w.watch.Run(ctx) }()
	return &commandsEnv{watchEnv: w, cmds: cmds, inbound: in, responses: resp, cancel: cancel}, tk
}

func sarahEmail(t *testing.T, w *watchEnv) string {
	for _, m := range w.fake.TeamMembers() {
		if m.Name == "Sarah Johnson" {
			return m.Email
		}
	}
	t.Fatal("no Sarah Johnson in the fake")
	return ""
}

// post sends a request signed as Slack would (secret and age adjustable).
func (e *commandsEnv) post(path, contentType string, body []byte, secret string, age time.Duration, headers ...string) *http.Response {
	e.t.Helper()
	req := testkit.SignedRequest(e.t, e.inbound.URL+"/slack/"+path, contentType, body, secret, age)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *commandsEnv) command(user, text string) *http.Response {
	form := url.Values{"command": {"/ticket"}, "text": {text}, "user_id": {user}, "channel_id": {testChannel},
		"response_url": {e.responses.Server.URL + "/resp"}, "team_id": {"T1"}}
	return e.post("commands", "application/x-www-form-urlencoded", []byte(form.Encode()), signingSecret, 0)
}

func (e *commandsEnv) waitResponse(n int) []string {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(e.responses.All()) >= n }, 5*time.Second, 5*time.Millisecond)
	return e.responses.All()
}

// writes lists the non-GET TaskIP calls as "METHOD path".
func (e *commandsEnv) writes() []string {
	var out []string
	for _, r := range e.fake.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, taskipfake.BasePath))
		}
	}
	return out
}

func TestSlashCommands(t *testing.T) {
	tests := []struct {
		name   string
		text   func(tk taskipfake.Ticket) string
		writes func(tk taskipfake.Ticket) []string
		answer string
	}{
		{"status", func(tk taskipfake.Ticket) string { return fmt.Sprintf("status %d resolved fixed the relay", tk.ID) },
			func(tk taskipfake.Ticket) []string { return []string{"POST /support-ticket/status-update/" + tk.UUID} }, "status: Resolved."},
		{"priority by uuid", func(tk taskipfake.Ticket) string { return "priority " + tk.UUID + " urgent" },
			func(tk taskipfake.Ticket) []string { return []string{"POST /support-ticket/" + tk.UUID + "/priority"} }, "priority: Urgent."},
		{"note", func(tk taskipfake.Ticket) string {
			return fmt.Sprintf("note #%d customer is on the enterprise plan", tk.ID)
		},
			func(tk taskipfake.Ticket) []string {
				return []string{"POST /support-ticket/" + tk.UUID + "/note-store"}
			}, "saved on ticket"},
		{"assign by mention", func(tk taskipfake.Ticket) string { return fmt.Sprintf("assign %d <@USARAH|sarah>", tk.ID) },
			func(tk taskipfake.Ticket) []string { return []string{fmt.Sprintf("POST /ticket/%d/assign", tk.ID)} }, "assigned to Sarah Johnson."},
		{"assign by member id", func(tk taskipfake.Ticket) string { return fmt.Sprintf("assign %d 8", tk.ID) },
			func(tk taskipfake.Ticket) []string { return []string{fmt.Sprintf("POST /ticket/%d/assign", tk.ID)} }, "assigned to David Chen."},
		{"reply", func(tk taskipfake.Ticket) string { return fmt.Sprintf("reply %d We are on it.", tk.ID) },
			func(tk taskipfake.Ticket) []string { return []string{"POST /support-ticket/reply/" + tk.UUID} }, "the customer sees it."},
		{"show", func(tk taskipfake.Ticket) string { return fmt.Sprintf("show %d", tk.ID) },
			func(taskipfake.Ticket) []string { return nil }, "Printer on fire"},
		{"list", func(taskipfake.Ticket) string { return "list open" },
			func(taskipfake.Ticket) []string { return nil }, "Printer on fire"},
		{"no such ticket", func(taskipfake.Ticket) string { return "status 99999 open" },
			func(taskipfake.Ticket) []string { return nil }, "No such ticket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, tk := newCommandsEnv(t)
			resp := e.command("USARAH", tt.text(tk))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			got := e.waitResponse(1)
			assert.Contains(t, got[0], tt.answer)
			assert.Equal(t, tt.writes(tk), e.writes(), "exactly these TaskIP writes")
		})
	}
}

// /ticket show names the sender whose mail opened the ticket, as the
// parent does, when TaskIP files it under another user.
func TestSlashCommandShowNamesTheRequester(t *testing.T) {
	e, tk := newCommandsEnv(t)
	require.NoError(t, e.store.Update(func(tx *state.Tx) error {
		return noteCustomerMail(tx, tk.UUID, conversation{Name: "Walk In", Email: "walk.in@example.org"})
	}))
	e.command("USARAH", fmt.Sprintf("show %d", tk.ID))
	assert.Contains(t, e.waitResponse(1)[0], "Customer: Walk In &lt;walk.in@example.org&gt; (in TaskIP: ")
}

func TestSlashCommandNoteDelete(t *testing.T) {
	e, tk := newCommandsEnv(t)
	n, err := e.client.AddNote(context.Background(), tk.UUID, "to be removed")
	require.NoError(t, err)
	e.fake.ResetRequests()
	e.command("USARAH", fmt.Sprintf("note-delete %d %d", tk.ID, n.ID))
	assert.Contains(t, e.waitResponse(1)[0], fmt.Sprintf("Note %d deleted", n.ID))
	assert.Equal(t, []string{fmt.Sprintf("DELETE /support-ticket/%s/note-delete/%d", tk.UUID, n.ID)}, e.writes())
}

func TestSlashCommandUsageErrorsAnsweredInTheAck(t *testing.T) {
	e, _ := newCommandsEnv(t)
	for _, text := range []string{"frobnicate", "status 46 done", "help"} {
		resp := e.command("USARAH", text)
		var body struct {
			Text         string `json:"text"`
			ResponseType string `json:"response_type"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		assert.Equal(t, "ephemeral", body.ResponseType)
		assert.NotEmpty(t, body.Text)
	}
	assert.Empty(t, e.writes())
}

func TestSlashCommandFromNonAgentIsRefused(t *testing.T) {
	e, tk := newCommandsEnv(t)
	e.command("USTRANGER", fmt.Sprintf("status %d closed", tk.ID))
	assert.Contains(t, e.waitResponse(1)[0], "not a TaskIP team member")
	assert.Empty(t, e.writes(), "nothing changes")
}

func TestSlackRequestsFailingVerificationChangeNothing(t *testing.T) {
	e, tk := newCommandsEnv(t)
	form := []byte(url.Values{"command": {"/ticket"}, "text": {fmt.Sprintf("status %d closed", tk.ID)}, "user_id": {"USARAH"},
		"response_url": {e.responses.Server.URL}}.Encode())
	const ctype = "application/x-www-form-urlencoded"
	assert.Equal(t, http.StatusUnauthorized, e.post("commands", ctype, form, "wrong-secret", 0).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, e.post("commands", ctype, form, signingSecret, 6*time.Minute).StatusCode)
	req, _ := http.NewRequest(http.MethodPost, e.inbound.URL+"/slack/commands", strings.NewReader(string(form)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "missing headers")
	big := []byte("text=" + strings.Repeat("x", 2<<20))
	assert.Equal(t, http.StatusRequestEntityTooLarge, e.post("commands", ctype, big, signingSecret, 0).StatusCode)
	time.Sleep(50 * time.Millisecond) // would-be async work has had its chance
	assert.Empty(t, e.responses.All())
	assert.Empty(t, e.writes())
}

func (e *commandsEnv) threadTS(id int) string {
	th, ok := storedThread(e.t, e.store, id)
	require.True(e.t, ok)
	return th.TS
}

func (e *commandsEnv) message(eventID, user, text, threadTS string, retry ...string) *http.Response {
	ev := map[string]any{
		"type": "event_callback", "event_id": eventID, "team_id": "T1",
		"event": map[string]any{"type": "message", "channel": testChannel, "user": user, "text": text,
			"ts": fmt.Sprintf("%d.000200", time.Now().UnixNano()), "thread_ts": threadTS},
	}
	body, _ := json.Marshal(ev)
	return e.post("events", "application/json", body, signingSecret, 0, retry...)
}

func TestThreadMessages(t *testing.T) {
	e, tk := newCommandsEnv(t)
	ts := e.threadTS(tk.ID)

	e.message("Ev1", "USARAH", "checked the logs, relay is down", ts)
	require.Eventually(t, func() bool { return len(e.fake.Notes(tk.ID)) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "checked the logs, relay is down", e.fake.Notes(tk.ID)[0].Note, "a plain message is an internal note")
	assert.Empty(t, e.fake.Replies(tk.ID), "nothing reaches the customer")

	e.message("Ev2", "USARAH", "reply: Hi John, the relay is fixed.", ts)
	require.Eventually(t, func() bool { return len(e.fake.Replies(tk.ID)) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "Hi John, the relay is fixed.", e.fake.Replies(tk.ID)[0].Message)

	// Slack retries a delivery it thinks we missed: same event_id.
	e.message("Ev2", "USARAH", "reply: Hi John, the relay is fixed.", ts, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout")
	// A bot's message and a stranger's message.
	e.message("Ev3", "UBOT", "Note saved", ts)
	e.message("Ev4", "USTRANGER", "reply: I am not an agent", ts)
	require.Eventually(t, func() bool {
		for _, c := range e.threadTexts(tk.ID) {
			if strings.Contains(c, "not a TaskIP team member") {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, e.fake.Replies(tk.ID), 1, "a retried event is applied once; strangers change nothing")
	assert.Len(t, e.fake.Notes(tk.ID), 1)

	texts := e.threadTexts(tk.ID)
	assert.Contains(t, texts, `Note saved (internal). Start a message with "reply:" to answer the customer.`)
	assert.Contains(t, texts, "Sent to John Smith &lt;john@acme.com&gt; as a reply.")
}

func TestParentMenusAndAssignButton(t *testing.T) {
	e, tk := newCommandsEnv(t)
	action := func(actionID, value, selected string) {
		act := map[string]any{"action_id": actionID, "block_id": mapping.BlockPrefix + tk.UUID + ":actions", "type": "button", "value": value}
		if selected != "" {
			act["type"] = "static_select"
			act["selected_option"] = map[string]any{"value": selected, "text": map[string]any{"type": "plain_text", "text": "x"}}
		}
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "USARAH"},
			"channel": map[string]any{"id": testChannel}, "response_url": e.responses.Server.URL + "/resp", "actions": []any{act}})
		form := url.Values{"payload": {string(payload)}}
		require.Equal(t, http.StatusOK, e.post("interactive", "application/x-www-form-urlencoded", []byte(form.Encode()), signingSecret, 0).StatusCode)
	}
	action(mapping.ActionSetStatus, "", tk.UUID+"|in_progress")
	e.waitResponse(1)
	action(mapping.ActionSetPriority, "", tk.UUID+"|high")
	e.waitResponse(2)
	action(mapping.ActionAssignMe, tk.UUID, "")
	e.waitResponse(3)
	after, _ := e.fake.Ticket(tk.ID)
	assert.Equal(t, taskipfake.StatusInProgress, after.Status)
	assert.Equal(t, taskipfake.PriorityHigh, after.Priority)
	assert.Equal(t, 7, after.AssignedTo, "Sarah Johnson")
	require.Eventually(t, func() bool { return len(e.posts("chat.update")) >= 1 }, 5*time.Second, 5*time.Millisecond, "the parent is updated afterwards")
}

// A file shared in a thread is uploaded to the ticket with its length
// declared up front. Slack's size is that length; a file Slack gives no
// size for is spooled first to learn it; a size that does not match the
// download fails the upload and says so in the thread, rather than send a
// body of the wrong length.
func TestThreadFileShareIsUploaded(t *testing.T) {
	content := []byte(strings.Repeat("log line\n", 500))
	for _, tc := range []struct {
		name    string
		size    int
		uploads bool
	}{
		{"size from Slack", len(content), true},
		{"no size from Slack", 0, true},
		{"wrong size from Slack", len(content) - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, tk := newCommandsEnv(t)
			fileURL := e.slack.AddFile("server.log", content)
			ev := map[string]any{
				"type": "event_callback", "event_id": "EvFile", "team_id": "T1",
				"event": map[string]any{"type": "message", "subtype": "file_share", "channel": testChannel, "user": "USARAH",
					"text": "logs attached", "ts": "1700000999.000100", "thread_ts": e.threadTS(tk.ID),
					"files": []any{map[string]any{"id": "F1", "name": "server.log", "mimetype": "text/plain", "size": tc.size,
						"url_private_download": fileURL}}},
			}
			body, _ := json.Marshal(ev)
			require.Equal(t, http.StatusOK, e.post("events", "application/json", body, signingSecret, 0).StatusCode)
			require.Eventually(t, func() bool { return len(e.fake.Notes(tk.ID)) == 1 }, 5*time.Second, 5*time.Millisecond, "the text is a note as usual")
			if !tc.uploads {
				require.Eventually(t, func() bool {
					for _, text := range e.threadTexts(tk.ID) {
						if strings.Contains(text, "Could not upload server.log") {
							return true
						}
					}
					return false
				}, 5*time.Second, 5*time.Millisecond, "thread says: %q", e.threadTexts(tk.ID))
				assert.Empty(t, e.fake.Attachments(tk.ID), "no file of the wrong length reaches the ticket")
				return
			}
			require.Eventually(t, func() bool { return len(e.fake.Attachments(tk.ID)) == 1 }, 5*time.Second, 5*time.Millisecond)
			got := e.fake.Attachments(tk.ID)[0]
			assert.Equal(t, "server.log", got.Filename)
			assert.Equal(t, int64(len(content)), got.Size)
			// The confirmation is posted after the note is written.
			require.Eventually(t, func() bool { return slices.Contains(e.threadTexts(tk.ID), "Uploaded to the ticket: server.log.") },
				5*time.Second, 5*time.Millisecond, "thread says: %q", e.threadTexts(tk.ID))
		})
	}
}

// An agent can answer in a thread faster than the watch records the
// parent it just posted; the message waits for it instead of being lost.
func TestThreadMessageWaitsForAThreadBeingRecorded(t *testing.T) {
	e, tk := newCommandsEnv(t)
	const ts = "1700000000.000900"
	e.message("EvEarly", "USARAH", "first look: toner is empty", ts)
	time.Sleep(200 * time.Millisecond)
	linkThread(t, e.store, threadTicket{ID: int64(tk.ID), UUID: tk.UUID}, thread{Channel: testChannel, TS: ts})
	require.Eventually(t, func() bool { return len(e.fake.Notes(tk.ID)) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "first look: toner is empty", e.fake.Notes(tk.ID)[0].Note)
}
