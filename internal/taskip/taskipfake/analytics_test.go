package taskipfake

import "testing"

func TestAnalytics(t *testing.T) {
	_, a, _ := startExamples(t)
	r := a.do("GET", "/ticket/analytics?period=month&group_by=status", nil)
	wantStatus(t, r, 200)
	eq(t, r.get("success"), true, "success")
	eq(t, []any{r.str("data.period"), r.str("data.start_date"), r.str("data.end_date"), r.str("data.group_by")},
		[]any{"month", "2024-01-01", "2024-01-31", "status"}, "range")
	eq(t, r.get("data.summary"), map[string]any{"total_tickets": 4.0, "new_tickets": 4.0, "resolved_tickets": 1.0,
		"closed_tickets": 1.0, "average_resolution_time": "1.5 days", "customer_satisfaction": nil}, "summary")
	eq(t, r.get("data.by_status"), map[string]any{"open": 0.0, "in_progress": 2.0, "resolved": 1.0, "closed": 1.0, "pending": 0.0}, "by_status")
	eq(t, r.get("data.by_priority"), map[string]any{"low": 1.0, "normal": 0.0, "medium": 1.0, "high": 2.0, "urgent": 0.0}, "by_priority")
	eq(t, r.get("data.by_category"), map[string]any{"Technical Support": 2.0, "Feature Request": 1.0, "Bug Report": 1.0}, "by_category")
	eq(t, r.get("data.resolution_time_trend"), []any{
		map[string]any{"week": "2024-W02", "average_hours": 48.0},
		map[string]any{"week": "2024-W03", "average_hours": 23.0},
	}, "trend")
	eq(t, r.get("data.top_assignees"), []any{
		map[string]any{"assignee": "David Chen", "tickets_handled": 1.0, "average_resolution_time": "2.0 days"},
		map[string]any{"assignee": "Sarah Johnson", "tickets_handled": 1.0, "average_resolution_time": "N/A"},
	}, "top_assignees")

	r = a.do("GET", "/ticket/analytics?start_date=2024-01-10&end_date=2024-01-16", nil)
	eq(t, []int{r.num("data.summary.total_tickets"), r.num("data.summary.new_tickets"), r.num("data.summary.resolved_tickets"),
		r.num("data.summary.closed_tickets")}, []int{4, 3, 1, 0}, "custom range")
	eq(t, r.get("data.group_by"), missing{}, "group_by only when asked")
	r = a.do("GET", "/ticket/analytics?period=week", nil)
	eq(t, []string{r.str("data.start_date"), r.str("data.end_date")}, []string{"2024-01-15", "2024-01-21"}, "ISO week")
	r = a.do("GET", "/ticket/analytics?period=day", nil)
	eq(t, []int{r.num("data.summary.new_tickets"), r.num("data.summary.resolved_tickets")}, []int{2, 1}, "today")

	fields := wantError(t, a.do("GET", "/ticket/analytics?period=decade&group_by=colour", nil), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"group_by", "period"}, "fields")
	fields = wantError(t, a.do("GET", "/ticket/analytics?start_date=2024-02-01&end_date=2024-01-01", nil), 422, "Validation Error")
	eq(t, fieldNames(fields), []string{"end_date"}, "range order")
}
