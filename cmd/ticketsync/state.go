package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/state"
)

const stateUsage = `usage: ticketsync state dump [--config FILE | --path FILE]     print the state file as JSON
       ticketsync state check [--config FILE | --path FILE]    full consistency check; exit 0 when clean
       ticketsync state restore BACKUP [--config FILE | --path FILE]
                                                               replace the state file with a checked copy of BACKUP
All three need the daemon stopped.`

func stateCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, stateUsage)
		return 2
	}
	verb := args[0]
	switch verb {
	case "dump", "check", "restore":
	default:
		fmt.Fprintln(stderr, stateUsage)
		return 2
	}
	rest := args[1:]
	// restore takes its backup before or after the flags.
	var backup string
	if verb == "restore" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		backup, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("state "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file; its state.path is the state file")
	path := fs.String("path", "", "state file")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if verb == "restore" && backup == "" && fs.NArg() == 1 {
		backup = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintln(stderr, stateUsage)
		return 2
	}
	if verb == "restore" && backup == "" {
		fmt.Fprintln(stderr, "ticketsync state restore: which backup? usage: ticketsync state restore BACKUP [--config FILE | --path FILE]")
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ticketsync state %s: %v\n", verb, err)
		return 1
	}
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
