package slackfake

import (
	"slices"
	"strings"
)

// SetMemberOf limits the channels the bot is a member of: conversations.info
// answers is_member false for every other existing channel. Without a call
// the bot is in every channel. Posting is not affected.
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
// it. No arguments restores every scope.
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

func (s *Server) conversationInfo(_ *request, c *Call) map[string]any {
	if code := s.channelErr(c.Channel); code != "" {
		return fail(code)
	}
	if need := readScope(c.Channel); s.missing[need] {
		resp := fail("missing_scope")
		resp["needed"] = need
		resp["provided"] = strings.Join(s.providedScopes(), ",")
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
