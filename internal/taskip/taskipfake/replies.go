package taskipfake

import (
	"net/http"
	"slices"
	"strings"
)

var authorTypes = []string{"team_member", "client", "system"}

// replyInput is what both reply routes share beyond the message text.
type replyInput struct {
	authorType string
	private    bool
}

func parseReplyInput(b body, v validation) replyInput {
	in := replyInput{authorType: "team_member"}
	if s, ok := b.str(v, "author_type"); ok {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(authorTypes, s) {
			v.invalid("author_type")
		}
		in.authorType = s
	}
	in.private, _ = b.boolean(v, "is_private")
	b.boolean(v, "notify_client")
	return in
}

// author is who a reply of that type is attributed to: the key's owner
// for agents, the ticket's customer for clients.
func (s *Server) author(t *Ticket, authorType string) Person {
	switch authorType {
	case "client":
		if t.User != nil {
			return *t.User
		}
		return Person{Name: "Client"}
	case "system":
		return Person{Name: "System"}
	}
	return s.apiPerson()
}

func requiredText(b body, v validation, k string) string {
	s, ok := b.str(v, k)
	if (!ok || strings.TrimSpace(s) == "") && v[k] == nil {
		v.required(k)
	}
	return s
}

func (s *Server) replyByUUID(c *call, uuid string) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByUUID(uuid) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	v := validation{}
	text := requiredText(b, v, "description")
	in := parseReplyInput(b, v)
	var status *int
	if n, ok := b.code(v, "status", statusNames); ok {
		status = &n
	}
	var media *Media
	if n, ok := b.integer(v, "attachment"); ok {
		if n <= 0 {
			v.invalid("attachment")
		}
		m := s.mediaByID(n)
		media = &m
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, status); err != nil {
		c.fail(err)
		return
	}
	if status != nil {
		setStatus(t, *status, c.now)
	}
	who := s.author(t, in.authorType)
	r := s.addReplyLocked(t, Reply{Message: text, Author: who.Name, AuthorType: in.authorType,
		IsPrivate: in.private, User: &who, Attachment: media, CreatedAt: c.now})
	c.json(http.StatusCreated, map[string]any{"msg": "Reply added successfully", "status": 201,
		"reply": map[string]any{
			"id":          r.ID,
			"user":        renderPerson(r.User),
			"description": r.Message,
			"attachment":  renderMedia(r.Attachment),
			"createAt":    humanAgo(c.now, r.CreatedAt),
			"date":        r.CreatedAt.Format("02-Jan-2006"),
			"time":        r.CreatedAt.Format("03:04PM"),
		}})
}

func (s *Server) legacyAddReply(c *call) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByID(c) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	v := validation{}
	text := requiredText(b, v, "message")
	in := parseReplyInput(b, v)
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, nil); err != nil {
		c.fail(err)
		return
	}
	who := s.author(t, in.authorType)
	r := s.addReplyLocked(t, Reply{Message: text, Author: who.Name, AuthorType: in.authorType,
		IsPrivate: in.private, User: &who, CreatedAt: c.now})
	c.json(http.StatusCreated, map[string]any{"success": true, "message": "Reply added successfully",
		"data": map[string]any{
			"reply_id":    r.ID,
			"ticket_id":   t.ID,
			"message":     r.Message,
			"author":      r.Author,
			"author_type": r.AuthorType,
			"is_private":  r.IsPrivate,
			"created_at":  rfc3339(r.CreatedAt),
		}})
}

func (s *Server) storeNote(c *call, uuid string) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByUUID(uuid) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	v := validation{}
	text := requiredText(b, v, "note")
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, nil); err != nil {
		c.fail(err)
		return
	}
	n := Note{ID: s.next.note, TicketID: t.ID, Note: text, Author: s.apiPerson().Name, CreatedAt: c.now}
	s.next.note++
	s.notes[t.ID] = append(s.notes[t.ID], n)
	s.touch(t)
	c.json(http.StatusCreated, map[string]any{"msg": "Note added successfully", "status": 201, "data": renderNote(n)})
}

func (s *Server) deleteNote(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticketByUUID(c.r.PathValue("uuid"))
	if err != nil {
		c.fail(err)
		return
	}
	id, _ := pathID(c, "note")
	notes := s.notes[t.ID]
	at := -1
	for i, n := range notes {
		if n.ID == id {
			at = i
		}
	}
	if at < 0 {
		c.fail(errNotFound("Note"))
		return
	}
	if err := checkModifiable(t, nil); err != nil {
		c.fail(err)
		return
	}
	s.notes[t.ID] = append(notes[:at:at], notes[at+1:]...)
	s.touch(t)
	c.json(http.StatusOK, map[string]any{"msg": "Note deleted successfully", "status": 200})
}
