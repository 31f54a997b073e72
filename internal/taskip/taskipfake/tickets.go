package taskipfake

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ticketInput is the create/update body; nil means "not given".
type ticketInput struct {
	subject, description, category *string
	priority, status               *int
	attachment, createdBy, userID  *int
}

func parseTicketInput(b body, v validation, create bool) ticketInput {
	var in ticketInput
	if s, ok := b.str(v, "subject"); ok {
		switch {
		case strings.TrimSpace(s) == "":
			v.required("subject")
		case utf8.RuneCountInString(s) > 191:
			v.add("subject", "The subject may not be greater than 191 characters.")
		default:
			in.subject = &s
		}
	} else if create && v["subject"] == nil {
		v.required("subject")
	}
	if n, ok := b.code(v, "priority", priorityNames); ok {
		in.priority = &n
	} else if create && v["priority"] == nil {
		v.required("priority")
	}
	if n, ok := b.code(v, "status", statusNames); ok {
		in.status = &n
	}
	if s, ok := b.str(v, "description"); ok {
		in.description = &s
	}
	if s, ok := b.str(v, "category"); ok {
		in.category = &s
	}
	for k, dst := range map[string]**int{"attachment": &in.attachment, "created_by": &in.createdBy, "user_id": &in.userID} {
		if n, ok := b.integer(v, k); ok {
			*dst = &n
		}
	}
	return in
}

// applyTicketInput resolves references and writes in to t; s.mu is held.
func (s *Server) applyTicketInput(t *Ticket, in ticketInput, now time.Time) error {
	v := validation{}
	var user, creator *Person
	var media *Media
	if in.userID != nil {
		if user = s.contactPerson(*in.userID); user == nil {
			v.invalid("user_id")
		}
	}
	if in.createdBy != nil {
		if creator = s.personByID(*in.createdBy); creator == nil {
			v.invalid("created_by")
		}
	}
	if in.attachment != nil {
		if *in.attachment <= 0 {
			v.invalid("attachment")
		} else {
			m := s.mediaByID(*in.attachment)
			media = &m
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&t.Subject, in.subject)
	set(&t.Description, in.description)
	set(&t.Category, in.category)
	if in.priority != nil {
		t.Priority = *in.priority
	}
	if in.status != nil {
		setStatus(t, *in.status, now)
	}
	if user != nil {
		t.User = user
	}
	if creator != nil {
		t.CreatedBy = creator
	}
	if media != nil {
		t.Attachment = media
	}
	return nil
}

// mediaByID returns a known media item or, for an id the fake never saw,
// a stand-in: the real server's media library is not modelled.
func (s *Server) mediaByID(id int) Media {
	if m, ok := s.media[id]; ok {
		return m
	}
	name := "media-" + strconv.Itoa(id)
	return Media{ID: id, URL: "https://cdn.taskip.net/attachments/" + name, Name: name}
}

// setStatus changes status and keeps the resolution time consistent.
func setStatus(t *Ticket, status int, now time.Time) {
	done := func(s int) bool { return s == StatusResolved || s == StatusClosed }
	switch {
	case done(status) && !done(t.Status):
		t.ResolvedAt = now
	case !done(status):
		t.ResolvedAt = time.Time{}
	}
	t.Status = status
}

// checkModifiable is the 409 rule: a closed ticket only accepts a change
// that reopens it.
func checkModifiable(t *Ticket, newStatus *int) error {
	if t.Status == StatusClosed && (newStatus == nil || *newStatus == StatusClosed) {
		return errClosed()
	}
	return nil
}

// pathID parses a numeric path id; anything else is a 404, as a uuid would
// be on the real server's integer routes.
func pathID(c *call, name string) (int, bool) {
	s := c.r.PathValue(name)
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n > 0
}

// ticketByID returns the ticket named by the {id} path value; s.mu is held.
// lockTicket reads the request body, takes the server lock and finds the
// ticket. The lock is held on return whatever the outcome: the caller defers
// s.mu.Unlock. A missing ticket (404) is answered before a malformed body
// (400). ok is false when the error answer has been sent.
func (s *Server) lockTicket(c *call, find func() (*Ticket, error)) (body, *Ticket, bool) {
	b, berr := c.readBody()
	s.mu.Lock()
	t, err := find()
	if err == nil {
		err = berr
	}
	if err != nil {
		c.fail(err)
		return b, nil, false
	}
	return b, t, true
}

func (s *Server) ticketByID(c *call) (*Ticket, error) {
	id, ok := pathID(c, "id")
	if !ok || s.tickets[id] == nil {
		return nil, errNotFound("Ticket")
	}
	return s.tickets[id], nil
}

// ticketByUUID returns the ticket with that uuid; s.mu is held.
func (s *Server) ticketByUUID(uuid string) (*Ticket, error) {
	id, ok := s.byUUID[uuid]
	if !ok {
		return nil, errNotFound("Ticket")
	}
	return s.tickets[id], nil
}

func (s *Server) createTicket(c *call) {
	b, err := c.readBody()
	if err != nil {
		c.fail(err)
		return
	}
	v := validation{}
	in := parseTicketInput(b, v, true)
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	s.mu.Lock()
	t := Ticket{UUID: newUUID(), Tags: []string{}, CreatedAt: c.now, UpdatedAt: c.now}
	if err := s.applyTicketInput(&t, in, c.now); err != nil {
		s.mu.Unlock()
		c.fail(err)
		return
	}
	t.ID = s.next.ticket
	s.next.ticket++
	s.tickets[t.ID] = &t
	s.byUUID[t.UUID] = t.ID
	out := renderTicket(&t, c.style, c.now)
	s.mu.Unlock()
	c.json(http.StatusCreated, map[string]any{"data": out, "status": 201, "msg": "SupportTicket stored successfully"})
}

func (s *Server) getTicket(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticketByID(c)
	if err != nil {
		c.fail(err)
		return
	}
	out := ticketDetailJSON{ticketJSON: renderTicket(t, c.style, c.now), Replies: []replyJSON{}, Notes: []noteJSON{}}
	for _, r := range s.replies[t.ID] {
		out.Replies = append(out.Replies, renderReply(r))
	}
	for _, n := range s.notes[t.ID] {
		out.Notes = append(out.Notes, renderNote(n))
	}
	c.json(http.StatusOK, out)
}

func (s *Server) updateTicket(c *call) {
	// The body is read before locking so a slow client cannot stall the
	// server; its error is reported after the 404 check, as Laravel would.
	b, berr := c.readBody()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticketByID(c)
	if err != nil {
		c.fail(err)
		return
	}
	if berr != nil {
		c.fail(berr)
		return
	}
	v := validation{}
	in := parseTicketInput(b, v, false)
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, in.status); err != nil {
		c.fail(err)
		return
	}
	work := t.clone()
	if err := s.applyTicketInput(&work, in, c.now); err != nil {
		c.fail(err)
		return
	}
	// Like Eloquent, a save that changes nothing leaves updated_at alone.
	if !reflect.DeepEqual(work, t.clone()) {
		*t = work
		s.touch(t)
	}
	c.json(http.StatusOK, map[string]any{"data": renderTicket(t, c.style, c.now), "status": 201, "msg": "SupportTicket stored successfully"})
}

