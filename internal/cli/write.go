package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// ticketFlags are the fields of create and update.
type ticketFlags struct {
	subject, description          stringFlag
	priority                      priorityFlag
	status                        statusFlag
	attachment, createdBy, userID idFlag
}

func (f *ticketFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.subject, "subject", "the subject `S` (at most 191 characters)")
	fs.Var(&f.priority, "priority", "the `PRIORITY` ("+priorityChoices()+")")
	fs.Var(&f.status, "status", "the `STATUS` ("+statusChoices()+")")
	fs.Var(&f.description, "description", "the description `D`")
	fs.Var(&f.attachment, "attachment", "attach the uploaded media `ID`")
	fs.Var(&f.createdBy, "created-by", "the user `N` who created the ticket")
	fs.Var(&f.userID, "user-id", "the customer (user) `N` the ticket is for")
}

func (f *ticketFlags) fields() taskip.TicketFields {
	return taskip.TicketFields{
		Subject: f.subject.v, Priority: f.priority.v, Status: f.status.v,
		Description: f.description.v, Attachment: f.attachment.v,
		CreatedBy: f.createdBy.v, UserID: f.userID.v,
	}
}

func defineCreate(fs *flag.FlagSet) action {
	var f ticketFlags
	f.register(fs)
	var quiet bool
	fs.BoolVar(&quiet, "quiet", false, "print only the new ticket's id, for scripts")
	return func(ctx context.Context, s *session, _ []string) error {
		if quiet && s.jsonOut {
			return usagef("--quiet and --json exclude each other")
		}
		if f.subject.v == nil || strings.TrimSpace(*f.subject.v) == "" {
			return usagef("--subject is required")
		}
		if f.priority.v == nil {
			return usagef("--priority is required")
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		t, err := c.CreateTicket(ctx, f.fields())
		if err != nil {
			return err
		}
		if quiet {
			if t.ID == 0 {
				// A script would go on with an empty id and act on nothing.
				return fmt.Errorf("ticket created (uuid %q), but the server sent no id", t.UUID)
			}
			return s.printf("%s\n", t.ID)
		}
		if s.jsonOut {
			return s.printJSON(t)
		}
		return s.printf("ticket #%s created: %s\n  uuid %s\n", t.ID, ticketLine(t), t.UUID)
	}
}

func defineUpdate(fs *flag.FlagSet) action {
	var f ticketFlags
	f.register(fs)
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		fields := f.fields()
		if fields == (taskip.TicketFields{}) {
			return usagef("nothing to update: give at least one of --subject, --priority, --status, --description, --attachment, --created-by, --user-id")
		}
		if fields.Subject != nil && strings.TrimSpace(*fields.Subject) == "" {
			return usagef("--subject cannot be empty")
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		t, err := c.UpdateTicket(ctx, id, fields)
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(t)
		}
		return s.printf("ticket %s updated: %s\n", r, ticketLine(t))
	}
}

// deleted is the --json answer of the deletes, which return no body.
type deleted struct {
	ID      taskip.ID `json:"id,omitempty"`
	UUID    string    `json:"uuid,omitempty"`
	NoteID  taskip.ID `json:"note_id,omitempty"`
	Deleted bool      `json:"deleted"`
}

func defineDelete(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		if err := c.DeleteTicket(ctx, id); err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(deleted{ID: id, UUID: r.uuid, Deleted: true})
		}
		return s.printf("ticket %s deleted\n", r)
	}
}

func defineReply(fs *flag.FlagSet) action {
	var (
		status     statusFlag
		attachment idFlag
	)
	fs.Var(&status, "status", "also set the `STATUS` ("+statusChoices()+")")
	fs.Var(&attachment, "attachment", "attach the uploaded media `ID`")
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		text := args[1]
		if strings.TrimSpace(text) == "" {
			return usagef("TEXT is empty")
		}
		c, uuid, err := s.byUUID(ctx, &r)
		if err != nil {
			return err
		}
		reply, err := c.Reply(ctx, uuid, taskip.ReplyFields{Description: text, Status: status.v, Attachment: attachment.v})
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(reply)
		}
		line := "reply " + reply.ID.String() + " added to ticket " + r.String()
		if reply.ID == 0 {
			line = "reply added to ticket " + r.String()
		}
		if status.v != nil {
			line += ", status: " + status.v.Label()
		}
		return s.printf("%s\n", line)
	}
}

