package taskipfake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

var bulkMessages = map[string]string{
	"delete":        "SupportTicket deleted successfully",
	"status_update": "SupportTicket status updated successfully",
	"assign":        "SupportTicket assigned successfully",
	"add_tags":      "Tags added successfully",
}

// bulkActions is all or nothing: every id and every ticket's state is
// checked before anything changes.
func (s *Server) bulkActions(c *call) {
	b, err := c.readBody()
	if err != nil {
		c.fail(err)
		return
	}
	v := validation{}
	ids, ok := b.intList(v, "ticket_ids")
	if ok && len(ids) == 0 || !ok && v["ticket_ids"] == nil {
		v.required("ticket_ids")
	}
	action, _ := b.str(v, "action")
	action = strings.ToLower(strings.TrimSpace(action))
	if action == "" && v["action"] == nil {
		v.required("action")
	} else if _, known := bulkMessages[action]; !known && v["action"] == nil {
		v.invalid("action")
	}
	params, _ := b.object(v, "parameters")
	pv := validation{}
	var status, assignee int
	var notes string
	var tags []string
	switch action {
	case "status_update":
		var has bool
		if status, has = params.code(pv, "status", statusNames); !has && pv["status"] == nil {
			pv.required("status")
		}
		notes, _ = params.str(pv, "resolution_notes")
	case "assign":
		var has bool
		if assignee, has = params.integer(pv, "assigned_to"); !has && pv["assigned_to"] == nil {
			pv.required("assigned_to")
		}
	case "add_tags":
		var has bool
		if tags, has = params.strList(pv, "tags"); (!has || len(tags) == 0) && pv["tags"] == nil {
			pv.required("tags")
		}
	}
	for k, msgs := range pv {
		for _, m := range msgs {
			v.add("parameters."+k, strings.Replace(m, human(k), "parameters."+human(k), 1))
		}
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if action == "assign" && s.team[assignee] == nil {
		c.fail(errInvalid(validation{"parameters.assigned_to": {"The selected parameters.assigned to is invalid."}}))
		return
	}
	for _, id := range ids {
		t := s.tickets[id]
		if t == nil {
			c.fail(errNotFound(fmt.Sprintf("Ticket %d", id)))
			return
		}
		var reopen *int
		if action == "status_update" {
			reopen = &status
		}
		if action != "delete" {
			if err := checkModifiable(t, reopen); err != nil {
				c.fail(err)
				return
			}
		}
	}
	for _, id := range ids {
		t := s.tickets[id]
		if t == nil { // listed twice and already deleted
			continue
		}
		switch action {
		case "delete":
			s.deleteLocked(id)
			continue
		case "status_update":
			setStatus(t, status, c.now)
			if notes != "" {
				t.ResolutionNotes = notes
			}
		case "assign":
			t.AssignedTo, t.AssignedToName = assignee, s.team[assignee].Name
		case "add_tags":
			for _, tag := range tags {
				if !slices.Contains(t.Tags, tag) {
					t.Tags = append(t.Tags, tag)
				}
			}
		}
		s.touch(t)
	}
	c.json(http.StatusOK, map[string]any{"msg": bulkMessages[action]})
}

func (s *Server) priorityByUUID(c *call, uuid string) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByUUID(uuid) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	v := validation{}
	p, ok := b.code(v, "priority", priorityNames)
	if !ok && v["priority"] == nil {
		v.required("priority")
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, nil); err != nil {
		c.fail(err)
		return
	}
	if t.Priority != p {
		t.Priority = p
		s.touch(t)
	}
	c.json(http.StatusOK, map[string]any{"msg": "Priority updated successfully", "status": 200,
		"data": renderTicket(t, c.style, c.now)})
}

// statusInput is the body shared by both status-update routes.
func statusInput(b body) (status int, notes *string, err error) {
	v := validation{}
	status, ok := b.code(v, "status", statusNames)
	if !ok && v["status"] == nil {
		v.required("status")
	}
	if s, ok := b.str(v, "resolution_notes"); ok {
		notes = &s
	}
	b.boolean(v, "notify_client")
	return status, notes, v.err()
}

// changeStatus applies a status update to t and reports the old status;
// s.mu is held.
func (s *Server) changeStatus(c *call, t *Ticket, b body) (int, error) {
	status, notes, err := statusInput(b)
	if err != nil {
		return 0, err
	}
	if err := checkModifiable(t, &status); err != nil {
		return 0, err
	}
	old := t.Status
	setStatus(t, status, c.now)
	if notes != nil {
		t.ResolutionNotes = *notes
	}
	s.touch(t)
	return old, nil
}

func (s *Server) statusByUUID(c *call, uuid string) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByUUID(uuid) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	_, err := s.changeStatus(c, t, b)
	if err != nil {
		c.fail(err)
		return
	}
	c.json(http.StatusOK, map[string]any{"msg": "Status updated successfully", "status": 200,
		"data": renderTicket(t, c.style, c.now)})
}

func (s *Server) legacyStatusUpdate(c *call) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByID(c) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	old, err := s.changeStatus(c, t, b)
	if err != nil {
		c.fail(err)
		return
	}
	c.json(http.StatusOK, map[string]any{"success": true, "message": "Ticket status updated successfully",
		"data": map[string]any{
			"ticket_id":              t.ID,
			"old_status":             StatusName(old),
			"new_status":             StatusName(t.Status),
			"resolution_notes":       nullable(t.ResolutionNotes),
			"actual_resolution_time": rfc3339OrNull(t.ResolvedAt),
			"updated_at":             rfc3339(t.UpdatedAt),
		}})
}

func (s *Server) assign(c *call) {
	b, t, ok := s.lockTicket(c, func() (*Ticket, error) { return s.ticketByID(c) })
	defer s.mu.Unlock()
	if !ok {
		return
	}
	v := validation{}
	id, ok := b.integer(v, "assigned_to")
	if !ok && v["assigned_to"] == nil {
		v.required("assigned_to")
	} else if ok && s.team[id] == nil {
		v.invalid("assigned_to")
	}
	reason, _ := b.str(v, "reason")
	b.boolean(v, "notify_assignee")
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	if err := checkModifiable(t, nil); err != nil {
		c.fail(err)
		return
	}
	previous := nullable(t.AssignedToName)
	if t.AssignedTo == 0 {
		previous = nil
	}
	t.AssignedTo, t.AssignedToName = id, s.team[id].Name
	s.touch(t)
	c.json(http.StatusOK, map[string]any{"success": true, "message": "Ticket assigned successfully",
		"data": map[string]any{
			"ticket_id":         t.ID,
			"previous_assignee": previous,
			"new_assignee":      t.AssignedToName,
			"assigned_at":       rfc3339(c.now),
			"reason":            nullable(reason),
		}})
}
