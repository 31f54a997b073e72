package taskipfake

import (
	"testing"
	"time"
)

func TestPriorityAndStatusByUUID(t *testing.T) {
	s, a, clk := startExamples(t)
	u := exampleUUID(45)
	clk.Advance(time.Minute)
	r := a.do("POST", "/support-ticket/"+u+"/priority", map[string]any{"priority": 4})
	wantStatus(t, r, 200)
	eq(t, []any{r.str("msg"), r.num("status"), r.num("data.priority"), r.str("data.updated_at")},
		[]any{"Priority updated successfully", 200, 4, "2024-01-16T10:31:00Z"}, "priority")
	fields := wantError(t, a.do("POST", "/support-ticket/"+u+"/priority", map[string]any{}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"priority"}, "required")

	r = a.do("POST", "/support-ticket/status-update/"+u, map[string]any{"status": 2, "resolution_notes": "Relay fixed."})
	wantStatus(t, r, 200)
	eq(t, []any{r.str("msg"), r.num("data.status"), r.str("data.resolution_notes")},
		[]any{"Status updated successfully", 2, "Relay fixed."}, "status")
	tk, _ := s.Ticket(45)
	eq(t, tk.ResolvedAt, clk.Now(), "resolution time recorded")
	fields = wantError(t, a.do("POST", "/support-ticket/status-update/"+u, map[string]any{"status": "finished"}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"status"}, "invalid status")
	wantError(t, a.do("POST", "/support-ticket/status-update/"+newUUID(), map[string]any{"status": 1}), 404, "Not Found")
}

func TestLegacyStatusUpdate(t *testing.T) {
	_, a, _ := startExamples(t)
	r := a.do("POST", "/ticket/45/status-update", map[string]any{"status": "resolved",
		"resolution_notes": "Email notification system has been fixed.", "notify_client": true})
	wantStatus(t, r, 200)
	eq(t, r.body, map[string]any{"success": true, "message": "Ticket status updated successfully", "data": map[string]any{
		"ticket_id": 45.0, "old_status": "in_progress", "new_status": "resolved",
		"resolution_notes":       "Email notification system has been fixed.",
		"actual_resolution_time": "2024-01-16T10:30:00Z", "updated_at": "2024-01-16T10:30:00Z",
	}}, "body")
	r = a.do("POST", "/ticket/45/status-update", map[string]any{"status": 0})
	eq(t, []any{r.str("data.old_status"), r.str("data.new_status"), r.get("data.actual_resolution_time")},
		[]any{"resolved", "open", nil}, "reopen clears resolution time")
	eq(t, r.str("data.updated_at"), "2024-01-16T10:30:01Z", "monotonic under a frozen clock")
	fields := wantError(t, a.do("POST", "/ticket/45/status-update", map[string]any{"notify_client": "maybe"}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"notify_client", "status"}, "fields")
}

func TestAssign(t *testing.T) {
	s, a, _ := startExamples(t)
	r := a.do("POST", "/ticket/45/assign", map[string]any{"assigned_to": 8,
		"reason": "Reassigning to specialist for email server issues", "notify_assignee": true})
	wantStatus(t, r, 200)
	eq(t, r.body, map[string]any{"success": true, "message": "Ticket assigned successfully", "data": map[string]any{
		"ticket_id": 45.0, "previous_assignee": "Sarah Johnson", "new_assignee": "David Chen",
		"assigned_at": "2024-01-16T10:30:00Z", "reason": "Reassigning to specialist for email server issues",
	}}, "body")
	tk, _ := s.Ticket(45)
	eq(t, []any{tk.AssignedTo, tk.AssignedToName}, []any{8, "David Chen"}, "stored")
	r = a.do("POST", "/ticket/1/assign", map[string]any{"assigned_to": "5"})
	eq(t, []any{r.get("data.previous_assignee"), r.get("data.reason")}, []any{nil, nil}, "first assignment")
	g := a.do("GET", "/support-ticket/1", nil)
	eq(t, []any{g.num("assigned_to"), g.str("assigned_to_name")}, []any{5, "Support Agent"}, "ticket shows assignee")

	fields := wantError(t, a.do("POST", "/ticket/45/assign", map[string]any{"assigned_to": 15}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"assigned_to"}, "a contact is not a team member")
	fields = wantError(t, a.do("POST", "/ticket/45/assign", map[string]any{}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"assigned_to"}, "required")
	wantError(t, a.do("POST", "/ticket/999/assign", map[string]any{"assigned_to": 8}), 404, "Not Found")
}

