// Package demo plays ticketsync's story end to end inside one process: a
// fake TaskIP, go-imap's memory server, an SMTP sink and a fake Slack Web
// API on loopback, and between them the real daemon, built from a
// configuration file by the same code as `ticketsync run`.
//
// Every step is verified against what the fakes recorded, never against
// the daemon's own account of it, so the demo doubles as the product's
// end-to-end smoke test.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// defaultStepTimeout bounds the wait for one step. The slowest path, a
// TaskIP poll on "@every 1s", needs about a second.
const defaultStepTimeout = 5 * time.Second

// Options configure Run and Start.
type Options struct {
	// Out receives the timeline; nil discards it.
	Out io.Writer
	// KeepRunning leaves everything up after the story, prints the
	// addresses and what the fakes record, until ctx ends.
	KeepRunning bool
	// Logger also receives the daemon's log. The log is kept in memory
	// regardless and printed when a step fails.
	Logger *slog.Logger
	// StepTimeout bounds each step; default 5 s.
	StepTimeout time.Duration
}

func (o Options) stepTimeout() time.Duration {
	if o.StepTimeout > 0 {
		return o.StepTimeout
	}
	return defaultStepTimeout
}

// Result is how far the story got.
type Result struct {
	Steps    int           // in the story
	Verified int           // steps verified, in order
	Ticket   int           // the ticket the story opened
	Took     time.Duration // from the first email to the last verified step
}

// Run starts the world, plays the story and shuts everything down (after
// ctx ends, with KeepRunning). It returns nil only when every step was
// verified and the daemon stopped cleanly.
func Run(ctx context.Context, opts Options) error {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	begin := time.Now()
	fmt.Fprintln(out, "ticketsync demo: fake TaskIP, IMAP, SMTP and Slack on 127.0.0.1, the real daemon between them.")
	logs := newLogBuffer()
	w, err := start(ctx, opts, logs)
	if err != nil {
		fmt.Fprintf(out, "  ✗ the daemon did not start: %v\n", err)
		printLogTail(out, logs.String())
		return err
	}
	fmt.Fprintf(out, "  · %-62s %s\n", "daemon started from a config file; IMAP connected, TaskIP polled", formatDuration(time.Since(begin)))
	res, err := w.Play(ctx, out, opts.stepTimeout())
	if err != nil {
		printLogTail(out, w.DaemonLog())
		_ = w.Close()
		return err
	}
	fmt.Fprintf(out, "All %d steps verified in %s. Times run from the action that caused each step;\n", res.Steps, res.Took.Round(time.Millisecond))
	fmt.Fprintln(out, "Slack posts go out at once; the daemon waits only when Slack answers 429.")
	if opts.KeepRunning {
		w.printAddresses(out, res.Ticket)
		if err := w.feed(ctx, out); err != nil {
			fmt.Fprintf(out, "  ✗ %v\n", err)
			printLogTail(out, w.DaemonLog())
			_ = w.Close()
			return err
		}
		fmt.Fprintln(out, "Stopping.")
	}
	if err := w.Close(); err != nil {
		fmt.Fprintf(out, "  ✗ the daemon stopped with errors: %v\n", err)
		printLogTail(out, w.DaemonLog())
		return fmt.Errorf("daemon shutdown: %w", err)
	}
	fmt.Fprintf(out, "Everything stopped and the state file removed; %s in all.\n", time.Since(begin).Round(time.Millisecond))
	return nil
}

// printLogTail shows the end of the daemon's log, which is what explains a
// failed step.
func printLogTail(out io.Writer, log string) {
	const maxLines = 40
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	fmt.Fprintf(out, "\nThe daemon's log (last %d lines):\n", len(lines))
	for _, l := range lines {
		fmt.Fprintln(out, "  "+l)
	}
}
