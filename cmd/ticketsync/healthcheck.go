package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/health"
)

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
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file; /healthz is looked for on its http.metrics_listen port, else http.listen")
	urlFlag := fs.String("url", "", "URL to check, overrides --config, e.g. http://127.0.0.1:9090/readyz for readiness (default "+health.DefaultURL+")")
	timeout := fs.Duration("timeout", health.DefaultTimeout, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ticketsync healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 1
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
