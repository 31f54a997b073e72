package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/preflight"
)

func checkConfigCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	quiet := fs.Bool("quiet", false, "print nothing when the file is valid (with --connect: only failed checks)")
	connect := fs.Bool("connect", false, "also try every configured connection: TaskIP, IMAP, SMTP, Slack")
	timeout := fs.Duration("timeout", preflight.DefaultTimeout, "with --connect: time allowed for each check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "ticketsync check-config: --config FILE is required")
		return 2
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	switch {
	case timeoutSet && !*connect:
		fmt.Fprintln(stderr, "ticketsync check-config: --timeout needs --connect")
		return 2
	case *timeout <= 0:
		fmt.Fprintln(stderr, "ticketsync check-config: --timeout must be greater than 0")
		return 2
	}
	cfg, err := config.Load(*path, config.LoadOptions{})
	if err != nil {
		var verr *config.ValidationError
		if errors.As(err, &verr) {
			// Nothing but FILE:LINE: lines, which editors and CI jump from.
			fmt.Fprint(stderr, verr.Format(*path))
			return 1
		}
		fmt.Fprintf(stderr, "ticketsync check-config: %v\n", err)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	if *connect {
		return connectChecks(ctx, cfg, *path, *timeout, *quiet, stdout, stderr)
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: ok\n\n# effective configuration, secrets redacted\n%s", *path, cfg)
	}
	return 0
}

// connectChecks runs the connection checks of a valid configuration and
// prints one line each; exit code 0 only when none failed.
func connectChecks(ctx context.Context, cfg *config.Config, path string, timeout time.Duration, quiet bool, stdout, stderr io.Writer) int {
	if !quiet {
		fmt.Fprintf(stdout, "%s: ok; trying its connections (at most %s each)\n", path, timeout)
	}
	results := preflight.Run(ctx, cfg, preflight.Options{Timeout: timeout})
	if err := preflight.Write(stdout, results, quiet); err != nil {
		fmt.Fprintf(stderr, "ticketsync check-config: %v\n", err)
		return 1
	}
	if !preflight.Passed(results) {
		return 1
	}
	return 0
}
