package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/webserver"
)

// Run serves until ctx ends or a part fails, then stops the parts in
// order (each finishing the item in flight), closes the state file and
// returns. The error is nil on a clean shutdown.
//
// The order of the stop is the order work flows in: first what takes work
// in from outside (the HTTP listeners with Slack's requests, Socket Mode,
// the mail intake), so nothing new starts; then the flows that act on it
// (the ticket watch, agents' commands, alerts, the digest, backups,
// pruning), which may still queue mail while they finish; the outbox
// last, so the mail they queued meets a running outbox. All stages share
// one deadline (Options.ShutdownTimeout).
func (d *Daemon) Run(ctx context.Context) error {
	g := newGroup(ctx)
	inbound, flows, outbound := g.stage("inbound"), g.stage("flows"), g.stage("outbound")

	inbound.serve("http", d.public, d.ln)
	if d.private != nil {
		inbound.serve("http metrics", d.private, d.privateLn)
	}
	if d.socket != nil {
		inbound.run("slack socket mode", func(ctx context.Context) error { return slack.RunSocketMode(ctx, *d.socket) })
	}
	if d.intake != nil {
		inbound.run("intake", d.intake.Run)
	}
	if d.watch != nil {
		flows.run("watch", d.watch.Run)
	}
	if d.commands != nil {
		flows.run("commands", d.commands.Run)
	}
	if d.alerts != nil {
		flows.run("alerts", d.alerts.Run) // failures are logged and retried inside
	}
	if d.digest != nil {
		flows.run("digest", d.digest.Run) // a failed digest is logged and tried at the next scheduled time
	}
	if d.backups != nil {
		flows.run("backups", d.backups.Run) // a failed backup is logged and tried at the next scheduled time
	}
	flows.run("prune", func(ctx context.Context) error { d.pruneDaily(ctx); return nil })
	flows.run("trim", func(ctx context.Context) error { d.trimMemory(ctx); return nil })
	if d.outbox != nil {
		outbound.run("outbox", func(ctx context.Context) error {
			defer d.sender.Close()
			return d.outbox.Run(ctx)
		})
	}
	d.log.Info("ticketsync running", d.startFields()...)

	<-g.stopping.Done()
	d.log.Info("shutting down")
	deadline, cancel := g.startDrain(d.shutdown)
	defer cancel()
	if d.inbox != nil {
		// At the deadline, closing the connection ends an IDLE the intake
		// still waits in; before it, the intake finishes its item.
		stopClose := context.AfterFunc(deadline, func() { _ = d.inbox.Close() })
		defer stopClose()
	}
	clean := g.stopInOrder(deadline)
	if !clean {
		d.log.Error("flows did not stop in time; exiting anyway")
	} else if err := d.store.Close(); err != nil {
		g.fail("state", err)
	}
	// Without a clean stop the state file stays open: a flow still running
	// may be in a transaction, and the process exits anyway.
	return g.err()
}

// group runs the daemon's parts: every goroutine belongs to one stage, and
// every stage to the group, which owns their stop. The first part to fail
// stops the whole group; errors are collected under a lock, so a part
// that ends late can still report without anything being closed under it.
type group struct {
	stopping context.Context // done when ctx ends or a part fails
	stop     context.CancelFunc
	stages   []*stage

	mu    sync.Mutex
	errs  []error
	drain context.Context // the shared deadline, once the stop began
}

func newGroup(ctx context.Context) *group {
	stopping, stop := context.WithCancel(ctx)
	return &group{stopping: stopping, stop: stop}
}

// stage is a set of parts stopped together.
type stage struct {
	g      *group
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// stage adds the next stage to stop: stages stop in the order made.
func (g *group) stage(name string) *stage {
	// Not derived from stopping: each stage runs until its turn comes.
	ctx, cancel := context.WithCancel(context.WithoutCancel(g.stopping))
	s := &stage{g: g, name: name, ctx: ctx, cancel: cancel}
	g.stages = append(g.stages, s)
	return s
}

// run starts fn in the stage. An error (other than the stage being
// stopped) is recorded and stops the group.
func (s *stage) run(name string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(s.ctx); err != nil && s.ctx.Err() == nil {
			s.g.fail(name, err)
		}
	}()
}

// serve runs srv on ln in the stage; when the stage stops, the server
// stops taking connections and drains those open until the deadline.
func (s *stage) serve(name string, srv *webserver.Server, ln net.Listener) {
	s.run(name, func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return err // it stopped on its own: a failure
		case <-ctx.Done():
		}
		_ = srv.Shutdown(s.g.drainCtx())
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

func (g *group) fail(name string, err error) {
	g.mu.Lock()
	g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
	g.mu.Unlock()
	g.stop()
}

func (g *group) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// startDrain starts the shared deadline of the stop.
func (g *group) startDrain(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	g.mu.Lock()
	g.drain = ctx
	g.mu.Unlock()
	return ctx, cancel
}

// drainCtx is the deadline for draining (a live context before the stop).
func (g *group) drainCtx() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.drain == nil {
		return context.Background()
	}
	return g.drain
}

// stopInOrder stops the stages one after the other, each once the one
// before it has returned. It reports whether all returned by the deadline.
func (g *group) stopInOrder(deadline context.Context) bool {
	for _, s := range g.stages {
		s.cancel()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-deadline.Done():
			for _, rest := range g.stages {
				rest.cancel()
			}
			return false
		}
	}
	return true
}

// startFields are what an operator checks first in a log: which build, on
// which state file, reading which mailbox, posting to which channel, and
// where it listens.
func (d *Daemon) startFields() []any {
	version := d.version
	if version == "" {
		version = "devel"
	}
	f := []any{"version", version, "state", d.cfg.State.Path}
	if d.inbox != nil {
		f = append(f, "mailbox", d.cfg.Mail.IMAP.Username+" "+d.cfg.Mail.IMAP.Mailbox+" at "+d.cfg.Mail.IMAP.Addr)
	} else {
		f = append(f, "mailbox", "off")
	}
	if d.outbox != nil {
		f = append(f, "outbound_mail", d.cfg.Mail.Address)
	} else {
		f = append(f, "outbound_mail", "off")
	}
	if d.cfg.Slack != nil && d.cfg.Slack.Channel != "" {
		f = append(f, "slack_channel", d.cfg.Slack.Channel)
	} else {
		f = append(f, "slack_channel", "off")
	}
	f = append(f, "http", d.Addr())
	if m := d.MetricsAddr(); m != "" && m != d.Addr() {
		f = append(f, "metrics", m)
	}
	return f
}
