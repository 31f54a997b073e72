package taskipfake

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCreateAndGetTicket(t *testing.T) {
	s, a, clk := startExamples(t)
	r := a.do("POST", "/support-ticket", map[string]any{
		"subject": "Email Notifications Not Working", "priority": 3, "status": 0,
		"description": "Customer reports that email notifications are not received.",
		"attachment":  101, "created_by": 1, "user_id": 18,
	})
	wantStatus(t, r, 201)
	eq(t, r.num("status"), 201, "status")
	eq(t, r.str("msg"), "SupportTicket stored successfully", "msg")
	eq(t, r.num("data.id"), 46, "id follows the reference")
	eq(t, r.get("data.user"), map[string]any{"id": 18.0, "name": "Emma Davis", "email": "emma@startup.com"}, "user")
	eq(t, r.get("data.created_by"), map[string]any{"id": 1.0, "name": "Admin User", "email": "admin@taskip.com"}, "created_by")
	eq(t, r.str("data.attachment.name"), "screenshot.pdf", "attachment")
	eq(t, []any{r.num("data.priority"), r.num("data.status"), r.num("data.reply_count")}, []any{3, 0, 0}, "codes")
	eq(t, []any{r.str("data.createAt"), r.str("data.date"), r.str("data.time")}, []any{"just now", "16-Jan-2024", "10:30AM"}, "human dates")
	eq(t, []any{r.str("data.created_at"), r.str("data.updated_at")}, []any{"2024-01-16T10:30:00Z", "2024-01-16T10:30:00Z"}, "timestamps")
	eq(t, []any{r.get("data.assigned_to"), r.get("data.assigned_to_name"), r.get("data.tags")}, []any{nil, nil, []any{}}, "unassigned")
	uuid := r.str("data.uuid")
	if len(uuid) != 36 || uuid[14] != '4' || !strings.ContainsRune("89ab", rune(uuid[19])) {
		t.Errorf("uuid %q is not v4", uuid)
	}

	clk.Advance(3 * time.Hour)
	g := a.do("GET", "/support-ticket/46", nil)
	wantStatus(t, g, 200)
	eq(t, g.get("data"), missing{}, "bare object, no envelope")
	eq(t, []any{g.num("id"), g.str("uuid"), g.str("createAt")}, []any{46, uuid, "3 hours ago"}, "get")
	eq(t, []any{g.list("replies"), g.list("notes")}, []any{[]any{}, []any{}}, "empty thread")
	if tk, ok := s.Ticket(46); !ok || tk.User.ID != 18 {
		t.Errorf("stored ticket %+v", tk)
	}
	wantError(t, a.do("GET", "/support-ticket/999", nil), 404, "Not Found")
}

func TestCreateTicketValidation(t *testing.T) {
	_, a, _ := startExamples(t)
	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"empty body", ``, []string{"priority", "subject"}},
		{"blank subject", `{"subject":"  ","priority":1}`, []string{"subject"}},
		{"subject too long", `{"subject":"` + strings.Repeat("é", 192) + `","priority":1}`, []string{"subject"}},
		{"unknown priority", `{"subject":"s","priority":"critical"}`, []string{"priority"}},
		{"priority out of range", `{"subject":"s","priority":5}`, []string{"priority"}},
		{"fractional priority", `{"subject":"s","priority":1.5}`, []string{"priority"}},
		{"bad status", `{"subject":"s","priority":1,"status":"done"}`, []string{"status"}},
		{"unknown user", `{"subject":"s","priority":1,"user_id":999}`, []string{"user_id"}},
		{"unknown creator", `{"subject":"s","priority":1,"created_by":999}`, []string{"created_by"}},
		{"user id not a number", `{"subject":"s","priority":1,"user_id":"abc"}`, []string{"user_id"}},
		{"subject not a string", `{"subject":5,"priority":1}`, []string{"subject"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := wantError(t, a.do("POST", "/support-ticket", tc.body), 422, "Validation Error")
			eq(t, fieldNames(fields), tc.fields, "fields")
			for _, f := range tc.fields {
				if msgs, _ := fields[f].([]any); len(msgs) == 0 {
					t.Errorf("no message for %s", f)
				}
			}
		})
	}
	eq(t, len(strings.Repeat("é", 191)) > 191, true, "191 counts characters, not bytes")
	wantStatus(t, a.do("POST", "/support-ticket", `{"subject":"`+strings.Repeat("é", 191)+`","priority":1}`), 201)
}