func (s *Server) deleteTicket(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.ticketByID(c)
	if err != nil {
		c.fail(err)
		return
	}
	s.deleteLocked(t.ID)
	c.json(http.StatusOK, map[string]any{"msg": "SupportTicket deleted successfully", "status": 200})
}

var ticketSorts = map[string]func(a, b *Ticket) int{
	"created_at": func(a, b *Ticket) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"updated_at": func(a, b *Ticket) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
	"priority":   func(a, b *Ticket) int { return a.Priority - b.Priority },
	"status":     func(a, b *Ticket) int { return a.Status - b.Status },
	"id":         func(a, b *Ticket) int { return 0 },
}

func (s *Server) listTickets(c *call) {
	q := c.r.URL.Query()
	v := validation{}
	page, limit := pageParams(q, v, s.opts.DefaultPageSize)
	cmp, desc := sortParams(q, v, "created_at", "desc", ticketSorts)
	f := ticketFilter{search: strings.ToLower(strings.TrimSpace(q.Get("search"))), category: q.Get("category")}
	f.status = codeParam(q, v, "status", statusNames)
	f.priority = codeParam(q, v, "priority", priorityNames)
	f.assignedTo = intParam(q, v, "assigned_to")
	f.clientID = intParam(q, v, "client_id")
	f.from = dateParam(q, v, "date_from")
	f.to = dateParam(q, v, "date_to")
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Ticket
	for _, t := range s.tickets {
		if f.match(t) {
			hits = append(hits, t)
		}
	}
	data, meta := sortedPage(hits, cmp, func(t *Ticket) int { return t.ID }, desc, page, limit,
		func(t *Ticket) ticketJSON { return renderTicket(t, c.style, c.now) })
	c.json(http.StatusOK, map[string]any{"data": data, "status": 200, "meta": meta})
}

type ticketFilter struct {
	search, category     string
	status, priority     *int
	assignedTo, clientID *int
	from, to             *time.Time
}

func (f ticketFilter) match(t *Ticket) bool {
	switch {
	case f.status != nil && t.Status != *f.status,
		f.priority != nil && t.Priority != *f.priority,
		f.assignedTo != nil && t.AssignedTo != *f.assignedTo,
		f.clientID != nil && (t.User == nil || t.User.ID != *f.clientID),
		f.category != "" && !strings.EqualFold(f.category, t.Category):
		return false
	}
	day := t.CreatedAt.UTC().Truncate(24 * time.Hour)
	if (f.from != nil && day.Before(*f.from)) || (f.to != nil && day.After(*f.to)) {
		return false
	}
	if f.search == "" {
		return true
	}
	fields := []string{t.Subject, t.Description}
	if t.User != nil {
		fields = append(fields, t.User.Name, t.User.Email)
	}
	for _, s := range fields {
		if strings.Contains(strings.ToLower(s), f.search) {
			return true
		}
	}
	return false
}
