//go:build unix

package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGTERM finishes the item in flight, flushes state and exits 0
// within 10 s. The create is held open by the fake's latency so the signal
// is guaranteed to land while TaskIP is working on it.
func TestSIGTERMFinishesTheItemInFlight(t *testing.T) {
	e := newDaemonEnv(t)
	e.fake.SetLatency(700 * time.Millisecond)
	e.imap.Append(t, "INBOX", mailMsg("inflight@acme.com", "john@acme.com", "Printer on fire", "Smoke from tray 2.\n"))
	c := e.start()

	// The fake logs a request before sleeping, so this sees the create
	// while its answer is still 700 ms away.
	if !poll(15*time.Second, func() bool { return hasRequest(e.fake, http.MethodPost, "/support-ticket") || c.exited() }) || c.exited() {
		t.Fatalf("the daemon never started the create")
	}
	signalled := time.Now()
	c.signalGroup(syscall.SIGTERM)
	code, ok := c.wait(10 * time.Second)
	if !ok {
		t.Fatalf("still running 10 s after SIGTERM")
	}
	t.Logf("exited %d after %s", code, time.Since(signalled).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}

	tickets := e.newTickets()
	if len(tickets) != 1 {
		t.Fatalf("%d tickets, want exactly 1", len(tickets))
	}
	if !strings.Contains(tickets[0].Description, "Smoke from tray 2.") {
		t.Errorf("description %q", tickets[0].Description)
	}
	msgs := e.imap.Messages(t, "INBOX")
	if len(msgs) != 1 || !slices.Contains(msgs[0].Flags, `\Seen`) {
		t.Errorf("the message in flight was not marked processed: %+v", msgs)
	}
	e.requireNoIntents()
}

// The state file is locked; a second instance fails at once with a
// message an operator can act on.
func TestSecondInstanceFailsAtOnce(t *testing.T) {
	e := newDaemonEnv(t)
	first := e.start()
	first.httpAddr(15 * time.Second) // holds the lock by now

	second := e.start()
	started := time.Now()
	code, ok := second.wait(2 * time.Second)
	if !ok {
		t.Fatalf("second instance still running after 2 s")
	}
	t.Logf("second instance exited %d after %s", code, time.Since(started).Round(time.Millisecond))
	if code == 0 {
		t.Errorf("second instance exited 0")
	}
	out := second.stderr()
	for _, want := range []string{e.statePath(), "another ticketsync instance"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr does not name %q:\n%s", want, out)
		}
	}
	if first.exited() {
		t.Errorf("the first instance died")
	}
}

// What an orchestrator and Prometheus see, found the way an
// operator would, from the address in the start-up log.
func TestHealthz(t *testing.T) {
	e := newDaemonEnv(t)
	c := e.start()
	base := "http://" + c.httpAddr(15*time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
	var code int
	var body string
	// Ready only once the IMAP session is up, which may follow the
	// listener by a moment.
	if !poll(5*time.Second, func() bool { code, body = get("/readyz"); return code == http.StatusOK }) {
		t.Errorf("/readyz: %d %q after 5 s", code, body)
	}
	code, body = get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, "ticketsync_emails_fetched_total") {
		t.Errorf("/metrics: %d, ticketsync_emails_fetched_total missing:\n%s", code, tail(body, 4<<10))
	}

	c.signalGroup(syscall.SIGTERM)
	if code, ok := c.wait(10 * time.Second); !ok || code != 0 {
		t.Errorf("after SIGTERM: exit %d, exited %v", code, ok)
	}
}
