package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

func fakeTaskipCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fake-taskip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	key := fs.String("secret-key", "demo-key", "the X-Secret-Key clients must send")
	empty := fs.Bool("empty", false, "start without the example tickets")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := taskipfake.New(taskipfake.Options{SecretKey: *key})
	if !*empty {
		srv.SeedExamples()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "ticketsync fake-taskip: %v\n", err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "fake TaskIP listening; base URL http://%s/api/public-v1 (Ctrl-C to stop)\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "ticketsync fake-taskip: %v\n", err)
		return 1
	}
	return 0
}