// change is the --json answer of status and priority. The reference leaves
// their response undocumented, so the ticket is null unless the server sent
// it; the other keys are always there for scripts.
type change struct {
	ID       taskip.ID        `json:"id,omitempty"`
	UUID     string           `json:"uuid"`
	Status   *taskip.Status   `json:"status,omitempty"`
	Priority *taskip.Priority `json:"priority,omitempty"`
	Ticket   *taskip.Ticket   `json:"ticket"`
}

func defineStatus(fs *flag.FlagSet) action {
	var notes string
	fs.StringVar(&notes, "notes", "", "resolution notes `TEXT` (for resolved or closed)")
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		st, err := parseStatus(args[1])
		if err != nil {
			return err
		}
		c, uuid, err := s.byUUID(ctx, &r)
		if err != nil {
			return err
		}
		t, err := c.SetStatus(ctx, uuid, st, notes)
		if err != nil {
			return err
		}
		return s.printChange(r, uuid, t, change{Status: &st}, "status", st.Label())
	}
}

func definePriority(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		p, err := parsePriority(args[1])
		if err != nil {
			return err
		}
		c, uuid, err := s.byUUID(ctx, &r)
		if err != nil {
			return err
		}
		t, err := c.SetPriority(ctx, uuid, p)
		if err != nil {
			return err
		}
		return s.printChange(r, uuid, t, change{Priority: &p}, "priority", p.Label())
	}
}

func defineNote(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		text := args[1]
		if strings.TrimSpace(text) == "" {
			return usagef("TEXT is empty")
		}
		c, uuid, err := s.byUUID(ctx, &r)
		if err != nil {
			return err
		}
		n, err := c.AddNote(ctx, uuid, text)
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(n)
		}
		if n.ID == 0 {
			return s.printf("note added to ticket %s\n", r)
		}
		return s.printf("note %s added to ticket %s\n", n.ID, r)
	}
}

func defineNoteDelete(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		noteID, err := parsePositiveID("NOTE_ID", args[1])
		if err != nil {
			return err
		}
		c, uuid, err := s.byUUID(ctx, &r)
		if err != nil {
			return err
		}
		if err := c.DeleteNote(ctx, uuid, noteID); err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(deleted{ID: r.id, UUID: uuid, NoteID: noteID, Deleted: true})
		}
		return s.printf("note %s deleted from ticket %s\n", noteID, r)
	}
}

func defineAssign(fs *flag.FlagSet) action {
	var reason string
	fs.StringVar(&reason, "reason", "", "why, in `TEXT` (kept in the ticket history)")
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		member, err := parsePositiveID("MEMBER_ID", args[1])
		if err != nil {
			return err
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		res, err := c.Assign(ctx, id, taskip.AssignFields{AssignedTo: member, Reason: reason})
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(res)
		}
		to := res.NewAssignee
		if to == "" {
			to = "member #" + member.String()
		}
		line := "ticket " + r.String() + " assigned to " + to
		if res.PreviousAssignee != "" {
			line += " (was " + res.PreviousAssignee + ")"
		}
		return s.printf("%s\n", line)
	}
}

// printChange answers a by-uuid setter; the ticket, when the server sent it
// back, supplies the id a uuid reference lacked. label is the value as
// list and show print it ("In Progress"), so that a confirmation can be
// matched against them; --json keeps the API's names.
func (s *session) printChange(r ref, uuid string, t *taskip.Ticket, ch change, field, label string) error {
	if t != nil && r.id == 0 {
		r.id = t.ID
	}
	if s.jsonOut {
		ch.ID, ch.UUID, ch.Ticket = r.id, uuid, t
		return s.printJSON(ch)
	}
	return s.printf("ticket %s %s: %s\n", r, field, label)
}
