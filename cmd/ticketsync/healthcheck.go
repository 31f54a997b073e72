package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/health"
)

// healthcheckCmd exits 0 when the daemon's /readyz answers 200 and 1
// otherwise, usage mistakes included: Docker reserves exit code 2 of a
// HEALTHCHECK.
func healthcheckCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file; /readyz is looked for on its http.listen port")
	target := fs.String("url", "", "readiness URL, overrides --config (default "+health.DefaultURL+")")
	timeout := fs.Duration("timeout", health.DefaultTimeout, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ticketsync healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	url := *target
	if url == "" && *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, config.LoadOptions{})
		if err != nil {
			fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
			return 1
		}
		// /readyz lives on metrics_listen when one is set.
		listen := cfg.HTTP.Listen
		if cfg.HTTP.MetricsListen != "" {
			listen = cfg.HTTP.MetricsListen
		}
		if url, err = health.ReadyURL(listen); err != nil {
			fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
			return 1
		}
	}
	if url == "" {
		url = health.DefaultURL
	}
	if err := health.Check(ctx, url, *timeout); err != nil {
		fmt.Fprintf(stderr, "ticketsync healthcheck: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ready\n", url)
	return 0
}