func TestBulkActions(t *testing.T) {
	s, a, _ := startExamples(t)
	do := func(body map[string]any) resp { return a.do("POST", "/support-ticket/bulk-actions", body) }

	r := do(map[string]any{"ticket_ids": []any{1, "45"}, "action": "status_update", "parameters": map[string]any{"status": "resolved", "resolution_notes": "done"}})
	wantStatus(t, r, 200)
	eq(t, r.body, map[string]any{"msg": "SupportTicket status updated successfully"}, "status_update")
	for _, id := range []int{1, 45} {
		tk, _ := s.Ticket(id)
		eq(t, []any{tk.Status, tk.ResolutionNotes}, []any{StatusResolved, "done"}, "bulk status")
	}
	wantStatus(t, do(map[string]any{"ticket_ids": []int{1, 2}, "action": "assign", "parameters": map[string]any{"assigned_to": 7}}), 200)
	tk, _ := s.Ticket(2)
	eq(t, tk.AssignedToName, "Sarah Johnson", "bulk assign")
	wantStatus(t, do(map[string]any{"ticket_ids": []int{1}, "action": "add_tags", "parameters": map[string]any{"tags": []string{"vip", "email"}}}), 200)
	wantStatus(t, do(map[string]any{"ticket_ids": []int{1}, "action": "add_tags", "parameters": map[string]any{"tags": []string{"vip"}}}), 200)
	tk, _ = s.Ticket(1)
	eq(t, tk.Tags, []string{"vip", "email"}, "tags deduplicated")

	// All or nothing: one unknown id changes nothing.
	wantError(t, do(map[string]any{"ticket_ids": []int{2, 999}, "action": "delete"}), 404, "Not Found")
	if _, ok := s.Ticket(2); !ok {
		t.Fatal("ticket 2 deleted despite 404")
	}
	// A closed ticket refuses everything but reopening (or deletion).
	wantError(t, do(map[string]any{"ticket_ids": []int{2, 3}, "action": "add_tags", "parameters": map[string]any{"tags": []string{"x"}}}), 409, "Conflict")
	tk, _ = s.Ticket(2)
	eq(t, tk.Tags, []string{}, "no partial apply")
	wantStatus(t, do(map[string]any{"ticket_ids": []int{3}, "action": "status_update", "parameters": map[string]any{"status": 1}}), 200)

	r = do(map[string]any{"ticket_ids": []int{2, 3}, "action": "delete"})
	eq(t, r.body, map[string]any{"msg": "SupportTicket deleted successfully"}, "delete")
	eq(t, len(s.Tickets()), 2, "deleted")

	for _, tc := range []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"no ids", map[string]any{"ticket_ids": []int{}, "action": "delete"}, []string{"ticket_ids"}},
		{"missing all", map[string]any{}, []string{"action", "ticket_ids"}},
		{"unknown action", map[string]any{"ticket_ids": []int{1}, "action": "archive"}, []string{"action"}},
		{"status missing", map[string]any{"ticket_ids": []int{1}, "action": "status_update"}, []string{"parameters.status"}},
		{"status bad", map[string]any{"ticket_ids": []int{1}, "action": "status_update", "parameters": map[string]any{"status": "gone"}}, []string{"parameters.status"}},
		{"assignee unknown", map[string]any{"ticket_ids": []int{1}, "action": "assign", "parameters": map[string]any{"assigned_to": 99}}, []string{"parameters.assigned_to"}},
		{"no tags", map[string]any{"ticket_ids": []int{1}, "action": "add_tags", "parameters": map[string]any{"tags": []string{}}}, []string{"parameters.tags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := wantError(t, do(tc.body), 422, "Validation Error")
			eq(t, fieldNames(fields), tc.fields, "fields")
		})
	}
}

// Every modifying route on a closed ticket is 409 unless it reopens.
func TestClosedTicketConflicts(t *testing.T) {
	s, a, _ := startExamples(t)
	u := exampleUUID(3)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/support-ticket/reply/" + u, `{"description":"hi"}`},
		{"POST", "/support-ticket/reply/" + u, `{"description":"hi","status":"closed"}`},
		{"POST", "/support-ticket/" + u + "/note-store", `{"note":"n"}`},
		{"POST", "/support-ticket/" + u + "/priority", `{"priority":4}`},
		{"POST", "/support-ticket/status-update/" + u, `{"status":3}`},
		{"POST", "/ticket/3/status-update", `{"status":"closed"}`},
		{"POST", "/ticket/3/assign", `{"assigned_to":8}`},
		{"POST", "/ticket/3/add-reply", `{"message":"hi"}`},
		{"PUT", "/support-ticket/3", `{"priority":4}`},
	} {
		wantError(t, a.do(tc.method, tc.path, tc.body), 409, "Conflict")
	}
	s.mu.Lock()
	s.notes[3] = append(s.notes[3], Note{ID: 1, TicketID: 3, Note: "x"})
	s.mu.Unlock()
	wantError(t, a.do("DELETE", "/support-ticket/"+u+"/note-delete/1", nil), 409, "Conflict")
	before, _ := s.Ticket(3)
	if before.ReplyCount != 0 || before.Priority != PriorityLow {
		t.Fatalf("closed ticket changed: %+v", before)
	}

	r := a.do("POST", "/support-ticket/reply/"+u, map[string]any{"description": "Reopening", "status": "open"})
	wantStatus(t, r, 201)
	tk, _ := s.Ticket(3)
	eq(t, []any{tk.Status, tk.ReplyCount}, []any{StatusOpen, 1}, "reply reopened")
}
