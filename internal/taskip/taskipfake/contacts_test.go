package taskipfake

import (
	"testing"
)

func TestContacts(t *testing.T) {
	s, a, _ := startExamples(t)
	r := a.do("GET", "/contact?search=JOHN@ACME", nil)
	wantStatus(t, r, 200)
	eq(t, r.get("success"), true, "success")
	eq(t, r.get("meta"), map[string]any{"current_page": 1.0, "per_page": 50.0, "total": 1.0, "total_pages": 1.0}, "meta")
	eq(t, r.get("data.0"), map[string]any{"id": 15.0, "name": "John Smith", "email": "john@acme.com", "phone": "+1-555-0115",
		"company_id": 3.0, "company_name": "Acme Corp", "position": "IT Manager", "address": nil, "notes": nil,
		"status": "active", "created_at": "2023-11-17T10:30:00Z", "updated_at": "2023-11-17T10:30:00Z"}, "contact")
	r = a.do("GET", "/contact?sort=name&order=desc", nil)
	eq(t, listIDs(r), []int{22, 15, 18}, "sorted by name desc")
	r = a.do("GET", "/contact?search=davis", nil)
	eq(t, listIDs(r), []int{18}, "search by name")
	fields := wantError(t, a.do("GET", "/contact?sort=phone", nil), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"sort"}, "bad sort")

	c := a.do("POST", "/contact", map[string]any{"name": "Lena Park", "email": "lena@acme.com", "phone": "+1-555-0199",
		"company_id": 3, "position": "CTO", "status": "active"})
	wantStatus(t, c, 201)
	eq(t, []any{c.get("success"), c.str("message"), c.num("data.id"), c.str("data.company_name")},
		[]any{true, "Contact created successfully", 23, "Acme Corp"}, "created")
	eq(t, s.Contacts()[3].Email, "lena@acme.com", "stored")
	wantError(t, a.do("POST", "/contact", map[string]any{"name": "Dup", "email": "LENA@acme.com"}), 409, "Conflict")
	fields = wantError(t, a.do("POST", "/contact", map[string]any{"email": "not-an-email", "status": "gone"}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"email", "name", "status"}, "validation")

	g := a.do("GET", "/contact/18", nil)
	eq(t, []any{g.get("success"), g.str("data.email")}, []any{true, "emma@startup.com"}, "get")
	if _, ok := g.get("message").(string); !ok {
		t.Error("message missing")
	}
	wantError(t, a.do("GET", "/contact/999", nil), 404, "Not Found")
	wantError(t, a.do("GET", "/contact/abc", nil), 404, "Not Found")

	// A new contact is usable as a ticket's customer at once.
	tk := a.do("POST", "/support-ticket", map[string]any{"subject": "s", "priority": 1, "user_id": 23})
	eq(t, tk.str("data.user.name"), "Lena Park", "user_id")
}

func TestTeamMembers(t *testing.T) {
	_, a, _ := startExamples(t)
	r := a.do("GET", "/team-member?search=david@COMPANY", nil)
	wantStatus(t, r, 200)
	eq(t, r.get("data.0"), map[string]any{"id": 8.0, "name": "David Chen", "email": "david@company.com", "username": "david",
		"role": "agent", "department": "Engineering", "position": "Email Systems Specialist", "status": "active",
		"timezone": "UTC", "created_at": "2023-10-18T10:30:00Z"}, "member")
	eq(t, listIDs(a.do("GET", "/team-member?role=AGENT&department=support", nil)), []int{5, 7}, "role and department")
	eq(t, listIDs(a.do("GET", "/team-member?status=inactive", nil)), []int(nil), "status")
	eq(t, listIDs(a.do("GET", "/team-member?limit=2&page=2", nil)), []int{7, 8}, "paging")
	fields := wantError(t, a.do("GET", "/team-member?status=asleep", nil), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"status"}, "bad status")
	g := a.do("GET", "/team-member/5", nil)
	eq(t, []any{g.get("success"), g.str("data.name")}, []any{true, "Support Agent"}, "get")
	wantError(t, a.do("GET", "/team-member/6", nil), 404, "Not Found")
}
