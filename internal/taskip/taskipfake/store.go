package taskipfake

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SeedTicket stores t as is, filling a zero ID, UUID or timestamps, people
// given by id only (from contacts and team members) and the assignee's name.
// A ticket with an existing ID replaces it.
func (s *Server) SeedTicket(t Ticket) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	t = t.clone()
	if t.ID == 0 {
		t.ID = s.next.ticket
	}
	s.next.ticket = max(s.next.ticket, t.ID+1)
	if old, ok := s.tickets[t.ID]; ok {
		delete(s.byUUID, old.UUID)
	}
	if t.UUID == "" {
		t.UUID = newUUID()
	}
	now := s.now()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt = t.CreatedAt.UTC().Truncate(time.Second)
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	t.UpdatedAt = t.UpdatedAt.UTC().Truncate(time.Second)
	t.User = s.fillPerson(t.User)
	t.CreatedBy = s.fillPerson(t.CreatedBy)
	s.fillAssignee(&t)
	if t.Attachment != nil {
		s.next.media = max(s.next.media, t.Attachment.ID+1)
		if _, ok := s.media[t.Attachment.ID]; !ok {
			s.media[t.Attachment.ID] = *t.Attachment
		}
	}
	s.tickets[t.ID] = &t
	s.byUUID[t.UUID] = t.ID
	return t.clone()
}

// SeedContact stores c, filling a zero ID, status and timestamps.
func (s *Server) SeedContact(c Contact) Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeContact(c)
}

func (s *Server) storeContact(c Contact) Contact {
	if c.ID == 0 {
		c.ID = s.next.contact
	}
	s.next.contact = max(s.next.contact, c.ID+1)
	if c.Status == "" {
		c.Status = "active"
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	s.contacts[c.ID] = &c
	s.contactSearch = append(s.contactSearch, searchableContact{ct: &c, name: strings.ToLower(c.Name), email: strings.ToLower(c.Email)})
	return c
}

// SeedTeamMember stores m, filling a zero ID, username, status and timestamp.
func (s *Server) SeedTeamMember(m TeamMember) TeamMember {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.ID == 0 {
		m.ID = s.next.team
	}
	s.next.team = max(s.next.team, m.ID+1)
	if m.Username == "" {
		m.Username, _, _ = strings.Cut(m.Email, "@")
	}
	if m.Status == "" {
		m.Status = "active"
	}
	if m.Timezone == "" {
		m.Timezone = "UTC"
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	s.team[m.ID] = &m
	return m
}

// SetAPIUser makes team member id the owner of the secret key: the author
// of replies, notes and uploads made through the API. Without it they are
// attributed to "API User" (id 0).
func (s *Server) SetAPIUser(teamMemberID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiUser = teamMemberID
}

// Tickets returns every ticket, ordered by id.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, 0, len(s.tickets))
	for _, t := range s.tickets {
		out = append(out, t.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Ticket returns one ticket by id.
func (s *Server) Ticket(id int) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	return t.clone(), true
}

// TicketByUUID returns one ticket by uuid.
func (s *Server) TicketByUUID(uuid string) (Ticket, bool) {
	s.mu.Lock()
	id, ok := s.byUUID[uuid]
	s.mu.Unlock()
	if !ok {
		return Ticket{}, false
	}
	return s.Ticket(id)
}

// Replies returns a ticket's replies, oldest first.
func (s *Server) Replies(id int) []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Reply, 0, len(s.replies[id]))
	for _, r := range s.replies[id] {
		out = append(out, r.clone())
	}
	return out
}

// Notes returns a ticket's notes, oldest first.
func (s *Server) Notes(id int) []Note {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Note{}, s.notes[id]...)
}

// Attachments returns a ticket's uploaded files, oldest first.
func (s *Server) Attachments(id int) []Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attachment{}, s.attachments[id]...)
}

