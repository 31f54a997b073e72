package main

import (
	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/health"
	"github.com/ticketsync/ticketsync/internal/preflight"
)

// check-config and healthcheck parse their own flags (check_config.go,
// healthcheck.go). dispatch parses the arguments with these mirrors first,
// which gives the two the same --help and usage errors as every other
// command; TestFlagMirrors fails when a mirror and the real flags drift
// apart.

var checkConfigSpec = cli.Spec{
	Name:     "check-config",
	Synopsis: "--config FILE [--connect [--timeout DURATION]] [--quiet]",
	Summary:  "Validate a configuration file; with --connect also try TaskIP, IMAP, SMTP and Slack with it.",
	Details: "Problems are printed as FILE:LINE: path: message, never a secret; exit 1 when there is any.\n" +
		"With --connect the exit code is 0 only when every connection worked.",
}

func checkConfigFlags() *cli.Command {
	c := checkConfigSpec.New()
	c.Flags.String("config", "", "the configuration `FILE` (YAML); required")
	c.Flags.Bool("quiet", false, "print nothing when the file is valid (with --connect: only the failed checks)")
	c.Flags.Bool("connect", false, "also try every configured connection: TaskIP, IMAP, SMTP, Slack")
	c.Flags.Duration("timeout", preflight.DefaultTimeout, "with --connect: the time allowed for each check, a `DURATION`")
	return c
}

var healthcheckSpec = cli.Spec{
	Name:     "healthcheck",
	Synopsis: "[--config FILE | --url URL] [--timeout DURATION]",
	Summary:  "Exit 0 when the daemon's /healthz answers 200, for a container HEALTHCHECK.",
	Details: "Every failure, a usage mistake included, exits 1: Docker reserves exit code 2 of a health check.\n" +
		"Without --config or --url it asks " + health.DefaultURL + ".",
}

func healthcheckFlags() *cli.Command {
	c := healthcheckSpec.New()
	c.Flags.String("config", "", "the configuration `FILE`; /healthz is looked for on its http.metrics_listen port, else http.listen")
	c.Flags.String("url", "", "the `URL` to check instead, e.g. http://127.0.0.1:9090/readyz for readiness")
	c.Flags.Duration("timeout", health.DefaultTimeout, "how long to wait for the answer, a `DURATION`")
	return c
}
