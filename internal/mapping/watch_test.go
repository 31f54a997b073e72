package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func baseSnapshot() Snapshot {
	return Snapshot{ID: 46, UUID: "550e8400-e29b-41d4-a716-446655440046", Subject: "Printer on fire",
		Status: taskip.StatusOpen, Priority: taskip.PriorityNormal, Customer: "Emma Davis <emma@startup.com>", ReplyCount: 1, LastReplyID: 10}
}

func TestDiff(t *testing.T) {
	reply := func(id int64, typ, text string) taskip.Reply {
		return taskip.Reply{ID: taskip.ID(id), Message: text, AuthorType: typ, Author: taskip.Person{Name: "Emma Davis"}}
	}
	tests := []struct {
		name    string
		edit    func(*Snapshot)
		replies []taskip.Reply
		want    []string
	}{
		{"nothing changed", func(*Snapshot) {}, nil, nil},
		{"only updated_at moved", func(s *Snapshot) { s.UpdatedAt = "2024-01-16T11:00:00Z" }, nil, nil},
		{"status", func(s *Snapshot) { s.Status = taskip.StatusResolved }, nil, []string{"Status: Open → Resolved"}},
		{"priority", func(s *Snapshot) { s.Priority = taskip.PriorityUrgent }, nil, []string{"Priority: Normal → Urgent"}},
		{"assigned", func(s *Snapshot) { s.AssigneeID, s.AssigneeName = 8, "David Chen" }, nil, []string{"Assigned to David Chen"}},
		{"unassigned", func(s *Snapshot) {}, nil, nil},
		{"subject", func(s *Snapshot) { s.Subject = "Printer on fire <again>" }, nil, []string{"Subject: Printer on fire &lt;again&gt;"}},
		{"new customer reply with text", func(s *Snapshot) { s.ReplyCount = 2 },
			[]taskip.Reply{reply(10, "client", "old"), reply(11, "client", "It is smoking again")},
			[]string{"New reply from customer Emma Davis:\n> It is smoking again"}},
		{"new agent reply", func(s *Snapshot) { s.ReplyCount = 2 },
			[]taskip.Reply{{ID: 12, Message: "On my way", AuthorType: "team_member", Author: taskip.Person{Name: "Sarah Johnson"}}},
			[]string{"New reply from agent Sarah Johnson:\n> On my way"}},
		{"private replies are not shown", func(s *Snapshot) { s.ReplyCount = 2 },
			[]taskip.Reply{{ID: 13, Message: "internal", IsPrivate: true}}, nil},
		{"reply count moved, no texts sent", func(s *Snapshot) { s.ReplyCount = 3 }, nil, []string{"2 new replies (the server sent no text)"}},
		{"everything at once, in order", func(s *Snapshot) {
			s.Status, s.Priority, s.AssigneeID, s.AssigneeName = taskip.StatusInProgress, taskip.PriorityHigh, 8, "David Chen"
		}, nil, []string{"Status: Open → In Progress", "Priority: Normal → High", "Assigned to David Chen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := baseSnapshot()
			cur := baseSnapshot()
			tt.edit(&cur)
			var got []string
			for _, c := range Diff(old, cur, tt.replies) {
				got = append(got, ThreadText(c, ""))
			}
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("unassigning", func(t *testing.T) {
		old := baseSnapshot()
		old.AssigneeID, old.AssigneeName = 8, "David Chen"
		changes := Diff(old, baseSnapshot(), nil)
		require.Len(t, changes, 1)
		assert.Equal(t, "Unassigned (was David Chen)", ThreadText(changes[0], ""))
	})
}

func TestSnapshotIgnoresCodeRepresentation(t *testing.T) {
	decode := func(body string) taskip.Ticket {
		var tk taskip.Ticket
		// The client's decoder, which is what the watch flow reads with.
		require.NoError(t, jsonv2.Unmarshal([]byte(body), &tk))
		return tk
	}
	ints := SnapshotOf(decode(`{"id":46,"uuid":"u","subject":"s","status":1,"priority":3,"reply_count":2}`))
	names := SnapshotOf(decode(`{"id":"46","uuid":"u","subject":"s","status":"In Progress","priority":"high","reply_count":"2"}`))
	assert.Equal(t, ints, names)
	assert.Empty(t, Diff(ints, names, nil))
}

func TestThreadTextCutsLongReplies(t *testing.T) {
	long := strings.Repeat("ä", 5000)
	text := ThreadText(Change{Kind: ChangeReply, Reply: &taskip.Reply{ID: 1, Message: long}}, "https://taskip.example/t/46")
	assert.LessOrEqual(t, utf8.RuneCountInString(text), 3000)
	assert.Contains(t, text, "<https://taskip.example/t/46|see the full text in TaskIP>")
	assert.True(t, utf8.ValidString(text))
	assert.Equal(t, "This ticket was deleted in TaskIP. The thread stays for the record.", ThreadText(Change{Kind: ChangeDeleted}, ""))
}

func TestParentMessage(t *testing.T) {
	s := baseSnapshot()
	s.AssigneeName = "David <Chen>"
	text, blocks := ParentMessage(s, "https://taskip.example/t/46")
	assert.Equal(t, "Ticket #46: Printer on fire [Open, Normal]", text)
	raw, err := json.Marshal(blocks)
	require.NoError(t, err)
	js := strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(string(raw))
	assert.Contains(t, js, `"type":"header"`)
	assert.Contains(t, js, "#46 Printer on fire")
	assert.Contains(t, js, "David &lt;Chen&gt;", "names are escaped")
	assert.Contains(t, js, "https://taskip.example/t/46")
	assert.Contains(t, js, `"action_id":"`+ActionSetStatus+`"`)
	assert.Contains(t, js, `"action_id":"`+ActionSetPriority+`"`)
	assert.Contains(t, js, `"action_id":"`+ActionAssignMe+`"`)
	assert.Contains(t, js, `"value":"`+s.UUID+`|resolved"`)
	assert.Contains(t, js, `"block_id":"`+BlockPrefix+s.UUID)
	for _, b := range blocks {
		assert.True(t, strings.HasPrefix(blockID(b), BlockPrefix), "every block is marked as ours")
	}

	s.Subject = strings.Repeat("x", 400)
	_, blocks = ParentMessage(s, "")
	raw, _ = json.Marshal(blocks[0])
	var h struct {
		Text struct{ Text string } `json:"text"`
	}
	require.NoError(t, json.Unmarshal(raw, &h))
	assert.LessOrEqual(t, utf8.RuneCountInString(h.Text.Text), 150)
	assert.Len(t, blocks, 3, "no link block without a link")
}

func blockID(b any) string {
	raw, _ := json.Marshal(b)
	var v struct {
		BlockID string `json:"block_id"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.BlockID
}

func TestCustomerLabel(t *testing.T) {
	inbox := taskip.Person{ID: 15, Name: "Support Inbox", Email: "inbox@company.com"}
	emma := taskip.Person{ID: 3, Name: "Emma Davis", Email: "emma@startup.com"}
	for _, tc := range []struct {
		name            string
		user, requester taskip.Person
		want            string
	}{
		{"no mail: the TaskIP user", emma, taskip.Person{}, "Emma Davis <emma@startup.com>"},
		{"the requester is the user", emma, taskip.Person{Name: "Emma", Email: "EMMA@startup.com"}, "Emma Davis <emma@startup.com>"},
		{"filed under a catch-all", inbox, taskip.Person{Name: "Walk In", Email: "walk.in@example.org"},
			"Walk In <walk.in@example.org> (in TaskIP: Support Inbox <inbox@company.com>)"},
		{"no TaskIP user at all", taskip.Person{}, taskip.Person{Email: "walk.in@example.org"}, "walk.in@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, CustomerLabel(tc.user, tc.requester))
		})
	}
}
