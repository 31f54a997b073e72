package slackfake

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// request is a Web API call's arguments, from a form (what slack-go sends)
// or a JSON body (what Slack also accepts with a Bearer token).
type request struct {
	form       url.Values
	credential string // Bearer token, else the "token" argument
}

func readRequest(r *http.Request) (*request, error) {
	req := &request{form: url.Values{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "application/json" {
		var body map[string]any
		if err = json.NewDecoder(r.Body).Decode(&body); err == nil {
			for k, v := range body {
				if str, ok := v.(string); ok {
					req.form.Set(k, str)
					continue
				}
				raw, _ := json.Marshal(v)
				req.form.Set(k, string(raw))
			}
		}
		for k, v := range r.URL.Query() {
			req.form[k] = v
		}
	} else if err = r.ParseForm(); err == nil {
		req.form = r.Form
	}
	// slack-go sends the token as a form argument for chat.*, auth.test and
	// users.info, and as a Bearer header elsewhere; Slack accepts both.
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		req.credential = auth
	} else {
		req.credential = req.form.Get("token")
	}
	return req, err
}

func (r *request) get(key string) string { return r.form.Get(key) }

// flag reads a boolean argument the two ways Slack accepts one.
func (r *request) flag(key string) bool {
	v := r.form.Get(key)
	return v == "1" || v == "true"
}

func (r *request) raw(key string) json.RawMessage {
	if v := r.form.Get(key); v != "" {
		return json.RawMessage(v)
	}
	return nil
}

func ok(fields map[string]any) map[string]any {
	fields["ok"] = true
	return fields
}

func (s *Server) channelErr(channel string) string {
	if channel == "" || s.channels != nil && !s.channels[channel] {
		return "channel_not_found"
	}
	return ""
}

func (s *Server) authTest(*request, *Call) map[string]any {
	return ok(map[string]any{"url": "https://fake.slack.test/", "team": "Fake", "user": "ticketsync",
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID})
}

func (s *Server) postMessage(req *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	if c.ThreadTS != "" && s.find(c.Channel, c.ThreadTS) == nil {
		return fail("thread_not_found")
	}
	if resp := checkContent(c.Text, req); resp != nil {
		return resp
	}
	c.TS = s.nextTS()
	stored := *c
	s.msgs = append(s.msgs, &stored)
	return ok(map[string]any{"channel": c.Channel, "ts": c.TS, "message": messageJSON(&stored, true)})
}

func (s *Server) update(req *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	m := s.find(c.Channel, c.TS)
	if m == nil {
		return fail("message_not_found")
	}
	if resp := checkContent(c.Text, req); resp != nil {
		return resp
	}
	// Like Slack, arguments left out keep their old value; blocks=[] clears.
	if req.form.Has("text") {
		m.Text = c.Text
	}
	if req.form.Has("blocks") {
		m.Blocks = c.Blocks
		if string(c.Blocks) == "[]" {
			m.Blocks = nil
		}
	}
	if req.form.Has("metadata") {
		m.Metadata = c.Metadata
	}
	c.ThreadTS = m.ThreadTS
	return ok(map[string]any{"channel": c.Channel, "ts": c.TS, "text": m.Text})
}

func (s *Server) usersInfo(req *request, _ *Call) map[string]any {
	u, found := s.users[req.get("user")]
	if !found {
		return fail("user_not_found")
	}
	return ok(map[string]any{"user": map[string]any{
		"id": u.ID, "name": u.Name, "real_name": u.RealName, "is_bot": u.IsBot, "team_id": TeamID,
		"profile": map[string]any{"email": u.Email, "real_name": u.RealName, "display_name": u.Name},
	}})
}

// replies returns a whole thread in one page; metadata only with
// include_all_metadata, as Slack does.
func (s *Server) replies(req *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	parent := s.find(c.Channel, c.TS)
	if parent == nil {
		return fail("thread_not_found")
	}
	withMeta := req.flag("include_all_metadata")
	msgs := []any{messageJSON(parent, withMeta)}
	for _, m := range s.msgs {
		if m.Channel == c.Channel && m.ThreadTS == c.TS {
			msgs = append(msgs, messageJSON(m, withMeta))
		}
	}
	return ok(map[string]any{"messages": msgs, "has_more": false})
}

func messageJSON(m *Call, withMeta bool) map[string]any {
	out := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "user": BotUserID, "bot_id": BotID}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if withMeta && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	return out
}

// checkContent applies the limits Slack enforces on a message: some text or
// blocks, text within 40,000 characters, blocks that parse and fit Block Kit.
// It returns the error answer, or nil.
func checkContent(text string, req *request) map[string]any {
	blocks := req.raw("blocks")
	if text == "" && (blocks == nil || string(blocks) == "[]") {
		return fail("no_text")
	}
	if utf8.RuneCountInString(text) > 40000 {
		return fail("msg_too_long")
	}
	if md := req.raw("metadata"); md != nil && !json.Valid(md) {
		return fail("invalid_metadata_format")
	}
	if blocks != nil {
		if err := validateBlocks(blocks); err != nil {
			// Slack names the broken limit the same way.
			resp := fail("invalid_blocks")
			resp["response_metadata"] = map[string]any{"messages": []string{"[ERROR] " + err.Error()}}
			return resp
		}
	}
	return nil
}

// errLimit names the limit a block broke, for response_metadata.
func errLimit(what string, got, max int) error {
	return fmt.Errorf("%s: %d, at most %d", what, got, max)
}
