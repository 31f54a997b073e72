package taskipfake

import (
	"net/http"
	"net/mail"
	"slices"
	"strings"
)

type contactJSON struct {
	ID          int     `json:"id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	Phone       *string `json:"phone"`
	CompanyID   *int    `json:"company_id"`
	CompanyName *string `json:"company_name"`
	Position    *string `json:"position"`
	Address     *string `json:"address"`
	Notes       *string `json:"notes"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func renderContact(c *Contact) contactJSON {
	out := contactJSON{ID: c.ID, Name: c.Name, Email: c.Email, Phone: nullable(c.Phone),
		CompanyName: nullable(c.CompanyName), Position: nullable(c.Position), Address: nullable(c.Address),
		Notes: nullable(c.Notes), Status: c.Status, CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt)}
	if c.CompanyID != 0 {
		id := c.CompanyID
		out.CompanyID = &id
	}
	return out
}

type teamMemberJSON struct {
	ID         int     `json:"id"`
	Name       string  `json:"name"`
	Email      string  `json:"email"`
	Username   string  `json:"username"`
	Role       string  `json:"role"`
	Department *string `json:"department"`
	Position   *string `json:"position"`
	Status     string  `json:"status"`
	Timezone   string  `json:"timezone"`
	CreatedAt  string  `json:"created_at"`
}

func renderTeamMember(m *TeamMember) teamMemberJSON {
	return teamMemberJSON{ID: m.ID, Name: m.Name, Email: m.Email, Username: m.Username, Role: m.Role,
		Department: nullable(m.Department), Position: nullable(m.Position), Status: m.Status,
		Timezone: m.Timezone, CreatedAt: rfc3339(m.CreatedAt)}
}

func containsFold(haystacks []string, needle string) bool {
	for _, h := range haystacks {
		if strings.Contains(strings.ToLower(h), needle) {
			return true
		}
	}
	return false
}

var contactSorts = map[string]func(a, b *Contact) int{
	"name":       func(a, b *Contact) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) },
	"email":      func(a, b *Contact) int { return strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)) },
	"created_at": func(a, b *Contact) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"id":         func(a, b *Contact) int { return 0 },
}

var memberSorts = map[string]func(a, b *TeamMember) int{
	"name":       func(a, b *TeamMember) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) },
	"email":      func(a, b *TeamMember) int { return strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)) },
	"created_at": func(a, b *TeamMember) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"id":         func(a, b *TeamMember) int { return 0 },
}

func (s *Server) listContacts(c *call) {
	q := c.r.URL.Query()
	v := validation{}
	page, limit := pageParams(q, v, s.opts.DefaultPageSize)
	cmp, desc := sortParams(q, v, "created_at", "asc", contactSorts)
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("search")))
	// A read lock, released before the answer is written: searches run
	// side by side and a write waits for none of them to be sent.
	s.mu.RLock()
	var hits []*Contact
	for _, f := range s.contactSearch {
		if search == "" || strings.Contains(f.name, search) || strings.Contains(f.email, search) {
			hits = append(hits, f.ct)
		}
	}
	data, meta := sortedPage(hits, cmp, func(c *Contact) int { return c.ID }, desc, page, limit, renderContact)
	s.mu.RUnlock()
	c.json(http.StatusOK, map[string]any{"success": true, "data": data, "meta": meta})
}

func (s *Server) getContact(c *call) {
	id, _ := pathID(c, "id")
	s.mu.Lock()
	defer s.mu.Unlock()
	ct, ok := s.contacts[id]
	if !ok {
		c.fail(errNotFound("Contact"))
		return
	}
	c.json(http.StatusOK, map[string]any{"success": true, "message": "Contact retrieved successfully", "data": renderContact(ct)})
}

func (s *Server) createContact(c *call) {
	b, err := c.readBody()
	if err != nil {
		c.fail(err)
		return
	}
	v := validation{}
	in := Contact{Status: "active"}
	in.Name = requiredText(b, v, "name")
	in.Email = strings.TrimSpace(requiredText(b, v, "email"))
	if v["email"] == nil {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
			v.add("email", "The email must be a valid email address.")
		}
	}
	for k, dst := range map[string]*string{"phone": &in.Phone, "position": &in.Position, "address": &in.Address, "notes": &in.Notes} {
		*dst, _ = b.str(v, k)
	}
	in.CompanyID, _ = b.integer(v, "company_id")
	if st, ok := b.str(v, "status"); ok {
		if st = strings.ToLower(st); st != "active" && st != "inactive" {
			v.invalid("status")
		}
		in.Status = st
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ct := range s.contacts {
		if strings.EqualFold(ct.Email, in.Email) {
			c.fail(&apiError{status: http.StatusConflict, msg: "A contact with this email already exists"})
			return
		}
		if in.CompanyID != 0 && ct.CompanyID == in.CompanyID {
			in.CompanyName = ct.CompanyName
		}
	}
	in.CreatedAt, in.UpdatedAt = c.now, c.now
	out := s.storeContact(in)
	c.json(http.StatusCreated, map[string]any{"success": true, "message": "Contact created successfully", "data": renderContact(&out)})
}

var memberStatuses = []string{"active", "inactive", "pending"}

func (s *Server) listTeamMembers(c *call) {
	q := c.r.URL.Query()
	v := validation{}
	page, limit := pageParams(q, v, s.opts.DefaultPageSize)
	cmp, desc := sortParams(q, v, "created_at", "asc", memberSorts)
	status := strings.ToLower(q.Get("status"))
	if status != "" && !slices.Contains(memberStatuses, status) {
		v.invalid("status")
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("search")))
	role, dept := q.Get("role"), q.Get("department")
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*TeamMember
	for _, m := range s.team {
		switch {
		case search != "" && !containsFold([]string{m.Name, m.Email, m.Username}, search),
			role != "" && !strings.EqualFold(role, m.Role),
			dept != "" && !strings.EqualFold(dept, m.Department),
			status != "" && status != m.Status:
			continue
		}
		hits = append(hits, m)
	}
	data, meta := sortedPage(hits, cmp, func(m *TeamMember) int { return m.ID }, desc, page, limit, renderTeamMember)
	c.json(http.StatusOK, map[string]any{"success": true, "data": data, "meta": meta})
}

func (s *Server) getTeamMember(c *call) {
	id, _ := pathID(c, "id")
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.team[id]
	if !ok {
		c.fail(errNotFound("Team member"))
		return
	}
	c.json(http.StatusOK, map[string]any{"success": true, "message": "Team member retrieved successfully", "data": renderTeamMember(m)})
}
