package taskipfake

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

var (
	analyticsPeriods = []string{"day", "week", "month", "year"}
	analyticsGroups  = []string{"status", "priority", "category", "assignee"}
)

// periodRange is the calendar day, ISO week, month or year holding now.
func periodRange(period string, now time.Time) (start, end time.Time) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case "day":
		return today, today
	case "week":
		start = today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
		return start, start.AddDate(0, 0, 6)
	case "year":
		start = time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, -1)
	}
	start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, -1)
}

type resolutionStats struct {
	count int
	hours float64
}

func (r *resolutionStats) add(d time.Duration) { r.count++; r.hours += d.Hours() }

func (r *resolutionStats) avgDays() string {
	if r.count == 0 {
		return "N/A"
	}
	return fmt.Sprintf("%.1f days", r.hours/float64(r.count)/24)
}

// analytics computes the reference's report from the stored tickets. The
// "total" set is every ticket created by end_date; "new" ones were created
// in the range; resolution figures use tickets resolved in the range.
func (s *Server) analytics(c *call) {
	q := c.r.URL.Query()
	v := validation{}
	period := strings.ToLower(q.Get("period"))
	if period == "" {
		period = "month"
	} else if !slices.Contains(analyticsPeriods, period) {
		v.invalid("period")
	}
	group := strings.ToLower(q.Get("group_by"))
	if group != "" && !slices.Contains(analyticsGroups, group) {
		v.invalid("group_by")
	}
	from, to := dateParam(q, v, "start_date"), dateParam(q, v, "end_date")
	start, end := periodRange(period, c.now)
	if from != nil {
		start = *from
	}
	if to != nil {
		end = *to
	}
	if end.Before(start) {
		v.add("end_date", "The end date must be a date after or equal to start date.")
	}
	if err := v.err(); err != nil {
		c.fail(err)
		return
	}
	endExcl := end.AddDate(0, 0, 1)
	inRange := func(t time.Time) bool { return !t.Before(start) && t.Before(endExcl) }

	byStatus, byPriority, byCategory := map[string]int{}, map[string]int{}, map[string]int{}
	for _, n := range statusNames {
		byStatus[n] = 0
	}
	for _, n := range priorityNames {
		byPriority[n] = 0
	}
	var total, created, resolved, closed int
	var overall resolutionStats
	weeks := map[string]*resolutionStats{}
	handled := map[string]int{}
	perAssignee := map[string]*resolutionStats{}

	s.mu.Lock()
	for _, t := range s.tickets {
		if !t.CreatedAt.Before(endExcl) {
			continue
		}
		total++
		byStatus[StatusName(t.Status)]++
		byPriority[PriorityName(t.Priority)]++
		cat := t.Category
		if cat == "" {
			cat = "Uncategorized"
		}
		byCategory[cat]++
		if inRange(t.CreatedAt) {
			created++
		}
		if t.AssignedTo != 0 {
			handled[t.AssignedToName]++
		}
		if t.ResolvedAt.IsZero() || !inRange(t.ResolvedAt) {
			continue
		}
		switch t.Status {
		case StatusResolved:
			resolved++
		case StatusClosed:
			closed++
		}
		took := t.ResolvedAt.Sub(t.CreatedAt)
		overall.add(took)
		y, w := t.ResolvedAt.ISOWeek()
		key := fmt.Sprintf("%d-W%02d", y, w)
		if weeks[key] == nil {
			weeks[key] = &resolutionStats{}
		}
		weeks[key].add(took)
		if t.AssignedTo != 0 {
			if perAssignee[t.AssignedToName] == nil {
				perAssignee[t.AssignedToName] = &resolutionStats{}
			}
			perAssignee[t.AssignedToName].add(took)
		}
	}
	s.mu.Unlock()

	trend := []map[string]any{}
	for _, k := range sortedKeys(weeks) {
		trend = append(trend, map[string]any{"week": k, "average_hours": int(math.Round(weeks[k].hours / float64(weeks[k].count)))})
	}
	names := sortedKeys(handled)
	sort.SliceStable(names, func(i, j int) bool { return handled[names[i]] > handled[names[j]] })
	top := []map[string]any{}
	for _, n := range names {
		st := perAssignee[n]
		if st == nil {
			st = &resolutionStats{}
		}
		top = append(top, map[string]any{"assignee": n, "tickets_handled": handled[n], "average_resolution_time": st.avgDays()})
	}
	data := map[string]any{
		"period":     period,
		"start_date": start.Format(time.DateOnly),
		"end_date":   end.Format(time.DateOnly),
		"summary": map[string]any{
			"total_tickets":           total,
			"new_tickets":             created,
			"resolved_tickets":        resolved,
			"closed_tickets":          closed,
			"average_resolution_time": overall.avgDays(),
			"customer_satisfaction":   nil, // no ratings are modelled
		},
		"by_status":             byStatus,
		"by_priority":           byPriority,
		"by_category":           byCategory,
		"resolution_time_trend": trend,
		"top_assignees":         top,
	}
	if group != "" {
		data["group_by"] = group
	}
	c.json(http.StatusOK, map[string]any{"success": true, "data": data})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
