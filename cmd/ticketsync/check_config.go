package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ticketsync/ticketsync/internal/config"
)

func checkConfigCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	quiet := fs.Bool("quiet", false, "print nothing when the file is valid")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "ticketsync check-config: --config FILE is required")
		return 2
	}
	cfg, err := config.Load(*path, config.LoadOptions{})
	if err != nil {
		var verr *config.ValidationError
		if errors.As(err, &verr) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(verr.Problems))
			for _, p := range verr.Problems {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
			return 1
		}
		fmt.Fprintf(stderr, "ticketsync check-config: %v\n", err)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: ok\n\n# effective configuration, secrets redacted\n%s", *path, cfg)
	}
	return 0
}
