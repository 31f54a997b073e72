package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/state"
)

func stateCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dump" {
		fmt.Fprintln(stderr, "usage: ticketsync state dump [--config FILE | --path FILE]")
		return 2
	}
	fs := flag.NewFlagSet("state dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file; its state.path is dumped")
	path := fs.String("path", "", "state file to dump")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *path == "" {
		if *cfgPath == "" {
			*path = config.DefaultStatePath
		} else {
			cfg, err := config.Load(*cfgPath, config.LoadOptions{})
			if err != nil {
				fmt.Fprintf(stderr, "ticketsync state dump: %v\n", err)
				return 1
			}
			*path = cfg.State.Path
		}
	}
	st, err := state.OpenReadOnly(state.Config{Path: *path})
	if err != nil {
		fmt.Fprintf(stderr, "ticketsync state dump: %v\n", err)
		return 1
	}
	defer st.Close()
	if err := st.Dump(stdout); err != nil {
		fmt.Fprintf(stderr, "ticketsync state dump: %v\n", err)
		return 1
	}
	return 0
}