func TestCreateAcceptsLooseCodes(t *testing.T) {
	_, a, _ := startExamples(t)
	for _, tc := range []struct {
		priority, status any
		wantP, wantS     int
	}{
		{3, 1, 3, 1}, {"3", "1", 3, 1}, {"HIGH", "In Progress", 3, 1}, {"urgent", "in-progress", 4, 1},
		{" Normal ", "IN_PROGRESS", 1, 1}, {0, "pending", 0, 4}, {"medium", "Resolved", 2, 2},
	} {
		r := a.do("POST", "/support-ticket", map[string]any{"subject": "s", "priority": tc.priority, "status": tc.status, "user_id": "15"})
		wantStatus(t, r, 201)
		eq(t, []int{r.num("data.priority"), r.num("data.status"), r.num("data.user.id")}, []int{tc.wantP, tc.wantS, 15}, fmt.Sprint(tc))
	}
}

func TestUpdateTicket(t *testing.T) {
	s, a, clk := startExamples(t)
	before, _ := s.Ticket(45)
	clk.Advance(time.Minute)
	r := a.do("PUT", "/support-ticket/45", map[string]any{"subject": "Email Notifications Not Working - URGENT", "priority": 4, "status": 1})
	wantStatus(t, r, 200)
	eq(t, []any{r.num("status"), r.str("msg")}, []any{201, "SupportTicket stored successfully"}, "envelope")
	eq(t, []any{r.str("data.subject"), r.num("data.priority"), r.str("data.description")},
		[]any{"Email Notifications Not Working - URGENT", 4, before.Description}, "partial update keeps the rest")
	eq(t, r.str("data.updated_at"), "2024-01-16T10:31:00Z", "updated_at bumped")

	// Nothing changed: updated_at stays.
	clk.Advance(time.Minute)
	eq(t, a.do("PUT", "/support-ticket/45", map[string]any{"priority": "urgent"}).str("data.updated_at"), "2024-01-16T10:31:00Z", "no-op")
	wantError(t, a.do("PUT", "/support-ticket/999", map[string]any{"priority": 1}), 404, "Not Found")
	fields := wantError(t, a.do("PUT", "/support-ticket/45", map[string]any{"subject": "", "user_id": 999}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"subject"}, "format errors first")
	fields = wantError(t, a.do("PUT", "/support-ticket/45", map[string]any{"user_id": 999}), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"user_id"}, "reference errors")
}

func TestClosedTicketOnlyReopens(t *testing.T) {
	s, a, _ := startExamples(t)
	wantError(t, a.do("PUT", "/support-ticket/3", map[string]any{"subject": "new"}), 409, "Conflict")
	wantError(t, a.do("PUT", "/support-ticket/3", map[string]any{"status": "closed", "subject": "new"}), 409, "Conflict")
	r := a.do("PUT", "/support-ticket/3", map[string]any{"status": "open", "subject": "new"})
	wantStatus(t, r, 200)
	tk, _ := s.Ticket(3)
	eq(t, []any{tk.Status, tk.Subject, tk.ResolvedAt.IsZero()}, []any{StatusOpen, "new", true}, "reopened")
}

func TestDeleteTicket(t *testing.T) {
	s, a, _ := startExamples(t)
	r := a.do("DELETE", "/support-ticket/45", nil)
	wantStatus(t, r, 200)
	eq(t, r.body, map[string]any{"msg": "SupportTicket deleted successfully", "status": 200.0}, "body")
	wantError(t, a.do("GET", "/support-ticket/45", nil), 404, "Not Found")
	wantError(t, a.do("DELETE", "/support-ticket/45", nil), 404, "Not Found")
	eq(t, []int{len(s.Replies(45)), len(s.Notes(45)), len(s.Attachments(45))}, []int{0, 0, 0}, "thread removed")
	wantStatus(t, a.do("DELETE", "/support-ticket/3", nil), 200) // closed tickets may be deleted
}

func listIDs(r resp) []int {
	var ids []int
	for i := range r.list("data") {
		ids = append(ids, r.num(fmt.Sprintf("data.%d.id", i)))
	}
	return ids
}

