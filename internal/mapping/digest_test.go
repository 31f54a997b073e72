package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// referenceAnalytics is the example answer of the vendor reference.
const referenceAnalytics = `{
  "period": "month", "start_date": "2024-01-01", "end_date": "2024-01-31",
  "summary": {"total_tickets": 125, "new_tickets": 45, "resolved_tickets": 38, "closed_tickets": 35,
              "average_resolution_time": "2.3 days", "customer_satisfaction": 4.2},
  "by_status": {"open": 25, "in_progress": 18, "resolved": 38, "closed": 44},
  "by_priority": {"low": 30, "medium": 55, "high": 25, "urgent": 15},
  "by_category": {"Technical Support": 45, "Feature Request": 20, "Bug Report": 35, "General Inquiry": 25},
  "resolution_time_trend": [{"week": "2024-W01", "average_hours": 48}, {"week": "2024-W02", "average_hours": 36},
                            {"week": "2024-W03", "average_hours": 42}, {"week": "2024-W04", "average_hours": 38}],
  "top_assignees": [{"assignee": "Sarah Johnson", "tickets_handled": 28, "average_resolution_time": "1.8 days"},
                    {"assignee": "David Chen", "tickets_handled": 22, "average_resolution_time": "2.1 days"}]
}`

func TestDigestMessage(t *testing.T) {
	tests := []struct {
		name       string
		analytics  string
		wantText   string
		wantBlocks string
	}{
		{
			name:      "reference example",
			analytics: referenceAnalytics,
			wantText:  "Support digest, 2024-01-01 to 2024-01-31. Tickets: 125 in total, 45 new, 38 resolved, 35 closed. Average resolution: 2.3 days.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest · 2024-01-01 to 2024-01-31
[section ticketsync:digest:summary] *Tickets:* 125 in total · 45 new · 38 resolved · 35 closed
  *Resolution time:* 2.3 days on average · by week: 2024-W01 48 h, 2024-W02 36 h, 2024-W03 42 h, 2024-W04 38 h
  *Customer satisfaction:* 4.2 / 5
[section ticketsync:digest:counts]
  | *By status*
  | Open: 25
  | In Progress: 18
  | Resolved: 38
  | Closed: 44
  | *By priority*
  | Low: 30
  | Medium: 55
  | High: 25
  | Urgent: 15
[section ticketsync:digest:assignees] *Top assignees*
  1. Sarah Johnson: 28 tickets, 1.8 days on average
  2. David Chen: 22 tickets, 2.1 days on average`,
		},
		{
			name: "names and numbers mixed, unknown keys last, assignees re-sorted and capped",
			analytics: `{"period": "week",
			  "summary": {"total_tickets": 7, "new_tickets": 1, "resolved_tickets": 0, "closed_tickets": 0, "average_resolution_time": "N/A"},
			  "by_status": {"Closed": 2, "0": 3, "open": 1, "escalated": 1},
			  "by_priority": {"4": 1, "NORMAL": 6},
			  "top_assignees": [
			    {"assignee": "A", "tickets_handled": 1}, {"assignee": "B", "tickets_handled": 2}, {"assignee": "C", "tickets_handled": 3},
			    {"assignee": "D", "tickets_handled": 4}, {"assignee": "E", "tickets_handled": 5}, {"assignee": "F", "tickets_handled": 6},
			    {"assignee": "", "tickets_handled": 1, "average_resolution_time": "N/A"}]}`,
			wantText: "Support digest, this week. Tickets: 7 in total, 1 new, 0 resolved, 0 closed.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest · this week
[section ticketsync:digest:summary] *Tickets:* 7 in total · 1 new · 0 resolved · 0 closed
[section ticketsync:digest:counts]
  | *By status*
  | Open: 4
  | Closed: 2
  | escalated: 1
  | *By priority*
  | Normal: 6
  | Urgent: 1
[section ticketsync:digest:assignees] *Top assignees*
  1. F: 6 tickets
  2. E: 5 tickets
  3. D: 4 tickets
  4. C: 3 tickets
  5. B: 2 tickets`,
		},
		{
			name: "summary left out: the total comes from the status breakdown",
			analytics: `{"start_date": "2024-01-16", "end_date": "2024-01-16",
			  "by_status": {"open": 2, "pending": 1}}`,
			wantText: "Support digest, 2024-01-16. Tickets: 3 in total.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest · 2024-01-16
[section ticketsync:digest:summary] *Tickets:* 3 in total
[section ticketsync:digest:counts]
  | *By status*
  | Open: 2
  | Pending: 1`,
		},
		{
			name: "a quiet period is reported as zeros",
			analytics: `{"start_date": "2024-01-10", "end_date": "2024-01-16",
			  "summary": {"total_tickets": 0, "average_resolution_time": "N/A", "customer_satisfaction": null},
			  "by_status": {"open": 0}, "top_assignees": []}`,
			wantText: "Support digest, 2024-01-10 to 2024-01-16. Tickets: 0 in total, 0 new, 0 resolved, 0 closed.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest · 2024-01-10 to 2024-01-16
[section ticketsync:digest:summary] *Tickets:* 0 in total · 0 new · 0 resolved · 0 closed
[section ticketsync:digest:counts]
  | *By status*
  | Open: 0`,
		},
		{
			name:      "only the assignees",
			analytics: `{"top_assignees": [{"assignee": "Sarah Johnson", "tickets_handled": 1, "average_resolution_time": "0.5 days"}]}`,
			wantText:  "Support digest.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest
[section ticketsync:digest:assignees] *Top assignees*
  1. Sarah Johnson: 1 ticket, 0.5 days on average`,
		},
		{
			name:      "nothing at all",
			analytics: `{}`,
			wantText:  "Support digest. TaskIP returned no figures for this period.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest
[section ticketsync:digest:empty] TaskIP returned no figures for this period.`,
		},
		{
			name: "server text is escaped",
			analytics: `{"end_date": "<!channel>",
			  "summary": {"total_tickets": 1, "average_resolution_time": "<@U1> days"},
			  "by_status": {"<!here>": 1},
			  "top_assignees": [{"assignee": "Eve <http://evil|click>", "tickets_handled": 1}]}`,
			wantText: "Support digest, to &lt;!channel&gt;. Tickets: 1 in total, 0 new, 0 resolved, 0 closed. Average resolution: &lt;@U1&gt; days.",
			wantBlocks: `
[header ticketsync:digest:header] Support digest · to <!channel>
[section ticketsync:digest:summary] *Tickets:* 1 in total · 0 new · 0 resolved · 0 closed
  *Resolution time:* &lt;@U1&gt; days on average
[section ticketsync:digest:counts]
  | *By status*
  | &lt;!here&gt;: 1
[section ticketsync:digest:assignees] *Top assignees*
  1. Eve &lt;http://evil|click&gt;: 1 ticket`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a taskip.Analytics
			require.NoError(t, json.Unmarshal([]byte(tt.analytics), &a))
			text, blocks := DigestMessage(a)
			assert.Equal(t, tt.wantText, text)
			assert.Equal(t, strings.TrimPrefix(tt.wantBlocks, "\n"), renderBlocks(t, blocks))
			for _, b := range blocks {
				assert.True(t, strings.HasPrefix(blockID(b), BlockPrefix), "every block is marked as ours")
			}
		})
	}
}

