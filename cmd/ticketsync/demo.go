package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/ticketsync/ticketsync/internal/demo"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep-running", false, "leave the servers up after the story and print their addresses (Ctrl-C stops)")
	verbose := fs.Bool("verbose", false, "also write the daemon's log to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ticketsync demo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	opts := demo.Options{Out: stdout, KeepRunning: *keep}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "ticketsync demo: %v\n", err)
		return 1
	}
	return 0
}
