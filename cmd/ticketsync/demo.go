package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/demo"
)

var demoSpec = cli.Spec{
	Name:     "demo",
	Synopsis: "[--keep-running] [--verbose]",
	Summary:  "Run the whole product in-process against fakes and play a support story, each step verified.",
	Details:  "No account or configuration is needed; the exit code is 0 only when every step was verified.",
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := demoSpec.New()
	keep := cmd.Flags.Bool("keep-running", false, "leave the servers up after the story and print their addresses (Ctrl-C stops)")
	verbose := cmd.Flags.Bool("verbose", false, "also write the daemon's log to stderr")
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		return code
	}
	opts := demo.Options{Out: stdout, KeepRunning: *keep}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := demo.Run(ctx, opts); err != nil {
		return cmd.Fail(stderr, err)
	}
	return 0
}
