//go:build unix

package main

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/state"
)

// enableOutbound gives the env's daemons an SMTP server and turns on
// acknowledgements.
func (e *daemonEnv) enableOutbound() *mailtest.SMTPServer {
	e.t.Helper()
	smtp := mailtest.StartSMTP(e.t, mailtest.SMTPOptions{})
	raw, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "  acknowledge_new: false\n",
		fmt.Sprintf("  acknowledge_new: true\n  smtp:\n    addr: %s\n    tls: none\n", smtp.Addr()), 1)
	writeFile(e.t, e.config, cfg)
	return smtp
}

// stop ends a daemon cleanly.
func (c *child) stop() {
	c.t.Helper()
	c.signalGroup(syscall.SIGTERM)
	if code, ok := c.wait(10 * time.Second); !ok || code != 0 {
		c.t.Fatalf("daemon did not stop cleanly: exited=%v code=%d", ok, code)
	}
}

// outbox reads the outbox of a stopped daemon: open entries and the
// closed ones by status.
func (e *daemonEnv) outbox() (open int, closed map[state.OutboxStatus]int) {
	e.t.Helper()
	st, err := state.OpenReadOnly(state.Config{Path: e.statePath()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	closed = map[state.OutboxStatus]int{}
	err = st.View(func(tx *state.Tx) error {
		open = tx.OutboxDepth()
		for seq := uint64(1); seq <= 100; seq++ {
			en, ok, err := tx.OutboxClosed(seq)
			if err != nil {
				return err
			}
			if ok {
				closed[en.Status]++
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return open, closed
}

// deliveredOnce checks that every message the server took has its own
// Message-ID and returns the recipients.
func deliveredOnce(t *testing.T, smtp *mailtest.SMTPServer) map[string]int {
	t.Helper()
	ids := map[string]bool{}
	to := map[string]int{}
	for _, m := range smtp.Messages() {
		msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		id := msg.Header.Get("Message-ID")
		if ids[id] {
			t.Errorf("message %s delivered twice", id)
		}
		ids[id] = true
		for _, r := range m.To {
			to[r]++
		}
	}
	return to
}

// SIGKILL after the acknowledgement was queued and before it could be
// sent (the server is down): the next run sends it, once.
func TestOutboxKilledBeforeSendingSendsOnce(t *testing.T) {
	e := newDaemonEnv(t)
	smtp := e.enableOutbound()
	smtp.SetDown(true)
	e.imap.Append(t, "INBOX", mailMsg("first@acme.com", "john@acme.com", "Printer on fire", "Smoke from tray 2.\n"))
	c := e.start()
	if !poll(15*time.Second, func() bool { return len(c.logRecords("mail not sent; will retry")) > 0 || c.exited() }) || c.exited() {
		t.Fatal("the daemon never tried to send the acknowledgement")
	}
	c.killGroup()
	smtp.SetDown(false)

	c = e.start()
	if !poll(15*time.Second, func() bool { return len(smtp.Messages()) >= 1 }) {
		t.Fatal("the acknowledgement was never sent after the restart")
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would have followed by now
	c.stop()
	if to := deliveredOnce(t, smtp); to["john@acme.com"] != 1 || len(to) != 1 {
		t.Errorf("deliveries %v, want exactly one to john@acme.com", to)
	}
	if open, closed := e.outbox(); open != 0 || closed[state.OutboxSent] != 1 {
		t.Errorf("outbox open=%d closed=%v, want one sent", open, closed)
	}
}

// SIGKILL the moment the server has taken a message, while the daemon is
// reading its 250 or recording it. The restart finds the entry marked as
// "end of data sent", does not send it again (the server has it; agents are
// told to check) and sends the rest: every customer gets exactly one.
func TestOutboxKilledRightAfterAcceptanceSendsNothingTwice(t *testing.T) {
	e := newDaemonEnv(t)
	smtp := e.enableOutbound()
	const customers = 5
	mailFrom := func(i int) {
		e.imap.Append(t, "INBOX", mailMsg(fmt.Sprintf("m%d@acme.com", i), fmt.Sprintf("customer%d@acme.com", i),
			fmt.Sprintf("Question %d", i), "Hello.\n"))
	}
	mailFrom(0)
	c := e.start()
	deadline := time.Now().Add(15 * time.Second)
	for len(smtp.Messages()) == 0 && time.Now().Before(deadline) && !c.exited() {
		time.Sleep(50 * time.Microsecond)
	}
	if len(smtp.Messages()) == 0 {
		t.Fatal("nothing was sent")
	}
	c.killGroup()
	if _, ok := c.wait(5 * time.Second); !ok {
		t.Fatal("SIGKILL did not end the daemon")
	}
	for i := 1; i < customers; i++ {
		mailFrom(i)
	}
	killedAt := len(smtp.Messages())

	c = e.start()
	if !poll(15*time.Second, func() bool { return len(smtp.Messages()) >= customers }) {
		t.Fatalf("%d of %d acknowledgements delivered after the restart", len(smtp.Messages()), customers)
	}
	time.Sleep(300 * time.Millisecond)
	c.stop()
	to := deliveredOnce(t, smtp)
	for i := range customers {
		if n := to[fmt.Sprintf("customer%d@acme.com", i)]; n != 1 {
			t.Errorf("customer%d got %d acknowledgements, want 1", i, n)
		}
	}
	open, closed := e.outbox()
	t.Logf("killed with %d delivered; outbox afterwards: open=%d closed=%v", killedAt, open, closed)
	if open != 0 || closed[state.OutboxSent]+closed[state.OutboxUnknown] != customers || closed[state.OutboxFailed] != 0 {
		t.Errorf("outbox open=%d closed=%v", open, closed)
	}
}