func TestListFilters(t *testing.T) {
	_, a, _ := startExamples(t)
	for _, tc := range []struct {
		query string
		want  []int
	}{
		{"", []int{1, 45, 2, 3}},
		{"status=in_progress", []int{1, 45}},
		{"status=In%20Progress&priority=3", []int{1, 45}},
		{"status=2", []int{2}},
		{"priority=low", []int{3}},
		{"assigned_to=7", []int{45}},
		{"client_id=15&sort=id&order=asc", []int{1, 3}},
		{"category=technical%20support", []int{1, 45}},
		{"search=EMMA@startup", []int{45}},
		{"search=csv%20EXPORT", []int{2}},
		{"search=mike%20wilson", []int{2}},
		{"date_from=2024-01-15&date_to=2024-01-15", []int{2}},
		{"date_from=2024-01-16", []int{1, 45}},
		{"date_to=2024-01-06", []int{3}},
		{"sort=priority&order=asc", []int{3, 2, 1, 45}},
		{"sort=updated_at", []int{1, 2, 45, 3}},
		{"sort=status&order=desc", []int{3, 2, 45, 1}},
		{"search=nothing-matches", nil},
	} {
		r := a.do("GET", "/support-ticket?"+tc.query, nil)
		wantStatus(t, r, 200)
		eq(t, listIDs(r), tc.want, tc.query)
		eq(t, r.num("status"), 200, "status")
		eq(t, r.num("meta.total"), len(tc.want), tc.query+" total")
	}
	for _, tc := range []struct {
		query  string
		fields []string
	}{
		{"sort=title", []string{"sort"}},
		{"order=up", []string{"order"}},
		{"status=done&priority=extreme", []string{"priority", "status"}},
		{"page=0&limit=x", []string{"limit", "page"}},
		{"date_from=16-01-2024&assigned_to=sarah", []string{"assigned_to", "date_from"}},
	} {
		fields := wantError(t, a.do("GET", "/support-ticket?"+tc.query, nil), 422, "Validation Error")
		eq(t, fieldNames(fields), tc.fields, tc.query)
	}
}

func TestListPagingStableWithTies(t *testing.T) {
	clk := newClock()
	s, a := start(t, Options{Now: clk.Now})
	for i := 0; i < 23; i++ {
		s.SeedTicket(Ticket{Subject: fmt.Sprint("t", i), Priority: i % 2}) // all share created_at
	}
	for _, order := range []string{"asc", "desc"} {
		var all []int
		for page := 1; ; page++ {
			r := a.do("GET", fmt.Sprintf("/support-ticket?sort=created_at&order=%s&limit=5&page=%d", order, page), nil)
			eq(t, r.get("meta"), map[string]any{"current_page": float64(page), "per_page": 5.0, "total": 23.0, "total_pages": 5.0}, "meta")
			ids := listIDs(r)
			if len(ids) == 0 {
				break
			}
			all = append(all, ids...)
		}
		if len(all) != 23 {
			t.Fatalf("%s: %d ids across pages", order, len(all))
		}
		for i := 1; i < len(all); i++ {
			if (order == "asc") != (all[i] > all[i-1]) {
				t.Fatalf("%s: not ordered by id on ties: %v", order, all)
			}
		}
	}
	// Secondary order within equal priority is by id too.
	r := a.do("GET", "/support-ticket?sort=priority&order=desc&limit=3", nil)
	eq(t, listIDs(r), []int{22, 20, 18}, "priority desc, id desc")
	r = a.do("GET", "/support-ticket?limit=500", nil)
	eq(t, []int{r.num("meta.per_page"), len(r.list("data"))}, []int{100, 23}, "limit clamped")
}

func TestDefaultPageSize(t *testing.T) {
	s, a := start(t, Options{DefaultPageSize: 2})
	for i := 0; i < 3; i++ {
		s.SeedTicket(Ticket{Subject: "x"})
	}
	r := a.do("GET", "/support-ticket", nil)
	eq(t, []int{len(r.list("data")), r.num("meta.total_pages")}, []int{2, 2}, "default page size")
	r = a.do("GET", "/support-ticket?search="+url.QueryEscape("zzz"), nil)
	eq(t, []int{r.num("meta.total"), r.num("meta.total_pages")}, []int{0, 1}, "empty result")
}
