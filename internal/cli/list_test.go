package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

func TestListAllPages(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("list", "--all", "--limit", "3", "--status", "in_progress")
	var pages []string
	for _, r := range h.fake.Requests() {
		pages = append(pages, r.Query.Get("page")+"/"+r.Query.Get("limit")+"/"+r.Query.Get("status"))
	}
	if want := []string{"1/3/in_progress"}; !slices.Equal(pages, want) {
		t.Errorf("pages fetched %q, want %q", pages, want)
	}
	if !strings.HasSuffix(out, "\n2 tickets\n") {
		t.Errorf("footer missing:\n%s", out)
	}

	h.fake.ResetRequests()
	h.mustRun("list", "--all", "--limit", "3")
	pages = nil
	for _, r := range h.fake.Requests() {
		pages = append(pages, r.Query.Get("page"))
	}
	if want := []string{"1", "2"}; !slices.Equal(pages, want) {
		t.Errorf("pages fetched %q, want %q", pages, want)
	}
}

func TestListCutsLongSubject(t *testing.T) {
	h := newHarness(t)
	subject := "Ärger mit der Rechnung: " + strings.Repeat("sehr ", 20) + "lang"
	h.fake.SeedTicket(taskipfake.Ticket{ID: 50, UUID: "550e8400-e29b-41d4-a716-446655440050",
		Subject: subject + "\twith a tab", CreatedAt: fixedNow.Add(-time.Minute)})
	out := h.mustRun("list", "--search", "Rechnung")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header, one row and footer:\n%s", out)
	}
	row := lines[1]
	want := "Ärger mit der Rechnung: sehr sehr sehr sehr sehr sehr sehr…"
	if !strings.HasSuffix(row, "  "+want) {
		t.Errorf("row %q does not end with %q", row, want)
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"ééééééééééé", 5, "éééé…"},
		{"word and space", 6, "word…"},
	} {
		if got := cut(tc.in, tc.n); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Second, "just now"},
		{5 * time.Minute, "5m ago"},
		{3*time.Hour + 59*time.Minute, "3h ago"},
		{49 * time.Hour, "2d ago"},
		{40 * 24 * time.Hour, "2023-12-07"},
		{-time.Hour, "2024-01-16"},
	} {
		if got := ago(fixedNow, fixedNow.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
