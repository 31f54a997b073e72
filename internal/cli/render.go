package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// table aligns columns of tab-separated cells. Cells go through cell() so
// that text from the API (a subject with a tab or newline) cannot break the
// alignment.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

var cellReplacer = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")

func cell(s string) string {
	s = strings.TrimSpace(cellReplacer.Replace(s))
	if s == "" {
		return "-"
	}
	return s
}

// cut shortens s to n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// printJSON writes v indented, with HTML characters left alone since the
// reader is a terminal or jq, never a browser.
func (s *session) printJSON(v any) error {
	enc := json.NewEncoder(s.env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *session) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(s.env.Stdout, format, args...)
	return err
}

// ago is a compact age for table columns: "just now", "5m ago", "3h ago",
// "4d ago", and the date beyond a month, when an age stops being useful.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < -time.Minute:
		// Clocks of client and server differ; a date is honest about it.
		return t.Format(time.DateOnly)
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
	return t.Format(time.DateOnly)
}

// shortTime is the age of ts, or whatever the server sent when it could not
// be parsed.
func shortTime(now time.Time, ts taskip.Timestamp) string {
	if !ts.Time.IsZero() {
		return ago(now, ts.Time)
	}
	return ts.Raw
}

// longTime is the absolute time followed by its age.
func longTime(now time.Time, ts taskip.Timestamp) string {
	if ts.Time.IsZero() {
		return ts.Raw
	}
	return ts.Time.Format("2006-01-02 15:04 MST") + " (" + ago(now, ts.Time) + ")"
}

// updatedOf picks the best "last changed" a server gave: updated_at, else
// created_at, else the example shape's "createAt" ("3 hours ago").
func updatedOf(now time.Time, t taskip.Ticket) string {
	switch {
	case !t.UpdatedAt.IsZero():
		return shortTime(now, t.UpdatedAt)
	case !t.CreatedAt.IsZero():
		return shortTime(now, t.CreatedAt)
	}
	return t.CreateAt
}

func createdOf(now time.Time, t taskip.Ticket) string {
	if !t.CreatedAt.IsZero() {
		return longTime(now, t.CreatedAt)
	}
	if d := strings.TrimSpace(t.Date + " " + t.Time); d != "" {
		if t.CreateAt != "" {
			return d + " (" + t.CreateAt + ")"
		}
		return d
	}
	return t.CreateAt
}

// personName is the short form for table columns: the name, else the email.
func personName(p taskip.Person) string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	case p.ID != 0:
		return "#" + p.ID.String()
	}
	return ""
}

func assigneeOf(t taskip.Ticket) string {
	switch {
	case t.AssignedToName != "" && t.AssignedTo != 0:
		return t.AssignedToName + " (#" + t.AssignedTo.String() + ")"
	case t.AssignedToName != "":
		return t.AssignedToName
	case t.AssignedTo != 0:
		return "#" + t.AssignedTo.String()
	}
	return ""
}

func shortAssignee(t taskip.Ticket) string {
	if t.AssignedToName != "" {
		return t.AssignedToName
	}
	if t.AssignedTo != 0 {
		return "#" + t.AssignedTo.String()
	}
	return ""
}

// size is a byte count in binary units, the way file managers show it.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 3 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[exp])
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func mediaLine(m *taskip.Media) string {
	if m == nil || (m.ID == 0 && m.Name == "" && m.URL == "") {
		return ""
	}
	parts := []string{}
	if m.Name != "" {
		parts = append(parts, m.Name)
	}
	if m.Size > 0 {
		parts = append(parts, "("+size(m.Size)+")")
	}
	if m.ID != 0 {
		parts = append(parts, "media #"+m.ID.String())
	}
	if m.URL != "" {
		parts = append(parts, m.URL)
	}
	return strings.Join(parts, " ")
}

// indent prefixes every line of text, for bodies printed under a heading.
func indent(text, prefix string) string {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	return prefix + strings.ReplaceAll(text, "\n", "\n"+prefix)
}
