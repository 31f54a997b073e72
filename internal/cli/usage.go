package cli

import (
	"context"
	"flag"
	"strings"
)

// action runs a verb once its flags are parsed and its positional argument
// count is checked.
type action func(ctx context.Context, s *session, args []string) error

// verb is one `ticket <verb>`. The table below is the single source of the
// usage text: help, usage errors and the verb list are all printed from it.
type verb struct {
	name string
	// synopsis follows "ticketsync ticket <name>" in usage lines, as in
	// the README.
	synopsis string
	summary  string
	// args names the positional arguments, all required; a last name
	// ending in "..." takes one or more.
	args []string
	// define registers the verb's flags and returns what runs after parsing.
	define func(fs *flag.FlagSet) action
}

var verbs = []*verb{
	{name: "list", define: defineList,
		synopsis: "[--status S] [--priority P] [--search Q] [--assigned-to N] [--client-id N]\n" +
			"            [--category C] [--date-from D] [--date-to D] [--sort F] [--order asc|desc]\n" +
			"            [--page N] [--limit N] [--all]",
		summary: "List tickets: one page, or every page with --all."},
	{name: "show", define: defineShow, args: []string{"REF"},
		synopsis: "REF",
		summary:  "Show one ticket with its description, replies and notes."},
	{name: "create", define: defineCreate,
		synopsis: "--subject S --priority P [--status S] [--description D]\n" +
			"              [--attachment ID] [--created-by N] [--user-id N] [--quiet]",
		summary: "Create a ticket; --quiet prints only its id."},
	{name: "update", define: defineUpdate, args: []string{"REF"},
		synopsis: "REF [--subject S] [--priority P] [--status S] [--description D]\n" +
			"              [--attachment ID] [--created-by N] [--user-id N]",
		summary: "Change the given fields of a ticket; the others are left alone."},
	{name: "delete", define: defineDelete, args: []string{"REF"},
		synopsis: "REF",
		summary:  "Delete a ticket with its replies and attachments, for good."},
	{name: "reply", define: defineReply, args: []string{"REF", "TEXT"},
		synopsis: "REF TEXT [--status S] [--attachment ID]",
		summary:  "Add a customer-visible reply, optionally changing the status."},
	{name: "status", define: defineStatus, args: []string{"REF", "STATUS"},
		synopsis: "REF STATUS [--notes TEXT]",
		summary:  "Change the status (" + statusChoices() + ")."},
	{name: "priority", define: definePriority, args: []string{"REF", "PRIORITY"},
		synopsis: "REF PRIORITY",
		summary:  "Change the priority (" + priorityChoices() + ")."},
	{name: "note", define: defineNote, args: []string{"REF", "TEXT"},
		synopsis: "REF TEXT",
		summary:  "Add an internal note (not shown to the customer)."},
	{name: "note-delete", define: defineNoteDelete, args: []string{"REF", "NOTE_ID"},
		synopsis: "REF NOTE_ID",
		summary:  "Delete an internal note."},
	{name: "assign", define: defineAssign, args: []string{"REF", "MEMBER_ID"},
		synopsis: "REF MEMBER_ID [--reason TEXT]",
		summary:  "Assign the ticket to a team member."},
	{name: "attach", define: defineAttach, args: []string{"REF", "FILE..."},
		synopsis: "REF FILE... [--description TEXT]",
		summary:  "Upload files to the ticket."},
	{name: "attachments", define: defineAttachments, args: []string{"REF"},
		synopsis: "REF",
		summary:  "List the files stored on the ticket."},
	{name: "bulk", define: defineBulk, args: []string{"ACTION", "REF..."},
		synopsis: "ACTION REF... [--status S] [--assigned-to N] [--tag T]...",
		summary:  "Apply one action to many tickets; ACTION is " + strings.Join(bulkActionNames(), ", ") + "."},
	{name: "analytics", define: defineAnalytics,
		synopsis: "[--period P] [--start-date D] [--end-date D] [--group-by G]",
		summary:  "Show ticket statistics."},
}

func lookupVerb(name string) *verb {
	for _, v := range verbs {
		if v.name == name {
			return v
		}
	}
	return nil
}

func (v *verb) spec() Spec {
	return Spec{Name: "ticket " + v.name, Synopsis: v.synopsis, Summary: v.summary, Args: v.args}
}

// TicketSpec is `ticketsync ticket` in the list of commands.
var TicketSpec = Spec{
	Name:     "ticket",
	Synopsis: "<verb> [flags] [args]",
	Summary:  "Operator access to TaskIP tickets: list, show, create, reply, status, note, attach and more.",
}

const ticketIntro = `REF is a ticket id (46 or #46) or a uuid; the lookup the endpoint needs is
done for you. Flags may come before, between or after the arguments; "--"
ends the flags. STATUS and PRIORITY take a name in any case (in_progress,
"In Progress") or a number; tables and confirmations print "In Progress",
--json the number.`

const ticketFooter = `Every verb also takes:
  --config FILE  connect with the TaskIP section of the daemon's config
  --json         print the result as JSON instead of a table

Without --config the connection comes from the environment:
  TASKIP_SECRET_KEY  the API secret key (required)
  TASKIP_BASE_URL    the API root (default https://public-api.taskip.net/api/public-v1)`

func ticketGroup() Group {
	g := Group{Name: "ticket", Summary: TicketSpec.Summary, Intro: ticketIntro, Footer: ticketFooter}
	for _, v := range verbs {
		g.Commands = append(g.Commands, v.spec())
	}
	return g
}
