package cli

import (
	"encoding/json"
	"testing"
)

// goldenCases cover every verb; each runs against a freshly seeded fake,
// once as a table and once with --json.
var goldenCases = []struct {
	name string
	args []string
	// files are created in a temp dir and appended to args (for attach).
	files []struct {
		name string
		size int
	}
}{
	{name: "list", args: []string{"list"}},
	{name: "list_filtered", args: []string{"list", "--status", "In Progress", "--sort", "created_at", "--order", "asc"}},
	{name: "list_page", args: []string{"list", "--limit", "2", "--page", "2"}},
	{name: "list_all", args: []string{"list", "--all", "--limit", "3"}},
	{name: "show", args: []string{"show", "45"}},
	{name: "show_plain", args: []string{"show", "#1"}},
	{name: "create", args: []string{"create", "--subject", "Printer on fire", "--priority", "urgent",
		"--description", "Smoke comes out of tray 2.\nPlease send someone.", "--user-id", "15"}},
	{name: "update", args: []string{"update", "45", "--priority", "urgent", "--subject", "Order emails not sent"}},
	{name: "delete", args: []string{"delete", "2"}},
	{name: "reply", args: []string{"reply", "45", "We restarted the relay; please check again.", "--status", "resolved"}},
	{name: "status", args: []string{"status", "45", "resolved", "--notes", "Relay restarted."}},
	{name: "priority", args: []string{"priority", "45", "urgent"}},
	{name: "note", args: []string{"note", "45", "Customer called again."}},
	{name: "note_delete", args: []string{"note-delete", "45", "1"}},
	{name: "assign", args: []string{"assign", "45", "8", "--reason", "Email systems specialist"}},
	{name: "attach", args: []string{"attach", "45", "--description", "From the customer"},
		files: []struct {
			name string
			size int
		}{{"screenshot.png", 245760}, {"report.pdf", 8192}}},
	{name: "attachments", args: []string{"attachments", "45"}},
	{name: "bulk", args: []string{"bulk", "status_update", "1", "2", "--status", "closed"}},
	{name: "analytics", args: []string{"analytics", "--period", "month"}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		for _, asJSON := range []bool{false, true} {
			name := tc.name
			if asJSON {
				name += "_json"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t)
				args := append([]string(nil), tc.args...)
				dir := t.TempDir()
				for _, f := range tc.files {
					args = append(args, writeFile(t, dir, f.name, f.size))
				}
				if asJSON {
					args = append(args, "--json")
				}
				out := h.mustRun(args...)
				if asJSON && !json.Valid([]byte(out)) {
					t.Errorf("--json output is not JSON:\n%s", out)
				}
				golden(t, name, out)
			})
		}
	}
}

func TestGoldenHelp(t *testing.T) {
	for name, args := range map[string][]string{
		"help":       {"help"},
		"help_reply": {"reply", "--help"},
		"help_list":  {"help", "list"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			golden(t, name, h.mustRun(args...))
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("help made %d API calls", n)
			}
		})
	}
}
