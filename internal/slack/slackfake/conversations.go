package slackfake

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
)

// SetMemberOf limits the channels the bot is a member of: conversations.info
// answers is_member false for every other existing channel, and
// conversations.history not_in_channel, as Slack does for a bot outside a
// channel. Without a call the bot is in every channel. Posting is not
// affected.
func (s *Server) SetMemberOf(ids ...string) {
	s.locked(func() {
		s.members = map[string]bool{}
		for _, id := range ids {
			s.members[id] = true
		}
	})
}

// SetMissingScopes takes scopes away from the bot token, e.g.
// "channels:read": conversations.info then answers missing_scope, naming
// the scope the channel needs, as Slack does for an app installed without
// it; "channels:history" does the same for conversations.history. No
// arguments restores every scope.
func (s *Server) SetMissingScopes(scopes ...string) {
	s.locked(func() {
		s.missing = map[string]bool{}
		for _, sc := range scopes {
			s.missing[sc] = true
		}
	})
}

// NameChannel sets the name conversations.info reports for id; default
// the id in lower case.
func (s *Server) NameChannel(id, name string) {
	s.locked(func() {
		if s.names == nil {
			s.names = map[string]string{}
		}
		s.names[id] = name
	})
}

// readScope is the scope conversations.info needs for a channel id. The
// fake knows no channel types, so G ids stand for private channels.
func readScope(id string) string {
	switch {
	case strings.HasPrefix(id, "G"):
		return "groups:read"
	case strings.HasPrefix(id, "D"):
		return "im:read"
	}
	return "channels:read"
}

// historyScope is the scope conversations.history needs, by the same
// reading of channel ids as readScope.
func historyScope(id string) string {
	switch {
	case strings.HasPrefix(id, "G"):
		return "groups:history"
	case strings.HasPrefix(id, "D"):
		return "im:history"
	}
	return "channels:history"
}

// missingScope is Slack's answer to a token without the scope need, or nil.
func (s *Server) missingScope(need string) map[string]any {
	if !s.missing[need] {
		return nil
	}
	resp := fail("missing_scope")
	resp["needed"] = need
	resp["provided"] = strings.Join(s.providedScopes(), ",")
	return resp
}

func (s *Server) conversationInfo(_ *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	if resp := s.missingScope(readScope(c.Channel)); resp != nil {
		return resp
	}
	name := s.names[c.Channel]
	if name == "" {
		name = strings.ToLower(c.Channel)
	}
	private := strings.HasPrefix(c.Channel, "G")
	return ok(map[string]any{"channel": map[string]any{
		"id": c.Channel, "name": name, "is_channel": !private, "is_group": private, "is_private": private,
		"is_archived": false, "is_member": s.members == nil || s.members[c.Channel],
	}})
}

// providedScopes is what the README's manifest grants, less the missing.
func (s *Server) providedScopes() []string {
	all := []string{"chat:write", "commands", "users:read", "users:read.email", "channels:history", "files:read",
		"channels:read", "groups:read"}
	return slices.DeleteFunc(all, func(sc string) bool { return s.missing[sc] })
}

// History page sizes: Slack's default, and the most it accepts.
const (
	historyDefaultLimit = 100
	historyMaxLimit     = 999
)

// history lists a channel's top-level messages newest first. Broadcast
// replies, which Slack lists as well, cannot be posted to the fake. Its
// cursor names the ts the next page starts at, so a page boundary stays put
// while new messages arrive, as with Slack's own cursors.
func (s *Server) history(req *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	if resp := s.missingScope(historyScope(c.Channel)); resp != nil {
		return resp
	}
	if s.members != nil && !s.members[c.Channel] {
		return fail("not_in_channel")
	}
	oldest, latest := int64(-1), int64(math.MaxInt64)
	if v := req.get("oldest"); v != "" {
		var good bool
		if oldest, good = tsMicros(v); !good {
			return fail("invalid_ts_oldest")
		}
	}
	if v := req.get("latest"); v != "" {
		var good bool
		if latest, good = tsMicros(v); !good {
			return fail("invalid_ts_latest")
		}
	}
	if !req.flag("inclusive") {
		// A ts is a whole number of microseconds, so an exclusive bound
		// is the inclusive one a microsecond further in.
		oldest, latest = oldest+1, latest-1
	}
	start := latest
	if v := req.get("cursor"); v != "" {
		at, good := decodeCursor(v)
		if !good {
			return fail("invalid_cursor")
		}
		start = min(start, at)
	}
	limit, err := strconv.Atoi(req.get("limit"))
	if err != nil || limit <= 0 {
		limit = historyDefaultLimit
	}
	limit = min(limit, historyMaxLimit)

	withMeta := req.flag("include_all_metadata")
	msgs := []any{}
	resp := ok(map[string]any{"has_more": false})
	// s.msgs is in ts order: nextTS only grows and posts hold the lock.
	for _, m := range slices.Backward(s.msgs) {
		if m.Channel != c.Channel || m.ThreadTS != "" && m.ThreadTS != m.TS {
			continue
		}
		at, _ := tsMicros(m.TS)
		if at > start {
			continue
		}
		if at < oldest {
			break
		}
		if len(msgs) == limit {
			resp["has_more"] = true
			resp["response_metadata"] = map[string]any{"next_cursor": encodeCursor(at)}
			break
		}
		msgs = append(msgs, messageJSON(m, withMeta))
	}
	resp["messages"] = msgs
	return resp
}

// tsMicros reads a Slack ts ("1700000000.000100", or whole seconds) as
// microseconds, the ordering Slack gives them.
func tsMicros(ts string) (int64, bool) {
	secStr, fracStr, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil || sec < 0 || len(fracStr) > 6 || sec > math.MaxInt64/1_000_000-1 {
		return 0, false
	}
	var frac int64
	if fracStr != "" {
		if frac, err = strconv.ParseInt(fracStr+strings.Repeat("0", 6-len(fracStr)), 10, 64); err != nil || frac < 0 {
			return 0, false
		}
	}
	return sec*1e6 + frac, true
}

// Cursors are opaque to clients, so a test cannot come to depend on their
// shape.
const cursorPrefix = "ts:"

func encodeCursor(micros int64) string {
	return base64.StdEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(micros, 10)))
}

func decodeCursor(cursor string) (int64, bool) {
	raw, err := base64.StdEncoding.DecodeString(cursor)
	if err != nil {
		return 0, false
	}
	v, found := strings.CutPrefix(string(raw), cursorPrefix)
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