// Contacts returns every contact, ordered by id.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TeamMembers returns every team member, ordered by id.
func (s *Server) TeamMembers() []TeamMember {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TeamMember, 0, len(s.team))
	for _, m := range s.team {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Mutate changes a ticket the way an agent in the web app would, then bumps
// updated_at. fn may set UpdatedAt to a later time itself; either way the
// result is strictly later than before, so a watcher never misses a change.
// ID and UUID cannot be changed. fn runs under the server's lock on a copy,
// so it must not call the Server.
func (s *Server) Mutate(id int, fn func(*Ticket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return fmt.Errorf("mutate ticket %d: %w", id, ErrNotFound)
	}
	prev := *t
	work := t.clone()
	fn(&work)
	work.ID, work.UUID = prev.ID, prev.UUID
	if work.AssignedTo != prev.AssignedTo && work.AssignedToName == prev.AssignedToName {
		work.AssignedToName = ""
	}
	s.fillAssignee(&work)
	next := s.now()
	if work.UpdatedAt.After(prev.UpdatedAt) {
		next = work.UpdatedAt.UTC().Truncate(time.Second)
	}
	work.UpdatedAt = prev.UpdatedAt
	*t = work
	s.touchAt(t, next)
	return nil
}

// AddAgentReply posts a reply as the team member named author, as if typed
// in the web app. It works on closed tickets too: agents are not bound by
// the API's 409.
func (s *Server) AddAgentReply(id int, author, text string) (Reply, error) {
	s.mu.Lock()
	var user *Person
	for _, m := range s.team {
		if strings.EqualFold(m.Name, author) {
			user = &Person{ID: m.ID, Name: m.Name, Email: m.Email}
		}
	}
	s.mu.Unlock()
	if user == nil {
		user = &Person{Name: author}
	}
	return s.AddReply(id, Reply{Message: text, Author: author, AuthorType: "team_member", User: user})
}

// AddReply stores r on ticket id (filling ID, TicketID, CreatedAt and a
// missing AuthorType of team_member) and bumps reply_count and updated_at.
func (s *Server) AddReply(id int, r Reply) (Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Reply{}, fmt.Errorf("reply to ticket %d: %w", id, ErrNotFound)
	}
	if r.AuthorType == "" {
		r.AuthorType = "team_member"
	}
	return s.addReplyLocked(t, r), nil
}

// AddNote stores n on ticket id (filling ID, TicketID, CreatedAt and a
// missing Author with the key's owner) and bumps updated_at, as the note
// route does but without its 1 MiB body limit, so that tests can have the
// server answer with notes no request could have created.
func (s *Server) AddNote(id int, n Note) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Note{}, fmt.Errorf("note on ticket %d: %w", id, ErrNotFound)
	}
	n.ID = s.next.note
	s.next.note++
	n.TicketID = t.ID
	if n.Author == "" {
		n.Author = s.apiPerson().Name
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = s.now()
	}
	s.notes[t.ID] = append(s.notes[t.ID], n)
	s.touch(t)
	return n, nil
}

// Delete removes a ticket with its replies, notes and attachments.
func (s *Server) Delete(id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tickets[id]; !ok {
		return fmt.Errorf("delete ticket %d: %w", id, ErrNotFound)
	}
	s.deleteLocked(id)
	return nil
}

func (s *Server) deleteLocked(id int) {
	delete(s.byUUID, s.tickets[id].UUID)
	delete(s.tickets, id)
	delete(s.replies, id)
	delete(s.notes, id)
	delete(s.attachments, id)
}

func (s *Server) addReplyLocked(t *Ticket, r Reply) Reply {
	r.ID = s.next.reply
	s.next.reply++
	r.TicketID = t.ID
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	s.replies[t.ID] = append(s.replies[t.ID], r.clone())
	t.ReplyCount++
	s.touch(t)
	return r
}

// touch bumps updated_at to now, or one second past its old value when the
// clock has not moved on: equal timestamps would hide a change from a
// client that polls by updated_at.
func (s *Server) touch(t *Ticket) { s.touchAt(t, s.now()) }

func (s *Server) touchAt(t *Ticket, at time.Time) {
	if !at.After(t.UpdatedAt) {
		at = t.UpdatedAt.Add(time.Second)
	}
	t.UpdatedAt = at
}

// fillPerson completes a person given by id from team members, then contacts.
func (s *Server) fillPerson(p *Person) *Person {
	if p == nil || p.Name != "" || p.Email != "" {
		return p
	}
	if found := s.personByID(p.ID); found != nil {
		return found
	}
	return p
}

func (s *Server) personByID(id int) *Person {
	if m, ok := s.team[id]; ok {
		return &Person{ID: m.ID, Name: m.Name, Email: m.Email}
	}
	if c, ok := s.contacts[id]; ok {
		return &Person{ID: c.ID, Name: c.Name, Email: c.Email}
	}
	return nil
}

func (s *Server) contactPerson(id int) *Person {
	if c, ok := s.contacts[id]; ok {
		return &Person{ID: c.ID, Name: c.Name, Email: c.Email}
	}
	return nil
}

func (s *Server) fillAssignee(t *Ticket) {
	if t.AssignedTo == 0 {
		t.AssignedToName = ""
		return
	}
	if m, ok := s.team[t.AssignedTo]; ok && t.AssignedToName == "" {
		t.AssignedToName = m.Name
	}
}

// apiPerson is who the secret key acts as.
func (s *Server) apiPerson() Person {
	if m, ok := s.team[s.apiUser]; ok {
		return Person{ID: m.ID, Name: m.Name, Email: m.Email}
	}
	return Person{Name: "API User"}
}

// newUUID returns an RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
