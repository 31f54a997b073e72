package taskipfake

import (
	"encoding/json"
	"testing"
)

func TestParseCodes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{`1`, 1, true}, {`"1"`, 1, true}, {`"in_progress"`, 1, true}, {`"In Progress"`, 1, true},
		{`"in-progress"`, 1, true}, {`"IN_PROGRESS"`, 1, true}, {`" pending "`, 4, true}, {`4.0`, 4, true},
		{`5`, 0, false}, {`-1`, 0, false}, {`"5"`, 0, false}, {`"inprogress"`, 0, false}, {`1.5`, 0, false},
		{`true`, 0, false}, {`null`, 0, false}, {`""`, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseCodeJSON(statusNames, json.RawMessage(tc.in))
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %d %v, want %d %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	eq(t, []string{StatusName(3), PriorityName(1), StatusName(7)}, []string{"closed", "normal", ""}, "names")
}

func TestCodeStyleNames(t *testing.T) {
	s, a := start(t, Options{CodeStyle: Names})
	s.SeedExamples()
	r := a.do("GET", "/support-ticket/1", nil)
	eq(t, []any{r.get("status"), r.get("priority")}, []any{"in_progress", "high"}, "names")
	r = a.do("GET", "/support-ticket?sort=id&order=asc", nil)
	eq(t, []any{r.get("data.2.status"), r.get("data.2.priority")}, []any{"closed", "low"}, "list")
	r = a.do("POST", "/support-ticket", map[string]any{"subject": "s", "priority": 1})
	eq(t, []any{r.get("data.status"), r.get("data.priority")}, []any{"open", "normal"}, "create")
}

func TestCodeStyleAlternate(t *testing.T) {
	s, a := start(t, Options{CodeStyle: Alternate})
	s.SeedExamples()
	var got []any
	for i := 0; i < 4; i++ {
		got = append(got, a.do("GET", "/support-ticket/45", nil).get("status"))
	}
	eq(t, got, []any{1.0, "in_progress", 1.0, "in_progress"}, "flips per response")
}
