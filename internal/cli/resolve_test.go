package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const uuid45 = "550e8400-e29b-41d4-a716-446655440045"

// TestRefResolution checks from the fake's request log that a REF is looked
// up only when the endpoint needs the other form.
func TestRefResolution(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"show by id", []string{"show", "45"},
			[]string{"GET /support-ticket/45"}},
		{"show by uuid", []string{"show", uuid45},
			[]string{"GET /support-ticket", "GET /support-ticket/45"}},
		{"update by uuid", []string{"update", uuid45, "--priority", "low"},
			[]string{"GET /support-ticket", "PUT /support-ticket/45"}},
		{"delete by uuid", []string{"delete", uuid45},
			[]string{"GET /support-ticket", "DELETE /support-ticket/45"}},
		{"assign by uuid", []string{"assign", uuid45, "8"},
			[]string{"GET /support-ticket", "POST /ticket/45/assign"}},
		{"attachments by uuid", []string{"attachments", uuid45},
			[]string{"GET /support-ticket", "GET /ticket/45/attachments"}},
		{"attachments by id", []string{"attachments", "#45"},
			[]string{"GET /ticket/45/attachments"}},
		{"bulk mixes both", []string{"bulk", "delete", "1", uuid45},
			[]string{"GET /support-ticket", "POST /support-ticket/bulk-actions"}},
		{"reply by id", []string{"reply", "45", "hello"},
			[]string{"GET /support-ticket/45", "POST /support-ticket/reply/" + uuid45}},
		{"reply by uuid", []string{"reply", uuid45, "hello"},
			[]string{"POST /support-ticket/reply/" + uuid45}},
		{"status by id", []string{"status", "45", "pending"},
			[]string{"GET /support-ticket/45", "POST /support-ticket/status-update/" + uuid45}},
		{"status by uuid", []string{"status", uuid45, "pending"},
			[]string{"POST /support-ticket/status-update/" + uuid45}},
		{"priority by id", []string{"priority", "45", "low"},
			[]string{"GET /support-ticket/45", "POST /support-ticket/" + uuid45 + "/priority"}},
		{"priority by uuid", []string{"priority", uuid45, "low"},
			[]string{"POST /support-ticket/" + uuid45 + "/priority"}},
		{"note by id", []string{"note", "45", "hi"},
			[]string{"GET /support-ticket/45", "POST /support-ticket/" + uuid45 + "/note-store"}},
		{"note-delete by uuid", []string{"note-delete", uuid45, "1"},
			[]string{"DELETE /support-ticket/" + uuid45 + "/note-delete/1"}},
		{"note-delete by id", []string{"note-delete", "45", "1"},
			[]string{"GET /support-ticket/45", "DELETE /support-ticket/" + uuid45 + "/note-delete/1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustRun(tc.args...)
			if got := h.calls(); !slices.Equal(got, tc.want) {
				t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestUUIDConfirmationNamesID checks that a write by uuid still reports the
// ticket by its id once the lookup found it.
func TestUUIDConfirmationNamesID(t *testing.T) {
	h := newHarness(t)
	if got, want := h.mustRun("delete", uuid45), "ticket #45 deleted\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAttachUploadsEveryFile(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "trace.log", 1234)
	b := writeFile(t, dir, "photo.png", 56789)
	h.mustRun("attach", "45", a, "--description", "two files", b)

	var uploads int
	for _, r := range h.fake.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/ticket/45/attachments") {
			uploads++
		}
	}
	if uploads != 1 {
		t.Errorf("%d upload requests, want 1 carrying both files", uploads)
	}
	got := map[string]int64{}
	for _, att := range h.fake.Attachments(45) {
		got[att.OriginalFilename] = att.Size
		if att.OriginalFilename == "photo.png" && att.MimeType != "image/png" {
			t.Errorf("photo.png stored as %q", att.MimeType)
		}
	}
	want := map[string]int64{"error_logs.txt": 15420, filepath.Base(a): 1234, filepath.Base(b): 56789}
	for name, size := range want {
		if got[name] != size {
			t.Errorf("attachment %s: size %d, want %d (stored: %v)", name, got[name], size, got)
		}
	}
}
