// Command ticketsync keeps TaskIP support tickets, a support mailbox and
// Slack in step. This package parses flags and wires packages together; the
// behaviour lives under internal/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `ticketsync keeps TaskIP support tickets, a support mailbox and Slack in step.

Usage:
  ticketsync run --config FILE [--backfill open] [--import-existing unseen|none|all]
                                         the daemon
  ticketsync demo [--keep-running] [--verbose]
                                         the whole product in-process: a scripted story, verified
  ticketsync check-config --config FILE [--connect [--timeout 10s]] [--quiet]
                                         validate a configuration file; --connect also tries
                                         TaskIP, IMAP, SMTP and Slack with it (exit 0: all work)
  ticketsync ticket <verb> ...           operator access to the TaskIP API ("ticket help")
  ticketsync fake-taskip [--listen ADDR] [--secret-key K]
                                         an in-memory TaskIP server to try the CLI against
  ticketsync mail authorize --provider microsoft|google --client-id ID [--client-secret-file F] [--device]
                                         sign the mailbox in once; prints the refresh token for mail.oauth2
  ticketsync state dump [--config FILE | --path FILE]
                                         print the state file as JSON (daemon stopped)
  ticketsync state check [--config FILE | --path FILE]
                                         check the state file (or a backup) for damage
  ticketsync state restore BACKUP [--config FILE | --path FILE]
                                         replace the state file with a backup (daemon stopped)
  ticketsync healthcheck [--config FILE | --url URL] [--timeout 5s]
                                         exit 0 when /readyz answers 200 (container HEALTHCHECK)
  ticketsync version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
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
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ticketsync: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
