package taskipfake

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestAuth(t *testing.T) {
	_, a := start(t, Options{})
	for _, key := range []string{"", "wrong"} {
		b := *a
		b.key = key
		wantError(t, b.do("GET", "/support-ticket", nil), 401, "Unauthorized")
	}
	wantStatus(t, a.do("GET", "/support-ticket", nil), 200)
}

func TestAuthBeforeRouting(t *testing.T) {
	_, a := start(t, Options{})
	b := *a
	b.key = ""
	wantError(t, b.do("GET", "/no-such-route", nil), 401, "Unauthorized")
}

func TestEmptySecretKeyAcceptsAnyButMissing(t *testing.T) {
	_, base := NewHTTPTest(t, Options{})
	a := &api{t: t, base: base, key: "anything", hc: http.DefaultClient}
	wantStatus(t, a.do("GET", "/support-ticket", nil), 200)
	a.key = ""
	wantError(t, a.do("GET", "/support-ticket", nil), 401, "Unauthorized")
}

func TestUnknownRouteAndWrongMethod(t *testing.T) {
	_, a, _ := startExamples(t)
	wantError(t, a.do("GET", "/nothing-here", nil), 404, "Not Found")
	r := a.do("PATCH", "/support-ticket/1", `{}`)
	wantError(t, r, 405, "Method Not Allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "PUT") {
		t.Errorf("Allow = %q", allow)
	}
	wantError(t, a.do("GET", "/support-ticket/reply/"+exampleUUID(1), nil), 405, "Method Not Allowed")
	wantError(t, a.do("POST", "/support-ticket/"+exampleUUID(1)+"/nonsense", `{}`), 404, "Not Found")
}

func TestMalformedJSON(t *testing.T) {
	_, a, _ := startExamples(t)
	for _, body := range []string{`{"subject":`, `[1,2]`, `"text"`} {
		wantError(t, a.do("POST", "/support-ticket", body), 400, "Bad Request")
	}
	wantError(t, a.do("PUT", "/support-ticket/1", `{oops`), 400, "Bad Request")
	wantError(t, a.do("POST", "/support-ticket/reply/"+exampleUUID(1), `{oops`), 400, "Bad Request")
}

// Literal segments must reach their own handler, not the {id}/{uuid} ones.
func TestRoutesDoNotCollide(t *testing.T) {
	s, a, _ := startExamples(t)
	u := exampleUUID(1)
	eq(t, a.do("POST", "/support-ticket/reply/"+u, map[string]any{"description": "hi"}).str("msg"), "Reply added successfully", "reply")
	eq(t, a.do("POST", "/support-ticket/status-update/"+u, map[string]any{"status": 4}).str("msg"), "Status updated successfully", "status")
	eq(t, a.do("POST", "/support-ticket/"+u+"/priority", map[string]any{"priority": 4}).str("msg"), "Priority updated successfully", "priority")
	eq(t, a.do("POST", "/support-ticket/"+u+"/note-store", map[string]any{"note": "n"}).str("msg"), "Note added successfully", "note")
	eq(t, a.do("POST", "/support-ticket/bulk-actions", map[string]any{"ticket_ids": []int{1}, "action": "add_tags",
		"parameters": map[string]any{"tags": []string{"x"}}}).str("msg"), "Tags added successfully", "bulk")
	eq(t, a.do("GET", "/ticket/analytics", nil).get("success"), true, "analytics")
	tk, _ := s.Ticket(1)
	eq(t, []any{tk.Status, tk.Priority, tk.Tags, tk.ReplyCount}, []any{StatusPending, PriorityUrgent, []string{"x"}, 1}, "ticket 1")

	// A numeric id where a uuid is expected, and the reverse, are unknown.
	wantError(t, a.do("POST", "/support-ticket/reply/1", map[string]any{"description": "hi"}), 404, "Not Found")
	wantError(t, a.do("POST", "/support-ticket/1/priority", map[string]any{"priority": 1}), 404, "Not Found")
	wantError(t, a.do("POST", "/support-ticket/status-update/1", map[string]any{"status": 1}), 404, "Not Found")
	wantError(t, a.do("POST", "/support-ticket/1/note-store", map[string]any{"note": "n"}), 404, "Not Found")
	wantError(t, a.do("GET", "/support-ticket/"+u, nil), 404, "Not Found")
	wantError(t, a.do("POST", "/ticket/"+u+"/assign", map[string]any{"assigned_to": 8}), 404, "Not Found")
	wantError(t, a.do("GET", "/support-ticket/-1", nil), 404, "Not Found")
	wantError(t, a.do("GET", "/support-ticket/+1", nil), 404, "Not Found")
}

func TestRequestLog(t *testing.T) {
	s, a, _ := startExamples(t)
	a.do("GET", "/support-ticket?status=open&limit=5", nil)
	a.do("POST", "/support-ticket", map[string]any{"subject": "x", "priority": 1})
	b := *a
	b.key = "bad"
	b.do("GET", "/contact/15", nil)
	reqs := s.Requests()
	if len(reqs) != 3 || s.RequestCount() != 3 {
		t.Fatalf("log has %d entries", len(reqs))
	}
	eq(t, []any{reqs[0].Method, reqs[0].Path, reqs[0].Query.Get("status"), reqs[0].Query.Get("limit"), reqs[0].Status},
		[]any{"GET", BasePath + "/support-ticket", "open", "5", 200}, "first")
	eq(t, string(reqs[1].Body), `{"priority":1,"subject":"x"}`, "body")
	eq(t, reqs[1].Status, 201, "create status")
	eq(t, reqs[1].Header["X-Secret-Key"], []string{testKey}, "header")
	eq(t, reqs[2].Status, 401, "unauthorized status")
	s.ResetRequests()
	eq(t, s.RequestCount(), 0, "after reset")

	big := `{"subject":"` + strings.Repeat("a", 100<<10) + `","priority":1}`
	a.do("POST", "/support-ticket", big)
	eq(t, len(s.Requests()[0].Body), maxLoggedBody, "capped body")
}

func TestServeListener(t *testing.T) {
	s := New(Options{SecretKey: testKey})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln) }()
	a := &api{t: t, base: "http://" + ln.Addr().String() + BasePath, key: testKey, hc: &http.Client{}}
	wantStatus(t, a.do("GET", "/team-member", nil), 200)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}

func TestOversizedJSONBody(t *testing.T) {
	_, a, _ := startExamples(t)
	body := `{"subject":"x","priority":1,"description":"` + strings.Repeat("d", 2<<20) + `"}`
	wantError(t, a.do("POST", "/support-ticket", body), 413, "Payload Too Large")
}
