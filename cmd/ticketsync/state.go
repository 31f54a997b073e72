package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/state"
)

// The state verbs take the state file from --path, else from the
// state.path of --config, else the default.
const stateDetails = "Without --config or --path the state file is " + config.DefaultStatePath + "."

var (
	stateDumpSpec = cli.Spec{
		Name:     "state dump",
		Synopsis: "[--config FILE | --path FILE]",
		Summary:  "Print the state file as JSON (daemon stopped).",
		Details:  stateDetails,
	}
	stateCheckSpec = cli.Spec{
		Name:     "state check",
		Synopsis: "[--config FILE | --path FILE]",
		Summary:  "Check the state file, or a backup given as --path, for damage; exit 0 when clean.",
		Details:  stateDetails,
	}
	stateRestoreSpec = cli.Spec{
		Name:     "state restore",
		Synopsis: "BACKUP [--config FILE | --path FILE]",
		Summary:  "Replace the state file with a checked copy of BACKUP (daemon stopped).",
		Details:  stateDetails + "\nThe file replaced is kept next to it as <file>.before-restore-<time>.",
		Args:     []string{"BACKUP"},
	}
	stateGroup = cli.Group{
		Name:     "state",
		Summary:  "Print, check or restore the daemon's state file; every verb needs the daemon stopped.",
		Commands: []cli.Spec{stateDumpSpec, stateCheckSpec, stateRestoreSpec},
	}
)

func stateCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return stateGroup.UsageError(stderr, errors.New("missing verb"))
	}
	verb := args[0]
	if cli.IsHelp(verb) || verb == "help" {
		stateGroup.WriteHelp(stdout)
		return 0
	}
	spec, ok := stateGroup.Lookup(verb)
	if !ok {
		return stateGroup.UsageError(stderr, fmt.Errorf("unknown verb %q", verb))
	}
	cmd := spec.New()
	cfgPath := cmd.Flags.String("config", "", "the configuration `FILE`; its state.path is the state file")
	path := cmd.Flags.String("path", "", "the state `FILE` itself")
	if code, ok := cmd.Parse(args[1:], stdout, stderr); !ok {
		return code
	}
	var backup string
	if verb == "restore" {
		backup = cmd.Positional()[0]
	}
	fail := func(err error) int { return cmd.Fail(stderr, err) }
	if *path == "" {
		if *cfgPath == "" {
			*path = config.DefaultStatePath
		} else {
			cfg, err := config.Load(*cfgPath, config.LoadOptions{})
			if err != nil {
				return fail(err)
			}
			*path = cfg.State.Path
		}
	}
	switch verb {
	case "check":
		return stateCheck(*path, stdout, stderr)
	case "restore":
		return stateRestore(backup, *path, stdout, stderr)
	}
	st, err := state.OpenReadOnly(state.Config{Path: *path})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	if err := st.Dump(stdout); err != nil {
		return fail(err)
	}
	return 0
}

// stateCheck prints "ok", or each problem and what to do about them.
func stateCheck(path string, stdout, stderr io.Writer) int {
	st, err := state.OpenReadOnly(state.Config{Path: path})
	if err == nil {
		err = st.Check()
		_ = st.Close()
	}
	var damage *state.DamageError
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "ok  %s\n", path)
		return 0
	case errors.As(err, &damage):
		fmt.Fprintf(stdout, "%s is damaged:\n", path)
		for _, p := range damage.Problems {
			fmt.Fprintf(stdout, "  %s\n", p)
		}
		fmt.Fprintln(stderr, state.Remedy(path)+".")
		return 1
	}
	fmt.Fprintf(stderr, "ticketsync state check: %v\n", err)
	return 1
}

func stateRestore(backup, path string, stdout, stderr io.Writer) int {
	res, err := state.Restore(backup, state.Config{Path: path})
	if err != nil {
		fmt.Fprintf(stderr, "ticketsync state restore: %v\n", err)
		fmt.Fprintf(stderr, "%s was not changed.\n", path)
		return 1
	}
	fmt.Fprintf(stdout, "checked %s: ok\n", backup)
	if res.Kept != "" {
		fmt.Fprintf(stdout, "kept the previous state file as %s\n", res.Kept)
	} else {
		fmt.Fprintf(stdout, "there was no state file at %s to keep\n", path)
	}
	if at := res.Rewound.BackupAt; !at.IsZero() {
		fmt.Fprintf(stdout, "the backup is of %s; on its next start the daemon takes a new baseline of the tickets "+
			"(nothing since is posted again) and finds their Slack threads from then on in the channel\n", at.UTC().Format(time.RFC3339))
	}
	if n := res.Rewound.Mail; n > 0 {
		fmt.Fprintf(stdout, "%d email(s) waiting in the backup's outbox may have been sent since: not sent again, each named in the channel\n", n)
	}
	if n := res.Rewound.Imports; n > 0 {
		fmt.Fprintf(stdout, "%d email import(s) under way at the backup: finished from TaskIP without an acknowledgement, which may have gone out since\n", n)
	}
	if n := res.Rewound.Replies; n > 0 {
		fmt.Fprintf(stdout, "%d agent reply(ies) being saved at the backup: not emailed now, each named in the channel\n", n)
	}
	fmt.Fprintf(stdout, "restored %s to %s; start the daemon again\n", backup, res.Path)
	return 0
}
