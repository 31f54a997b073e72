package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

func ticketCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.RunTicket(ctx, cli.Env{
		Stdout:        stdout,
		Stderr:        stderr,
		Getenv:        os.Getenv,
		ConnectConfig: clientFromConfig,
		Now:           time.Now,
	}, args)
}

// clientFromConfig builds the TaskIP client from the taskip section of a
// configuration file.
func clientFromConfig(path string) (*taskip.Client, error) {
	cfg, err := config.Load(path, config.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return newTaskIPClient(cfg.TaskIP)
}

func newTaskIPClient(c config.TaskIP) (*taskip.Client, error) {
	return taskip.New(taskip.Config{BaseURL: c.BaseURL, SecretKey: c.SecretKey.Reveal(), Timeout: c.Timeout})
}
