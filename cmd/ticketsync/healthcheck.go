package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/health"
)

var healthcheckSpec = cli.Spec{
	Name:     "healthcheck",
	Synopsis: "[--config FILE | --url URL] [--timeout DURATION]",
	Summary:  "Exit 0 when the daemon's /healthz answers 200, for a container HEALTHCHECK.",
	Details: "Every failure, a usage mistake included, exits 1: Docker reserves exit code 2 of a health check.\n" +
		"Without --config or --url it asks " + health.DefaultURL + ".",
}

// healthcheckCmd exits 0 when the daemon's /healthz answers 200 and 1
// otherwise, usage mistakes included: Docker reserves exit code 2 of a
// HEALTHCHECK.
//
// It asks /healthz, not /readyz, because whoever runs it (Docker's
// HEALTHCHECK with autoheal, ECS, a Kubernetes exec probe) restarts a
// container that fails it. /readyz fails while IMAP or TaskIP is down,
// and restarting ticketsync cures neither: it would only restart in a
// loop for as long as the outage lasts. --url reaches /readyz when
// readiness is what is wanted.
func healthcheckCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := healthcheckSpec.New()
	cfgPath := cmd.Flags.String("config", "", "the configuration `FILE`; /healthz is looked for on its http.metrics_listen port, else http.listen")
	urlFlag := cmd.Flags.String("url", "", "the `URL` to check instead, e.g. http://127.0.0.1:9090/readyz for readiness")
	timeout := cmd.Flags.Duration("timeout", health.DefaultTimeout, "how long to wait for the answer, a `DURATION`")
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		if code != 0 {
			// Docker reserves exit code 2 of a health check.
			return 1
		}
		return 0
	}
	checkURL := *urlFlag
	if checkURL == "" && *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, config.LoadOptions{})
		if err != nil {
			fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
			return 1
		}
		// /healthz lives on metrics_listen when one is set.
		listen := cfg.HTTP.Listen
		if cfg.HTTP.MetricsListen != "" {
			listen = cfg.HTTP.MetricsListen
		}
		if checkURL, err = health.LiveURL(listen); err != nil {
			fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
			return 1
		}
	}
	if checkURL == "" {
		checkURL = health.DefaultURL
	}
	if err := health.Check(ctx, checkURL, *timeout); err != nil {
		fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", checkURL)
	return 0
}
