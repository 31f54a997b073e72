package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Limits of the digest, so it stays a message read at a glance and well
// inside Slack's section limits however much the server sends.
const (
	digestTopAssignees = 5
	digestTrendWeeks   = 6
	maxFieldText       = 2000 // Slack's limit for one section field
)

// digestBlockID marks the digest's blocks as ours, like a ticket's blocks,
// without naming a ticket.
const digestBlockID = BlockPrefix + "digest:"

// DigestMessage summarises the ticket analytics for the channel: the
// fallback text and the blocks. Servers omit sections freely, so each part
// is shown only when the answer has something for it.
func DigestMessage(a taskip.Analytics) (string, []slackapi.Block) {
	period := digestPeriod(a)
	title := "Support digest"
	if period != "" {
		title += " · " + period
	}
	header := slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, mrkdwn.CutText(title, maxHeaderText, ""), false, false))
	header.BlockID = digestBlockID + "header"
	blocks := []slackapi.Block{header}

	fallback := "Support digest"
	if period != "" {
		fallback += ", " + mrkdwn.Escape(period)
	}
	totals := digestTotals(a)
	var summary []string
	if totals != "" {
		summary = append(summary, "*Tickets:* "+totals)
	}
	if r := digestResolution(a); r != "" {
		summary = append(summary, "*Resolution time:* "+r)
	}
	if s := a.Summary.CustomerSatisfaction; s > 0 {
		summary = append(summary, "*Customer satisfaction:* "+strconv.FormatFloat(s, 'f', 1, 64)+" / 5")
	}
	var fields []*slackapi.TextBlockObject
	if lines := codeCountLines(a.ByStatus, statusCode); len(lines) > 0 {
		fields = append(fields, mrkdwnField("*By status*\n"+strings.Join(lines, "\n")))
	}
	if lines := codeCountLines(a.ByPriority, priorityCode); len(lines) > 0 {
		fields = append(fields, mrkdwnField("*By priority*\n"+strings.Join(lines, "\n")))
	}
	assignees := digestAssignees(a)

	if len(summary) == 0 && len(fields) == 0 && len(assignees) == 0 {
		const none = "TaskIP returned no figures for this period."
		blocks = append(blocks, mrkdwnSection(digestBlockID+"empty", none))
		return fallback + ". " + none, blocks
	}
	if len(summary) > 0 {
		blocks = append(blocks, mrkdwnSection(digestBlockID+"summary", strings.Join(summary, "\n")))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil, slackapi.SectionBlockOptionBlockID(digestBlockID+"counts")))
	}
	if len(assignees) > 0 {
		blocks = append(blocks, mrkdwnSection(digestBlockID+"assignees", "*Top assignees*\n"+strings.Join(assignees, "\n")))
	}

	// The fallback is what a notification shows: the totals and the
	// average, not the breakdowns.
	fallback += "."
	if totals != "" {
		fallback += " Tickets: " + strings.ReplaceAll(totals, " · ", ", ") + "."
	}
	if avg, ok := figure(a.Summary.AverageResolutionTime); ok {
		fallback += " Average resolution: " + mrkdwn.Escape(avg) + "."
	}
	return fallback, blocks
}

// digestPeriod is the range the figures cover: the dates when the server
// sends them, since "month" alone does not say which one.
func digestPeriod(a taskip.Analytics) string {
	start, end := strings.TrimSpace(a.StartDate), strings.TrimSpace(a.EndDate)
	switch {
	case start != "" && (end == "" || end == start):
		if end == "" {
			return "from " + start
		}
		return start
	case start != "":
		return start + " to " + end
	case end != "":
		return "to " + end
	}
	switch p := strings.ToLower(strings.TrimSpace(a.Period)); p {
	case "":
		return ""
	case "day":
		return "today"
	case "week", "month", "year":
		return "this " + p
	default:
		return p
	}
}