func TestDigestMessageStaysWithinSlackLimits(t *testing.T) {
	var a taskip.Analytics
	require.NoError(t, json.Unmarshal([]byte(referenceAnalytics), &a))
	a.StartDate = strings.Repeat("2024-01-01 ", 40)
	a.ByStatus = map[string]int{}
	for i := range 400 {
		a.ByStatus[strings.Repeat("x", 20)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = i
	}
	for range 3 {
		a.ResolutionTimeTrend = append(a.ResolutionTimeTrend, a.ResolutionTimeTrend...)
	}
	_, blocks := DigestMessage(a)
	for _, b := range blocks {
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		var v struct {
			Type   string
			Text   struct{ Text string }
			Fields []struct{ Text string }
		}
		require.NoError(t, json.Unmarshal(raw, &v))
		limit := maxSectionText
		if v.Type == "header" {
			limit = maxHeaderText
		}
		assert.LessOrEqual(t, utf8.RuneCountInString(v.Text.Text), limit, v.Type)
		for _, f := range v.Fields {
			assert.LessOrEqual(t, utf8.RuneCountInString(f.Text), maxFieldText)
		}
	}
	assert.Contains(t, renderBlocks(t, blocks), "by week: 2024-W03 42 h, 2024-W04 38 h, 2024-W01 48 h", "only the latest weeks")
}

// renderBlocks prints blocks one per line with their type and id, section
// text indented below and fields marked with "|", so an expectation reads
// like the message.
func renderBlocks(t *testing.T, blocks []slackapi.Block) string {
	t.Helper()
	var out []string
	for _, b := range blocks {
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		var v struct {
			Type    string `json:"type"`
			BlockID string `json:"block_id"`
			Text    struct {
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
		}
		require.NoError(t, json.Unmarshal(raw, &v))
		head := "[" + v.Type + " " + v.BlockID + "]"
		if v.Text.Text != "" {
			lines := strings.Split(v.Text.Text, "\n")
			head += " " + lines[0]
			for _, l := range lines[1:] {
				head += "\n  " + l
			}
		}
		out = append(out, head)
		for _, f := range v.Fields {
			for _, l := range strings.Split(f.Text, "\n") {
				out = append(out, "  | "+l)
			}
		}
	}
	return strings.Join(out, "\n")
}
