package daemon

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/webserver"
)

// buildHTTP opens the listeners and builds their servers. Both have the
// same timeouts and connection cap; only the public one has Slack's routes.
func (d *Daemon) buildHTTP(opts Options) error {
	d.rejected = newHTTPRejections(d.registry, d.log)
	var opened []net.Listener
	fail := func(err error) error {
		for _, ln := range opened {
			_ = ln.Close()
		}
		return err
	}
	listen := func(given net.Listener, key, addr string) (net.Listener, error) {
		if given != nil {
			return given, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listen on %s: %w", key, addr, err)
		}
		opened = append(opened, ln)
		return ln, nil
	}
	var err error
	if d.ln, err = listen(opts.Listener, "http.listen", d.cfg.HTTP.Listen); err != nil {
		return fail(err)
	}
	if opts.MetricsListener != nil || d.cfg.HTTP.MetricsListen != "" {
		if d.privateLn, err = listen(opts.MetricsListener, "http.metrics_listen", d.cfg.HTTP.MetricsListen); err != nil {
			return fail(err)
		}
	}
	server := func(h http.Handler) (*webserver.Server, error) {
		return webserver.New(webserver.Config{
			Handler: h, Timeouts: opts.HTTPTimeouts, MaxConnections: d.cfg.HTTP.MaxConnections, Logger: d.log,
			Rejected: func(reason string) { d.rejected.reject(reason, nil) },
		})
	}
	if d.public, err = server(d.publicRoutes()); err != nil {
		return fail(err)
	}
	if d.privateLn != nil {
		mux := http.NewServeMux()
		d.healthRoutes(mux)
		if d.private, err = server(mux); err != nil {
			return fail(err)
		}
	}
	return nil
}

// publicRoutes are what http.listen serves: Slack's request URLs, and
// health and metrics unless they have a listener of their own. Anything
// else is refused without reading its body (webserver.Refuse says why).
func (d *Daemon) publicRoutes() http.Handler {
	mux := http.NewServeMux()
	if d.privateLn == nil {
		d.healthRoutes(mux)
	} else {
		mux.Handle("/", d.notFound())
	}
	if d.commands != nil && d.cfg.Slack.SigningSecret != "" {
		mux.Handle("POST /slack/", http.StripPrefix("/slack", slack.NewHTTPHandler(slack.InboundConfig{
			Verifier: slack.Verifier{Secret: d.cfg.Slack.SigningSecret.Reveal()}, Handler: d.commands, Logger: d.log,
			Refused: d.rejected.reject,
		})))
	}
	return mux
}

// healthRoutes adds /healthz, /readyz, /metrics and the catch-all to mux.
// None of them takes a body.
func (d *Daemon) healthRoutes(mux *http.ServeMux) {
	mux.Handle("GET /healthz", webserver.NoBody(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})))
	mux.Handle("GET /readyz", webserver.NoBody(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if problems := d.notReady(); len(problems) > 0 {
			http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})))
	// Uncompressed: gzip would allocate about 800 KiB of compressor state
	// per scrape (pooled only until the next collection) to save 15-20 KiB
	// of text a scraper reads over the local network.
	mux.Handle("GET /metrics", webserver.NoBody(promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{DisableCompression: true})))
	mux.Handle("/", d.notFound())
}

// notFound is the catch-all: counted, since on the public listener it is
// what scanners get.
func (d *Daemon) notFound() http.Handler {
	nf := webserver.NotFound()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.rejected.reject(slack.RefusedNotFound, nil)
		nf.ServeHTTP(w, r)
	})
}

// notReady lists what /readyz reports; empty when ready.
func (d *Daemon) notReady() []string {
	var problems []string
	if d.store.WritesFailing() {
		problems = append(problems, "state: writes to the state file are failing (disk full?); new work is held until one succeeds")
	}
	if d.inbox != nil && !d.inbox.Connected() {
		problems = append(problems, "imap: not connected")
	}
	if d.watch != nil && !d.watch.Healthy() {
		problems = append(problems, "taskip: not polled successfully within 3 intervals")
	}
	return problems
}

// Addr is the public HTTP listener's address.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// MetricsAddr is the address of the listener serving /metrics, /healthz
// and /readyz apart from the public one; "" when they are on Addr.
func (d *Daemon) MetricsAddr() string {
	if d.privateLn == nil {
		return ""
	}
	return d.privateLn.Addr().String()
}
