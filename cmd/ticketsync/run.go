package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/daemon"
)

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	backfill := fs.String("backfill", "", `"open": post the open tickets to Slack once on the first run`)
	importExisting := fs.String("import-existing", "", `first start only: "unseen" (default: unread mail within mail.imap.import_window), "none" or "all"`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch *importExisting {
	case "", bridge.ImportUnseen, bridge.ImportNone, bridge.ImportAll:
	default:
		fmt.Fprintln(stderr, `ticketsync run: --import-existing takes "unseen", "none" or "all"`)
		return 2
	}
	if *backfill != "" && *backfill != "open" {
		fmt.Fprintln(stderr, `ticketsync run: --backfill takes "open"`)
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "ticketsync run: --config FILE is required")
		return 2
	}
	cfg, err := config.Load(*path, config.LoadOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "ticketsync run: %v\n", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: "+w.Message, "key", w.Path)
	}
	tuneGC()
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Backfill: *backfill, ImportExisting: *importExisting})
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

// tuneGC lets the heap grow to three times the live data before a
// collection, unless the operator set GOGC. The daemon's live heap is a few
// MiB, so the default collects very often while a backlog is read; this
// halves that cost and stays far below the memory a sidecar is given
// (BENCHMARKS.md: idle footprint and intake RSS).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
