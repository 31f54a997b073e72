package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func defineAnalytics(fs *flag.FlagSet) action {
	var (
		period  = choiceFlag{choices: []string{"day", "week", "month", "year"}}
		groupBy = choiceFlag{choices: []string{"status", "priority", "category", "assignee"}}
		start   dateFlag
		end     dateFlag
	)
	fs.Var(&period, "period", "the `PERIOD`: day, week, month or year")
	fs.Var(&start, "start-date", "from `DATE` (YYYY-MM-DD)")
	fs.Var(&end, "end-date", "to `DATE` (YYYY-MM-DD)")
	fs.Var(&groupBy, "group-by", "group by `G`: status, priority, category or assignee")
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.api()
		if err != nil {
			return err
		}
		a, err := c.Analytics(ctx, taskip.AnalyticsParams{
			Period: period.v, StartDate: string(start), EndDate: string(end), GroupBy: groupBy.v,
		})
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(a)
		}
		return s.printAnalytics(a)
	}
}

func (s *session) printAnalytics(a taskip.Analytics) error {
	var sections []func(*table)
	sum := a.Summary
	sections = append(sections, func(tb *table) {
		tb.row("period:", periodLine(a))
		tb.row("tickets:", fmt.Sprintf("%d total, %d new, %d resolved, %d closed",
			sum.TotalTickets, sum.NewTickets, sum.ResolvedTickets, sum.ClosedTickets))
		tb.row("avg resolution:", sum.AverageResolutionTime)
		if sum.CustomerSatisfaction != 0 {
			tb.row("satisfaction:", strconv.FormatFloat(sum.CustomerSatisfaction, 'f', 1, 64)+" / 5")
		}
	})
	if len(a.ByStatus) > 0 {
		sections = append(sections, countSection("STATUS", a.ByStatus, codeOrder(taskip.StatusNames())))
	}
	if len(a.ByPriority) > 0 {
		sections = append(sections, countSection("PRIORITY", a.ByPriority, codeOrder(taskip.PriorityNames())))
	}
	if len(a.ByCategory) > 0 {
		sections = append(sections, countSection("CATEGORY", a.ByCategory, byCount(a.ByCategory)))
	}
	if len(a.ResolutionTimeTrend) > 0 {
		sections = append(sections, func(tb *table) {
			tb.row("WEEK", "AVG HOURS TO RESOLVE")
			for _, w := range a.ResolutionTimeTrend {
				tb.row(w.Week, strconv.FormatFloat(w.AverageHours, 'f', 1, 64))
			}
		})
	}
	if len(a.TopAssignees) > 0 {
		sections = append(sections, func(tb *table) {
			tb.row("ASSIGNEE", "TICKETS", "AVG RESOLUTION")
			for _, t := range a.TopAssignees {
				tb.row(t.Assignee, strconv.Itoa(t.TicketsHandled), t.AverageResolutionTime)
			}
		})
	}
	for i, section := range sections {
		if i > 0 {
			if err := s.printf("\n"); err != nil {
				return err
			}
		}
		// One table per section, so each aligns on its own columns.
		tb := newTable(s.env.Stdout)
		section(tb)
		if err := tb.flush(); err != nil {
			return err
		}
	}
	return nil
}

func periodLine(a taskip.Analytics) string {
	var parts []string
	if a.Period != "" {
		parts = append(parts, a.Period)
	}
	switch {
	case a.StartDate != "" && a.EndDate != "":
		parts = append(parts, a.StartDate+" to "+a.EndDate)
	case a.StartDate != "":
		parts = append(parts, "from "+a.StartDate)
	case a.EndDate != "":
		parts = append(parts, "to "+a.EndDate)
	}
	return strings.Join(parts, ", ")
}

// countSection prints a name/count table in the given key order, with the
// share of the total since that is what the counts are read for.
func countSection(title string, counts map[string]int, order func(a, b string) int) func(*table) {
	return func(tb *table) {
		keys := make([]string, 0, len(counts))
		total := 0
		for k, n := range counts {
			keys = append(keys, k)
			total += n
		}
		slices.SortFunc(keys, order)
		tb.row(title, "TICKETS", "SHARE")
		for _, k := range keys {
			share := "-"
			if total > 0 {
				share = fmt.Sprintf("%.0f%%", 100*float64(counts[k])/float64(total))
			}
			tb.row(label(k), strconv.Itoa(counts[k]), share)
		}
	}
}

// codeOrder sorts status or priority names in code order (open before
// closed, low before urgent), unknown names last and alphabetically.
func codeOrder(names []string) func(a, b string) int {
	rank := func(s string) int {
		if i := slices.Index(names, strings.ToLower(s)); i >= 0 {
			return i
		}
		return len(names)
	}
	return func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
}

// byCount sorts the biggest first, then by name for a stable order.
func byCount(counts map[string]int) func(a, b string) int {
	return func(a, b string) int {
		if d := counts[b] - counts[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
}

// label turns an API name ("in_progress") into the form of tables
// ("In Progress"); other keys (categories) are shown as sent.
func label(k string) string {
	if st, err := taskip.ParseStatus(k); err == nil && !isDigits(k) {
		return st.Label()
	}
	if p, err := taskip.ParsePriority(k); err == nil && !isDigits(k) {
		return p.Label()
	}
	return k
}

func isDigits(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
