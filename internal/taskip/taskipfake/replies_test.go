package taskipfake

import (
	"strconv"
	"testing"
	"time"
)

func TestReplyByUUID(t *testing.T) {
	s, a, clk := startExamples(t)
	u := exampleUUID(45)
	clk.Advance(time.Hour)
	r := a.do("POST", "/support-ticket/reply/"+u, map[string]any{"status": 1,
		"description": "Thank you for contacting us.", "attachment": 123})
	wantStatus(t, r, 201)
	eq(t, []any{r.str("msg"), r.num("status")}, []any{"Reply added successfully", 201}, "envelope")
	eq(t, r.get("reply.user"), map[string]any{"id": 5.0, "name": "Support Agent", "email": "agent@company.com"}, "api user")
	eq(t, []any{r.str("reply.description"), r.str("reply.attachment.name"), r.str("reply.createAt"), r.str("reply.date"), r.str("reply.time")},
		[]any{"Thank you for contacting us.", "solution_guide.pdf", "just now", "16-Jan-2024", "11:30AM"}, "reply")
	tk, _ := s.Ticket(45)
	eq(t, []any{tk.ReplyCount, tk.UpdatedAt, tk.Status}, []any{3, clk.Now(), StatusInProgress}, "ticket bumped")

	r = a.do("POST", "/support-ticket/reply/"+u, map[string]any{"description": "Still broken", "author_type": "client", "status": "pending"})
	eq(t, r.str("reply.user.name"), "Emma Davis", "client reply is the customer's")
	r = a.do("POST", "/support-ticket/reply/"+u, map[string]any{"description": "internal", "is_private": true})
	wantStatus(t, r, 201)
	replies := s.Replies(45)
	last := replies[len(replies)-1]
	eq(t, []any{len(replies), last.IsPrivate, last.AuthorType, replies[3].AuthorType}, []any{5, true, "team_member", "client"}, "stored")
	tk, _ = s.Ticket(45)
	eq(t, tk.Status, StatusPending, "status from reply")

	g := a.do("GET", "/support-ticket/45", nil)
	eq(t, g.num("reply_count"), 5, "reply_count")
	eq(t, g.get("replies.4"), map[string]any{"id": float64(last.ID), "message": "internal", "author": "Support Agent",
		"author_type": "team_member", "is_private": true, "created_at": "2024-01-16T11:30:00Z"}, "reply object")
	eq(t, g.str("notes.0.author"), "Sarah Johnson", "seeded note")

	for _, tc := range []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{}, []string{"description"}},
		{map[string]any{"description": " "}, []string{"description"}},
		{map[string]any{"description": "x", "status": 9, "author_type": "bot", "is_private": "perhaps"}, []string{"author_type", "is_private", "status"}},
	} {
		fields := wantError(t, a.do("POST", "/support-ticket/reply/"+u, tc.body), 422, "Validation Error")
		eq(t, fieldNames(fields), tc.fields, "fields")
	}
	wantError(t, a.do("POST", "/support-ticket/reply/"+newUUID(), map[string]any{"description": "x"}), 404, "Not Found")
}

func TestLegacyAddReply(t *testing.T) {
	s, a, _ := startExamples(t)
	r := a.do("POST", "/ticket/45/add-reply", map[string]any{"message": "The issue has been resolved.",
		"author_type": "team_member", "is_private": false, "notify_client": true})
	wantStatus(t, r, 201)
	replies := s.Replies(45)
	eq(t, r.body, map[string]any{"success": true, "message": "Reply added successfully", "data": map[string]any{
		"reply_id": float64(replies[2].ID), "ticket_id": 45.0, "message": "The issue has been resolved.",
		"author": "Support Agent", "author_type": "team_member", "is_private": false, "created_at": "2024-01-16T10:30:00Z",
	}}, "body")
	fields := wantError(t, a.do("POST", "/ticket/45/add-reply", map[string]any{"description": "wrong field"}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"message"}, "fields")
	wantError(t, a.do("POST", "/ticket/999/add-reply", map[string]any{"message": "x"}), 404, "Not Found")
}

func TestNotes(t *testing.T) {
	s, a, clk := startExamples(t)
	u := exampleUUID(1)
	clk.Advance(time.Second)
	r := a.do("POST", "/support-ticket/"+u+"/note-store", map[string]any{"note": "Customer is on the legacy plan."})
	wantStatus(t, r, 201)
	id := r.num("data.id")
	eq(t, r.body, map[string]any{"msg": "Note added successfully", "status": 201.0, "data": map[string]any{
		"id": float64(id), "note": "Customer is on the legacy plan.", "author": "Support Agent", "created_at": "2024-01-16T10:30:01Z",
	}}, "body")
	eq(t, len(s.Notes(1)), 1, "stored")
	tk, _ := s.Ticket(1)
	eq(t, tk.UpdatedAt, clk.Now(), "note bumps updated_at")
	fields := wantError(t, a.do("POST", "/support-ticket/"+u+"/note-store", map[string]any{"text": "x"}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"note"}, "fields")

	// A note of another ticket is not found through this one.
	wantError(t, a.do("DELETE", "/support-ticket/"+exampleUUID(45)+"/note-delete/"+strconv.Itoa(id), nil), 404, "Not Found")
	r = a.do("DELETE", "/support-ticket/"+u+"/note-delete/"+strconv.Itoa(id), nil)
	wantStatus(t, r, 200)
	eq(t, r.body, map[string]any{"msg": "Note deleted successfully", "status": 200.0}, "deleted")
	eq(t, len(s.Notes(1)), 0, "gone")
	wantError(t, a.do("DELETE", "/support-ticket/"+u+"/note-delete/"+strconv.Itoa(id), nil), 404, "Not Found")
	wantError(t, a.do("DELETE", "/support-ticket/1/note-delete/1", nil), 404, "Not Found")
}
