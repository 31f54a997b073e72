// Command ticketsync keeps TaskIP support tickets, a support mailbox and
// Slack in step. This package parses flags and wires packages together; the
// behaviour lives under internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ticketsync/ticketsync/internal/cli"
)

// commands is the top-level usage: every command with its one-line summary,
// in the order an operator meets them.
var commands = cli.Group{
	Summary: "Keep TaskIP support tickets, a support mailbox and Slack in step.",
	Footer:  `Flags are spelled --name and may come before or after a command's arguments; "--" ends them.`,
	Commands: []cli.Spec{
		runSpec, demoSpec, checkConfigSpec, cli.TicketSpec, fakeTaskipSpec, mailAuthorizeSpec,
		stateDumpSpec, stateCheckSpec, stateRestoreSpec, healthcheckSpec, versionSpec,
	},
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain is main without the exit, so tests can run the binary's exact
// entry point in a child process.
func realMain(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dispatch(ctx, args, stdout, stderr)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return commands.UsageError(stderr, errors.New("missing command"))
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "ticket":
		return ticketCmd(ctx, rest, stdout, stderr)
	case "check-config":
		return checkConfigCmd(ctx, rest, stdout, stderr)
	case "fake-taskip":
		return fakeTaskipCmd(ctx, rest, stdout, stderr)
	case "demo":
		return demoCmd(ctx, rest, stdout, stderr)
	case "run":
		return runCmd(ctx, rest, stdout, stderr)
	case "state":
		return stateCmd(rest, stdout, stderr)
	case "mail":
		return mailCmd(ctx, rest, stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(ctx, rest, stdout, stderr)
	case "version":
		return versionCmd(rest, stdout, stderr)
	case "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		if len(rest) > 0 {
			// "help state dump" is "state dump --help".
			return dispatch(ctx, append(rest[:len(rest):len(rest)], "--help"), stdout, stderr)
		}
		commands.WriteHelp(stdout)
		return 0
	}
	if cli.IsHelp(cmd) {
		commands.WriteHelp(stdout)
		return 0
	}
	return commands.UsageError(stderr, fmt.Errorf("unknown command %q", cmd))
}
