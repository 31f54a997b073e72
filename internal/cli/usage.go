package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// action runs a verb once its flags are parsed and its positional argument
// count is checked.
type action func(ctx context.Context, s *session, args []string) error

// verb is one `ticket <verb>`. The table below is the single source of the
// usage text: help, usage errors and the verb list are all printed from it.
type verb struct {
	name string
	// synopsis follows "ticketsync ticket" in usage lines, as in the README.
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
		synopsis: "list [--status S] [--priority P] [--search Q] [--assigned-to N] [--client-id N]\n" +
			"            [--category C] [--date-from D] [--date-to D] [--sort F] [--order asc|desc]\n" +
			"            [--page N] [--limit N] [--all]",
		summary: "List tickets: one page, or every page with --all."},
	{name: "show", define: defineShow, args: []string{"REF"},
		synopsis: "show REF",
		summary:  "Show one ticket with its description, replies and notes."},
	{name: "create", define: defineCreate,
		synopsis: "create --subject S --priority P [--status S] [--description D]\n" +
			"              [--attachment ID] [--created-by N] [--user-id N]",
		summary: "Create a ticket."},
	{name: "update", define: defineUpdate, args: []string{"REF"},
		synopsis: "update REF [--subject S] [--priority P] [--status S] [--description D]\n" +
			"              [--attachment ID] [--created-by N] [--user-id N]",
		summary: "Change the given fields of a ticket; the others are left alone."},
	{name: "delete", define: defineDelete, args: []string{"REF"},
		synopsis: "delete REF",
		summary:  "Delete a ticket with its replies and attachments, for good."},
	{name: "reply", define: defineReply, args: []string{"REF", "TEXT"},
		synopsis: "reply REF TEXT [--status S] [--attachment ID]",
		summary:  "Add a customer-visible reply, optionally changing the status."},
	{name: "status", define: defineStatus, args: []string{"REF", "STATUS"},
		synopsis: "status REF STATUS [--notes TEXT]",
		summary:  "Change the status (" + statusChoices() + ")."},
	{name: "priority", define: definePriority, args: []string{"REF", "PRIORITY"},
		synopsis: "priority REF PRIORITY",
		summary:  "Change the priority (" + priorityChoices() + ")."},
	{name: "note", define: defineNote, args: []string{"REF", "TEXT"},
		synopsis: "note REF TEXT",
		summary:  "Add an internal note (not shown to the customer)."},
	{name: "note-delete", define: defineNoteDelete, args: []string{"REF", "NOTE_ID"},
		synopsis: "note-delete REF NOTE_ID",
		summary:  "Delete an internal note."},
	{name: "assign", define: defineAssign, args: []string{"REF", "MEMBER_ID"},
		synopsis: "assign REF MEMBER_ID [--reason TEXT]",
		summary:  "Assign the ticket to a team member."},
	{name: "attach", define: defineAttach, args: []string{"REF", "FILE..."},
		synopsis: "attach REF FILE... [--description TEXT]",
		summary:  "Upload files to the ticket."},
	{name: "attachments", define: defineAttachments, args: []string{"REF"},
		synopsis: "attachments REF",
		summary:  "List the files stored on the ticket."},
	{name: "bulk", define: defineBulk, args: []string{"ACTION", "REF..."},
		synopsis: "bulk ACTION REF... [--status S] [--assigned-to N] [--tag T]...",
		summary:  "Apply one action to many tickets; ACTION is " + strings.Join(bulkActionNames(), ", ") + "."},
	{name: "analytics", define: defineAnalytics,
		synopsis: "analytics [--period P] [--start-date D] [--end-date D] [--group-by G]",
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

func (v *verb) usageLine() string { return "ticketsync ticket " + v.synopsis }

// checkArgs enforces the positional count, naming what is missing.
func (v *verb) checkArgs(pos []string) error {
	variadic := len(v.args) > 0 && strings.HasSuffix(v.args[len(v.args)-1], "...")
	if len(pos) < len(v.args) {
		return usagef("missing %s", strings.TrimSuffix(v.args[len(pos)], "..."))
	}
	if !variadic && len(pos) > len(v.args) {
		return usagef("unexpected argument %q (quote text that has spaces)", pos[len(v.args)])
	}
	return nil
}

const usageIntro = `usage: ticketsync ticket <verb> [flags] [args]

Operator access to TaskIP tickets. REF is a ticket id (46 or #46) or a
uuid; the lookup the endpoint needs is done for you. Flags may come before,
between or after the arguments; "--" ends the flags. STATUS and PRIORITY
take a name in any case (in_progress, "In Progress") or a number.
`

const usageFooter = `
Every verb also takes:
  --config FILE  connect with the TaskIP section of the daemon's config
  --json         print the result as JSON instead of a table

Without --config the connection comes from the environment:
  TASKIP_SECRET_KEY  the API secret key (required)
  TASKIP_BASE_URL    the API root (default https://public-api.taskip.net/api/public-v1)

Run 'ticketsync ticket <verb> --help' for the flags of one verb.
`

func writeUsage(w io.Writer) {
	io.WriteString(w, usageIntro+"\nverbs:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range verbs {
		fmt.Fprintf(tw, "  %s\t%s\n", v.name, v.summary)
	}
	tw.Flush()
	io.WriteString(w, usageFooter)
}

// writeVerbList follows an unknown or missing verb on Stderr.
func writeVerbList(w io.Writer) {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	fmt.Fprintf(w, "verbs: %s\n", strings.Join(names, ", "))
	io.WriteString(w, "run 'ticketsync ticket help' for usage\n")
}

// writeVerbHelp prints flags GNU-style (--name), the way the README and our
// usage lines spell them, rather than flag.PrintDefaults' single dash.
func writeVerbHelp(w io.Writer, v *verb, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", v.usageLine(), v.summary)
	var local, global []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "json" {
			global = append(global, f)
		} else {
			local = append(local, f)
		}
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, group := range [][]*flag.Flag{local, global} {
		if len(group) == 0 {
			continue
		}
		fmt.Fprintln(tw)
		for _, f := range group {
			name, usage := flag.UnquoteUsage(f)
			if isBoolFlag(f) {
				name = ""
			}
			fmt.Fprintf(tw, "  --%s\t%s\n", strings.TrimSpace(f.Name+" "+name), usage)
		}
	}
	tw.Flush()
}
