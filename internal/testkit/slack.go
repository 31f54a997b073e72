package testkit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
)

// SignedRequest is a POST of body to target signed as Slack signs it,
// with secret, age ago; Slack refuses requests older than five minutes.
func SignedRequest(t testing.TB, target, contentType string, body []byte, secret string, age time.Duration) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
	require.NoError(t, err)
	ts := strconv.FormatInt(time.Now().Add(-age).Unix(), 10)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(secret, ts, body))
	return req
}

// PostAction sends a block_actions payload for a parent's controls: a
// static select when option is set, else the "Assign to me" button.
func PostAction(t testing.TB, post func(path, ctype string, body []byte), user, uuid, actionID, option, respURL string) {
	t.Helper()
	act := map[string]any{"action_id": actionID, "block_id": mapping.BlockPrefix + uuid + ":actions", "type": "button", "value": uuid}
	if option != "" {
		act["type"] = "static_select"
		act["value"] = ""
		act["selected_option"] = map[string]any{"value": uuid + "|" + option, "text": map[string]any{"type": "plain_text", "text": option}}
	}
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user},
		"channel": map[string]any{"id": Channel}, "response_url": respURL, "actions": []any{act}})
	form := url.Values{"payload": {string(payload)}}
	post("interactive", "application/x-www-form-urlencoded", []byte(form.Encode()))
}

// Responses records what reached a response_url.
type Responses struct {
	mu    sync.Mutex
	texts []string
	// Server is the response_url's host.
	Server *httptest.Server
}

// All are the texts received so far, in order.
func (r *Responses) All() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.texts...)
}

// NewResponses records what is posted to a response_url until the test
// ends.
func NewResponses(t testing.TB) *Responses {
	resp := &Responses{}
	resp.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		resp.mu.Lock()
		resp.texts = append(resp.texts, body.Text)
		resp.mu.Unlock()
	}))
	t.Cleanup(resp.Server.Close)
	return resp
}
