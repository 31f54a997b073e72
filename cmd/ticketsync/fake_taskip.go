package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

var fakeTaskipSpec = cli.Spec{
	Name:     "fake-taskip",
	Synopsis: "[--listen ADDR] [--secret-key KEY] [--empty]",
	Summary:  "Serve an in-memory TaskIP API to try the ticket CLI against, until SIGTERM or SIGINT.",
	Details: "It starts with example tickets 1, 2, 3 and 45 unless --empty; nothing is kept after it stops.\n" +
		"Point the CLI at it with TASKIP_BASE_URL=http://ADDR/api/public-v1 and TASKIP_SECRET_KEY=KEY.",
}

func fakeTaskipCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := fakeTaskipSpec.New()
	listen := cmd.Flags.String("listen", "127.0.0.1:8081", "the `ADDR` (host:port) to listen on")
	key := cmd.Flags.String("secret-key", "demo-key", "the X-Secret-Key `KEY` clients must send")
	empty := cmd.Flags.Bool("empty", false, "start without the example tickets")
	if code, ok := cmd.Parse(args, stdout, stderr); !ok {
		return code
	}
	srv := taskipfake.New(taskipfake.Options{SecretKey: *key})
	if !*empty {
		srv.SeedExamples()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return cmd.Fail(stderr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fake TaskIP listening; base URL http://%s/api/public-v1 (Ctrl-C or kill stops it)\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return cmd.Fail(stderr, fmt.Errorf("serve %s: %w", ln.Addr(), err))
	}
	return 0
}
