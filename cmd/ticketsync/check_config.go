package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/preflight"
)

var checkConfigSpec = cli.Spec{
	Name:     "check-config",
	Synopsis: "--config FILE [--connect [--timeout DURATION]] [--quiet]",
	Summary:  "Validate a configuration file; with --connect also try TaskIP, IMAP, SMTP and Slack with it.",
	Details: "Problems are printed as FILE:LINE: path: message, never a secret; exit 1 when there is any.\n" +
		"With --connect the exit code is 0 only when every connection worked.",
}

func checkConfigCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := checkConfigSpec.New()
	path := cmd.Flags.String("config", "", "the configuration `FILE` (YAML); required")
	quiet := cmd.Flags.Bool("quiet", false, "print nothing when the file is valid (with --connect: only the failed checks)")
	connect := cmd.Flags.Bool("connect", false, "also try every configured connection: TaskIP, IMAP, SMTP, Slack")
	timeout := cmd.Flags.Duration("timeout", preflight.DefaultTimeout, "with --connect: the time allowed for each check, a `DURATION`")
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		return code
	}
	if *path == "" {
		return cmd.Usagef(stderr, "--config FILE is required")
	}
	timeoutSet := false
	cmd.Flags.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	switch {
	case timeoutSet && !*connect:
		return cmd.Usagef(stderr, "--timeout needs --connect")
	case *timeout <= 0:
		return cmd.Usagef(stderr, "--timeout must be greater than 0")
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
