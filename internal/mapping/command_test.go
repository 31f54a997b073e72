package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func TestParseSlashCommand(t *testing.T) {
	const u = "550e8400-e29b-41d4-a716-446655440046"
	st := func(s taskip.Status) *taskip.Status { return &s }
	pr := func(p taskip.Priority) *taskip.Priority { return &p }
	tests := []struct {
		in   string
		want SlashCommand
	}{
		{"", SlashCommand{Verb: VerbHelp}},
		{"help", SlashCommand{Verb: VerbHelp}},
		{"status 46 resolved", SlashCommand{Verb: VerbStatus, Ref: TicketRef{ID: 46}, Status: taskip.StatusResolved}},
		{"STATUS #46 in-progress looking at it now", SlashCommand{Verb: VerbStatus, Ref: TicketRef{ID: 46}, Status: taskip.StatusInProgress, Text: "looking at it now"}},
		{"status " + strings.ToUpper(u) + " closed", SlashCommand{Verb: VerbStatus, Ref: TicketRef{UUID: u}, Status: taskip.StatusClosed}},
		{"priority 46 urgent", SlashCommand{Verb: VerbPriority, Ref: TicketRef{ID: 46}, Priority: taskip.PriorityUrgent}},
		{"note 46 customer is on the enterprise plan", SlashCommand{Verb: VerbNote, Ref: TicketRef{ID: 46}, Text: "customer is on the enterprise plan"}},
		{"note-delete #46 12", SlashCommand{Verb: VerbNoteDelete, Ref: TicketRef{ID: 46}, NoteID: 12}},
		{"assign 46 <@U0123ABC|sarah>", SlashCommand{Verb: VerbAssign, Ref: TicketRef{ID: 46}, AssigneeSlackUser: "U0123ABC"}},
		{"assign 46 <@W0999>", SlashCommand{Verb: VerbAssign, Ref: TicketRef{ID: 46}, AssigneeSlackUser: "W0999"}},
		{"assign 46 8", SlashCommand{Verb: VerbAssign, Ref: TicketRef{ID: 46}, AssigneeMemberID: 8}},
		{"reply 46 We are on it.\nSecond line.", SlashCommand{Verb: VerbReply, Ref: TicketRef{ID: 46}, Text: "We are on it.\nSecond line."}},
		{"show 46", SlashCommand{Verb: VerbShow, Ref: TicketRef{ID: 46}}},
		{"list", SlashCommand{Verb: VerbList}},
		{"list open", SlashCommand{Verb: VerbList, ListStatus: st(taskip.StatusOpen)}},
		{"list high pending", SlashCommand{Verb: VerbList, ListStatus: st(taskip.StatusPending), ListPriority: pr(taskip.PriorityHigh)}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSlashCommand(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSlashCommandErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"frobnicate 46", `Unknown command "frobnicate".`},
		{"status", "Which ticket?\nUsage: status <ticket> <open|in_progress|resolved|closed|pending> [notes]"},
		{"status abc resolved", `"abc" is not a ticket id (46, #46) or uuid.`},
		{"status 46 done", `"done" is not a status.`},
		{"status 46", `"" is not a status.`},
		{"priority 46 critical", `"critical" is not a priority.`},
		{"priority 46 high now", `"high now" is not a priority.`},
		{"note 46", "The text is missing."},
		{"reply 46   ", "The text is missing."},
		{"note-delete 46 x", `"x" is not a note id.`},
		{"assign 46", "Give one person: @user or a TaskIP member id."},
		{"assign 46 @sarah", `"@sarah" is neither a @mention nor a member id.`},
		{"show 46 extra", "show takes only a ticket."},
		{"list urgent urgent", `"urgent" is neither a status nor a priority.`},
		{"list 3", `"3" is neither a status nor a priority.`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSlashCommand(tt.in)
			var ue *UsageError
			require.True(t, errors.As(err, &ue), "%v", err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), "got %q", err.Error())
		})
	}
	_, err := ParseSlashCommand("frobnicate")
	assert.Contains(t, err.Error(), "Commands (<ticket> is an id, #id or uuid):", "an unknown verb lists them all")
}

func TestCommandHelp(t *testing.T) {
	h := CommandHelp("/ticket")
	assert.Contains(t, h, "\n  /ticket status <ticket>")
	assert.Contains(t, h, "\n  /ticket list [status] [priority]")
}

func TestClassifyThreadMessage(t *testing.T) {
	tests := []struct {
		text, prefix string
		def          ThreadKind
		kind         ThreadKind
		body         string
	}{
		{"checked the logs", "reply:", ThreadNote, ThreadNote, "checked the logs"},
		{"reply: Hi Emma, fixed.", "reply:", ThreadNote, ThreadReply, "Hi Emma, fixed."},
		{"  REPLY:Hi", "reply:", ThreadNote, ThreadReply, "Hi"},
		{"replying later", "reply:", ThreadNote, ThreadNote, "replying later"},
		{"plain", "reply:", ThreadReply, ThreadReply, "plain"},
		{"short", "a-very-long-prefix:", ThreadNote, ThreadNote, "short"},
	}
	for _, tt := range tests {
		kind, body := ClassifyThreadMessage(tt.text, tt.prefix, tt.def)
		assert.Equal(t, tt.kind, kind, tt.text)
		assert.Equal(t, tt.body, body, tt.text)
	}
}

func FuzzParseSlashCommand(f *testing.F) {
	for _, s := range []string{"", "help", "status 46 resolved notes", "assign #1 <@U1|x>", "list high open", "note-delete 1 2",
		"reply 550e8400-e29b-41d4-a716-446655440046 hi", "priority 1 \u00a0urgent", "status \x00 \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseSlashCommand(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("non-usage error %T: %v", err, err)
			}
			return
		}
		if _, ok := usages[c.Verb]; !ok {
			t.Fatalf("accepted unknown verb %q", c.Verb)
		}
		needsRef := c.Verb != VerbHelp && c.Verb != VerbList
		if needsRef && (c.Ref.ID == 0) == (c.Ref.UUID == "") {
			t.Fatalf("verb %s with ref %+v", c.Verb, c.Ref)
		}
	})
}
