package cli

import (
	"context"
	"flag"
	"strings"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// bulkActions maps what an operator may type to the API's action and the
// flag the action needs; aliases follow the verbs of the other commands.
var bulkActions = []struct {
	name    string
	aliases []string
	needs   string
}{
	{name: taskip.BulkDelete},
	{name: taskip.BulkStatusUpdate, aliases: []string{"status"}, needs: "--status"},
	{name: taskip.BulkAssign, needs: "--assigned-to"},
	{name: taskip.BulkAddTags, aliases: []string{"tag", "tags"}, needs: "--tag"},
}

func bulkActionNames() []string {
	names := make([]string, len(bulkActions))
	for i, a := range bulkActions {
		names[i] = a.name
	}
	return names
}

func parseBulkAction(s string) (string, error) {
	n := strings.ReplaceAll(strings.ToLower(s), "-", "_")
	for _, a := range bulkActions {
		if n == a.name {
			return a.name, nil
		}
		for _, alias := range a.aliases {
			if n == alias {
				return a.name, nil
			}
		}
	}
	return "", usagef("unknown bulk action %q (want one of %s)", s, strings.Join(bulkActionNames(), ", "))
}

// bulkResult is the --json answer: what was asked and what the server said.
type bulkResult struct {
	Action    string      `json:"action"`
	TicketIDs []taskip.ID `json:"ticket_ids"`
	Message   string      `json:"message"`
}

func defineBulk(fs *flag.FlagSet) action {
	var (
		status   statusFlag
		assigned idFlag
		tags     listFlag
	)
	fs.Var(&status, "status", "the `STATUS` for status_update ("+statusChoices()+")")
	fs.Var(&assigned, "assigned-to", "the team member `N` for assign")
	fs.Var(&tags, "tag", "a `TAG` for add_tags (repeat for more)")
	return func(ctx context.Context, s *session, args []string) error {
		act, err := parseBulkAction(args[0])
		if err != nil {
			return err
		}
		params, err := bulkParams(act, status.v, assigned.v, tags)
		if err != nil {
			return err
		}
		refs, err := parseRefs(args[1:])
		if err != nil {
			return err
		}
		c, err := s.api()
		if err != nil {
			return err
		}
		ids := make([]taskip.ID, len(refs))
		for i := range refs {
			if ids[i], err = resolveID(ctx, c, &refs[i]); err != nil {
				return err
			}
		}
		msg, err := c.Bulk(ctx, taskip.BulkFields{TicketIDs: ids, Action: act, Parameters: params})
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(bulkResult{Action: act, TicketIDs: ids, Message: msg})
		}
		names := make([]string, len(refs))
		for i, r := range refs {
			names[i] = r.String()
		}
		line := act + " on " + plural(len(ids), "ticket", "tickets") + " (" + strings.Join(names, ", ") + ")"
		if msg != "" {
			line += ": " + msg
		}
		return s.printf("%s\n", line)
	}
}

// bulkParams checks that the flags fit the action: a flag the action ignores
// is a mistake worth stopping for, since the server would drop it silently.
func bulkParams(act string, st *taskip.Status, assigned *taskip.ID, tags []string) (*taskip.BulkParameter, error) {
	given := map[string]bool{"--status": st != nil, "--assigned-to": assigned != nil, "--tag": len(tags) > 0}
	var needs string
	for _, a := range bulkActions {
		if a.name == act {
			needs = a.needs
		}
	}
	if needs != "" && !given[needs] {
		return nil, usagef("bulk %s needs %s", act, needs)
	}
	for _, f := range []string{"--status", "--assigned-to", "--tag"} {
		if given[f] && f != needs {
			return nil, usagef("%s does not apply to bulk %s", f, act)
		}
	}
	if needs == "" {
		return nil, nil
	}
	return &taskip.BulkParameter{Status: st, AssignedTo: assigned, Tags: tags}, nil
}
