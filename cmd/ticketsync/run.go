package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/daemon"
)

var runSpec = cli.Spec{
	Name:     "run",
	Synopsis: "--config FILE [--backfill open] [--import-existing unseen|none|all]",
	Summary:  "Run the daemon: mailbox, TaskIP and Slack in step until SIGTERM or SIGINT.",
	Details: "It serves /healthz, /readyz and /metrics on http.listen (or http.metrics_listen) and logs\n" +
		"to stderr. SIGTERM or SIGINT finishes the message in flight and exits 0.",
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := runSpec.New()
	path := cmd.Flags.String("config", "", "the configuration `FILE` (YAML); required")
	backfill := cmd.Flags.String("backfill", "", "with the value `open`, post the open tickets to Slack once, on the first run")
	importExisting := cmd.Flags.String("import-existing", "",
		"first start only: the mail already in the mailbox to import, `MODE` unseen (the default), none or all")
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		return code
	}
	switch *importExisting {
	case "", bridge.ImportUnseen, bridge.ImportNone, bridge.ImportAll:
	default:
		return cmd.Usagef(stderr, `--import-existing takes "unseen", "none" or "all"`)
	}
	if *backfill != "" && *backfill != "open" {
		return cmd.Usagef(stderr, `--backfill takes "open"`)
	}
	if *path == "" {
		return cmd.Usagef(stderr, "--config FILE is required")
	}
	cfg, err := config.Load(*path, config.LoadOptions{})
	if err != nil {
		return cmd.Fail(stderr, err)
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: "+w.Message, "key", w.Path)
	}
	tuneGC()
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Version: versionString(), Backfill: *backfill, ImportExisting: *importExisting})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		return 1
	}
	return 0
}

// tuneGC lets the heap grow to two and a half times the live data before a
// collection, unless the operator set GOGC. The daemon's live heap is a few
// MiB, so the default collects very often while a backlog is read; 150
// keeps the throughput 200 gave for a few per cent more CPU, with a burst's
// peak further below 32 MiB (BENCHMARKS.md: idle footprint and intake RSS).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(150)
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
