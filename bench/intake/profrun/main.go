// Command profrun is `ticketsync run` with a CPU profiler around it, for the
// intake benchmark only (bench/intake). The wiring below is a copy of
// cmd/ticketsync/run.go: keep it in step. The daemon itself has no profiling
// hook; this wrapper is how the harness profiles the child process.
//
// TICKETSYNC_BENCH_CPUPROFILE=PREFIX writes PREFIX.0.pprof from start; every
// SIGUSR1 closes the current profile (plus PREFIX.N.heap.pprof, the heap at
// that moment) and starts PREFIX.N+1.pprof, so the harness can cut the
// profile at its phase boundaries. TICKETSYNC_BENCH_TRACE=FILE also records
// an execution trace of the first segment (start to the first SIGUSR1), for
// off-CPU time: `go tool trace -pprof=syscall|net|sync FILE`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"syscall"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil || *path == "" {
		fmt.Fprintln(os.Stderr, "profrun: usage: profrun run --config FILE")
		return 2
	}
	p := &profiler{prefix: os.Getenv("TICKETSYNC_BENCH_CPUPROFILE")}
	if p.prefix != "" {
		if err := p.start(); err != nil {
			fmt.Fprintln(os.Stderr, "profrun:", err)
			return 1
		}
		rotate := make(chan os.Signal, 1)
		signal.Notify(rotate, syscall.SIGUSR1)
		go func() {
			for range rotate {
				if err := p.rotate(); err != nil {
					fmt.Fprintln(os.Stderr, "profrun:", err)
				}
			}
		}()
		defer p.finish()
	}

	cfg, err := config.Load(*path, config.LoadOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ticketsync run: %v\n", err)
		return 1
	}
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	var log *slog.Logger
	if cfg.Log.Format == "json" {
		log = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(150) // as cmd/ticketsync's run does
	}
	d, err := daemon.New(cfg, daemon.Options{Logger: log})
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

type profiler struct {
	prefix string
	mu     sync.Mutex
	n      int
	f      *os.File
	trace  *os.File
}

func (p *profiler) start() error {
	f, err := os.Create(fmt.Sprintf("%s.%d.pprof", p.prefix, p.n))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f = f
	if path := os.Getenv("TICKETSYNC_BENCH_TRACE"); path != "" && p.n == 0 {
		t, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := trace.Start(t); err != nil {
			t.Close()
			return err
		}
		p.trace = t
	}
	return nil
}

// stop ends the current CPU profile and writes the heap next to it.
func (p *profiler) stop() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	if p.trace != nil {
		trace.Stop()
		if terr := p.trace.Close(); terr != nil && err == nil {
			err = terr
		}
		p.trace = nil
	}
	h, herr := os.Create(fmt.Sprintf("%s.%d.heap.pprof", p.prefix, p.n))
	if herr != nil {
		return herr
	}
	runtime.GC()
	if werr := pprof.Lookup("heap").WriteTo(h, 0); werr != nil && err == nil {
		err = werr
	}
	if cerr := h.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (p *profiler) rotate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stop(); err != nil {
		return err
	}
	p.n++
	return p.start()
}

func (p *profiler) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "profrun:", err)
	}
}