// digestTotals is the ticket count line. A server that leaves out the
// summary but sends the status breakdown still gets a total: the
// breakdown's counts add up to it.
func digestTotals(a taskip.Analytics) string {
	s := a.Summary
	full := fmt.Sprintf("%d in total · %d new · %d resolved · %d closed", s.TotalTickets, s.NewTickets, s.ResolvedTickets, s.ClosedTickets)
	if s.TotalTickets != 0 || s.NewTickets != 0 || s.ResolvedTickets != 0 || s.ClosedTickets != 0 {
		return full
	}
	for _, counts := range []map[string]int{a.ByStatus, a.ByPriority} {
		if sum := sumCounts(counts); sum > 0 {
			return strconv.Itoa(sum) + " in total"
		}
	}
	// All zero is a quiet period when the server sent a breakdown or an
	// average, so the summary was there; otherwise there is nothing to say.
	if _, ok := figure(s.AverageResolutionTime); ok || a.ByStatus != nil || a.ByPriority != nil {
		return full
	}
	return ""
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// digestResolution is the average time to resolve and, when the server
// sends the weekly trend, the most recent weeks of it.
func digestResolution(a taskip.Analytics) string {
	var parts []string
	if avg, ok := figure(a.Summary.AverageResolutionTime); ok {
		parts = append(parts, mrkdwn.Escape(avg)+" on average")
	}
	trend := a.ResolutionTimeTrend
	if len(trend) > digestTrendWeeks {
		trend = trend[len(trend)-digestTrendWeeks:]
	}
	var weeks []string
	for _, w := range trend {
		if strings.TrimSpace(w.Week) == "" {
			continue
		}
		weeks = append(weeks, mrkdwn.Escape(w.Week)+" "+strconv.FormatFloat(w.AverageHours, 'f', -1, 64)+" h")
	}
	if len(weeks) > 0 {
		parts = append(parts, "by week: "+strings.Join(weeks, ", "))
	}
	return strings.Join(parts, " · ")
}

// figure reports whether the server sent a value: TaskIP writes "N/A"
// where there is nothing to average.
func figure(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "n/a") || s == "-" {
		return "", false
	}
	return s, true
}

// digestAssignees are the busiest team members, busiest first, whatever
// order the server sent them in.
func digestAssignees(a taskip.Analytics) []string {
	type row struct {
		name string
		n    int
		avg  string
	}
	rows := make([]row, 0, len(a.TopAssignees))
	for _, t := range a.TopAssignees {
		name := strings.TrimSpace(t.Assignee)
		if name == "" {
			name = "(no name)"
		}
		rows = append(rows, row{name, t.TicketsHandled, t.AverageResolutionTime})
	}
	slices.SortStableFunc(rows, func(x, y row) int { return y.n - x.n })
	if len(rows) > digestTopAssignees {
		rows = rows[:digestTopAssignees]
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		line := fmt.Sprintf("%d. %s: %s", i+1, mrkdwn.Escape(r.name), plural(r.n, "ticket"))
		if avg, ok := figure(r.avg); ok {
			line += ", " + mrkdwn.Escape(avg) + " on average"
		}
		lines[i] = line
	}
	return lines
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// codeCountLines lists a status or priority breakdown in code order (open
// before closed, low before urgent). Keys are names or code numbers; the
// same code sent both ways is counted once. Keys the client does not know
// follow, alphabetically, as sent.
func codeCountLines(counts map[string]int, code func(string) (int, string, bool)) []string {
	known := map[int]int{}
	labels := map[int]string{}
	var unknown []string
	for k, n := range counts {
		c, l, ok := code(k)
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		known[c] += n
		labels[c] = l
	}
	codes := make([]int, 0, len(known))
	for c := range known {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	slices.Sort(unknown)
	lines := make([]string, 0, len(codes)+len(unknown))
	for _, c := range codes {
		lines = append(lines, labels[c]+": "+strconv.Itoa(known[c]))
	}
	for _, k := range unknown {
		name := strings.TrimSpace(k)
		if name == "" {
			name = "(none)"
		}
		lines = append(lines, mrkdwn.Escape(name)+": "+strconv.Itoa(counts[k]))
	}
	return lines
}

func statusCode(k string) (int, string, bool) {
	s, err := taskip.ParseStatus(k)
	if err != nil {
		return 0, "", false
	}
	return int(s), s.Label(), true
}

func priorityCode(k string) (int, string, bool) {
	p, err := taskip.ParsePriority(k)
	if err != nil {
		return 0, "", false
	}
	return int(p), p.Label(), true
}

func mrkdwnField(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, mrkdwn.CutText(text, maxFieldText, ""), false, false)
}

func mrkdwnSection(blockID, text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, mrkdwn.CutText(text, maxSectionText, ""), false, false),
		nil, nil, slackapi.SectionBlockOptionBlockID(blockID))
}
