package cli

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func defineShow(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		t, err := c.GetTicket(ctx, id)
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(t)
		}
		return s.printTicket(t)
	}
}

func (s *session) printTicket(t taskip.Ticket) error {
	now := s.now()
	replies := t.ReplyCount
	if len(t.Replies) > replies {
		replies = len(t.Replies)
	}
	tb := newTable(s.env.Stdout)
	// Optional fields the server did not send are left out rather than
	// shown as "-".
	field := func(k, v string) {
		if v != "" {
			tb.row(k, v)
		}
	}
	field("id:", t.ID.String())
	field("uuid:", t.UUID)
	field("subject:", t.Subject)
	field("status:", t.Status.Label())
	field("priority:", t.Priority.Label())
	field("customer:", t.User.Display())
	field("created by:", t.CreatedBy.Display())
	if a := assigneeOf(t); a != "" {
		field("assignee:", a)
	} else {
		field("assignee:", "unassigned")
	}
	field("category:", t.Category)
	field("tags:", strings.Join(t.Tags, ", "))
	field("created:", createdOf(now, t))
	if !t.UpdatedAt.IsZero() {
		field("updated:", longTime(now, t.UpdatedAt))
	}
	field("replies:", strconv.Itoa(replies))
	field("attachment:", mediaLine(t.Attachment))
	if err := tb.flush(); err != nil {
		return err
	}
	var b strings.Builder
	if d := strings.TrimSpace(t.Description); d != "" {
		b.WriteString("\n" + d + "\n")
	}
	if len(t.Replies) > 0 {
		b.WriteString("\nReplies:\n")
		for _, r := range t.Replies {
			writeReply(&b, now, r)
		}
	}
	if len(t.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range t.Notes {
			writeEntry(&b, now, "note "+n.ID.String(), personName(n.Author), n.CreatedAt, "", n.Note)
		}
	}
	return s.printf("%s", b.String())
}

func writeReply(b *strings.Builder, now time.Time, r taskip.Reply) {
	var tags []string
	if r.IsPrivate {
		tags = append(tags, "private")
	}
	if r.AuthorType != "" {
		tags = append(tags, strings.ReplaceAll(r.AuthorType, "_", " "))
	}
	if m := mediaLine(r.Attachment); m != "" {
		tags = append(tags, "attachment "+m)
	}
	writeEntry(b, now, "reply "+r.ID.String(), personName(r.Author), r.CreatedAt, strings.Join(tags, ", "), r.Message)
}

// writeEntry prints a heading ("reply 789 · Support Agent · 2h ago") and
// the text indented beneath it, so multi-line messages stay readable.
func writeEntry(b *strings.Builder, now time.Time, what, who string, at taskip.Timestamp, extra, text string) {
	head := []string{what}
	if who != "" {
		head = append(head, who)
	}
	if when := longTime(now, at); when != "" {
		head = append(head, when)
	}
	if extra != "" {
		head = append(head, extra)
	}
	b.WriteString("  " + strings.Join(head, " · ") + "\n")
	if text = strings.TrimSpace(text); text != "" {
		b.WriteString(indent(text, "    ") + "\n")
	}
}
