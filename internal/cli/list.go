package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// subjectWidth keeps a list row on one line of a wide terminal.
const subjectWidth = 60

func defineList(fs *flag.FlagSet) action {
	var (
		status           statusFlag
		priority         priorityFlag
		assigned, client idFlag
		dateFrom, dateTo dateFlag
		page, limit      positiveInt
		search, category string
		sortField        string
		all              bool
		order            = choiceFlag{choices: []string{"asc", "desc"}}
	)
	fs.Var(&status, "status", "only tickets with this `STATUS` ("+statusChoices()+")")
	fs.Var(&priority, "priority", "only tickets with this `PRIORITY` ("+priorityChoices()+")")
	fs.StringVar(&search, "search", "", "only tickets whose subject or description contains `Q`")
	fs.Var(&assigned, "assigned-to", "only tickets assigned to team member `N`")
	fs.Var(&client, "client-id", "only tickets of client `N`")
	fs.StringVar(&category, "category", "", "only tickets in category `C`")
	fs.Var(&dateFrom, "date-from", "only tickets created on or after `DATE` (YYYY-MM-DD)")
	fs.Var(&dateTo, "date-to", "only tickets created on or before `DATE` (YYYY-MM-DD)")
	fs.StringVar(&sortField, "sort", "", "sort by `FIELD` (created_at, updated_at, priority, status)")
	fs.Var(&order, "order", "sort `ORDER`: asc or desc")
	fs.Var(&page, "page", "fetch page `N` (with --all: start there)")
	fs.Var(&limit, "limit", "`N` tickets per page")
	fs.BoolVar(&all, "all", false, "fetch every page")

	return func(ctx context.Context, s *session, _ []string) error {
		p := taskip.ListParams{
			Page: int(page), Limit: int(limit),
			Search: search, Sort: sortField, Order: order.v,
			Status: status.v, Priority: priority.v,
			AssignedTo: assigned.value(), ClientID: client.value(),
			Category: category, DateFrom: string(dateFrom), DateTo: string(dateTo),
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		if all {
			return listAll(ctx, s, c, p)
		}
		pg, err := c.ListTickets(ctx, p)
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(pg)
		}
		return s.printTickets(pg.Tickets, pageFooter(pg, len(pg.Tickets)))
	}
}

func listAll(ctx context.Context, s *session, c *taskip.Client, p taskip.ListParams) error {
	// Collected before printing so a failure on page 7 does not leave half
	// a table or half a JSON document behind.
	var tickets []taskip.Ticket
	for t, err := range c.ListAll(ctx, p) {
		if err != nil {
			return err
		}
		tickets = append(tickets, t)
	}
	if s.jsonOut {
		return s.printJSON(taskip.TicketPage{Tickets: nonNil(tickets)})
	}
	return s.printTickets(tickets, plural(len(tickets), "ticket", "tickets"))
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// pageFooter is "page 1 of 3, 120 tickets" when the server sent paging
// metadata; without it the row count is all we know.
func pageFooter(pg taskip.TicketPage, rows int) string {
	m := pg.Meta
	if m == nil || m.TotalPages == 0 {
		return plural(rows, "ticket", "tickets")
	}
	return fmt.Sprintf("page %d of %d, %s", m.CurrentPage, m.TotalPages, plural(m.Total, "ticket", "tickets"))
}

func (s *session) printTickets(tickets []taskip.Ticket, footer string) error {
	if len(tickets) == 0 {
		return s.printf("no tickets found\n")
	}
	tb := newTable(s.env.Stdout)
	tb.row("ID", "UUID", "STATUS", "PRIORITY", "CUSTOMER", "ASSIGNEE", "UPDATED", "SUBJECT")
	now := s.now()
	for _, t := range tickets {
		tb.row(t.ID.String(), t.UUID, t.Status.Label(), t.Priority.Label(),
			personName(t.User), shortAssignee(t), updatedOf(now, t), cut(t.Subject, subjectWidth))
	}
	if err := tb.flush(); err != nil {
		return err
	}
	return s.printf("%s\n", footer)
}

// ticketLine is the one-line summary used by write confirmations.
func ticketLine(t taskip.Ticket) string {
	parts := []string{t.Status.Label(), t.Priority.Label()}
	if t.Subject != "" {
		parts = append(parts, fmt.Sprintf("%q", cut(t.Subject, subjectWidth)))
	}
	return strings.Join(parts, ", ")
}
