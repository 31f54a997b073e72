package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// outboxEnv is the intake and the outbox on one state file, with a real
// SMTP server, IMAP server, TaskIP fake and Slack fake on loopback.
type outboxEnv struct {
	*intakeEnv
	smtp    *mailtest.SMTPServer
	slack   *slackfake.Server
	poster  *slack.Poster
	sender  *smtp.Sender
	outbox  *Outbox
	ocfg    OutboxConfig
	metrics *OutboxMetrics
	stop    func()
}

func newOutboxEnv(t *testing.T, edit ...func(*OutboxConfig)) *outboxEnv {
	t.Helper()
	e := &outboxEnv{smtp: mailtest.StartSMTP(t, mailtest.SMTPOptions{}), slack: slackfake.New(t)}
	var err error
	e.poster, err = slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: e.slack.URL(), PerChannelInterval: -1})
	require.NoError(t, err)
	e.sender = smtp.NewSender(smtp.Config{Addr: e.smtp.Addr(), TLS: mail.TLSNone, Timeout: 5 * time.Second, LocalName: "test.example"})
	t.Cleanup(func() { _ = e.sender.Close() })
	e.intakeEnv = newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) {
		e.ocfg = OutboxConfig{
			Mailer: e.sender, Store: c.Store, Threads: e.poster, Files: e.poster, Logger: testLogger(t),
			From: mime.Address{Name: "Acme Support", Email: supportAddr}, Address: supportAddr,
			AcknowledgeNew: true, SendAgentReplies: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		}
		for _, f := range edit {
			f(&e.ocfg)
		}
		e.build(t)
		c.Outbox = e.outbox
	})
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
	return e
}

// build makes a new Outbox on the same state, as a process restart would.
func (e *outboxEnv) build(t *testing.T) {
	e.metrics = NewOutboxMetrics(prometheus.NewRegistry())
	cfg := e.ocfg
	cfg.Metrics = e.metrics
	o, err := NewOutbox(cfg)
	require.NoError(t, err)
	e.outbox = o
	if e.intakeEnv != nil {
		e.intake.cfg.Outbox = o
	}
}

// start runs the worker until stopped.
func (e *outboxEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.NoError(e.t, e.outbox.Run(ctx))
	}()
	e.stop = func() { cancel(); wg.Wait(); e.stop = nil }
}

// restart stops the worker, builds a new one on the same state and starts it.
func (e *outboxEnv) restart() {
	if e.stop != nil {
		e.stop()
	}
	e.build(e.t)
	e.start()
}

func (e *outboxEnv) waitDelivered(n int) []mailtest.Received {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return len(e.smtp.Messages()) >= n }, 5*time.Second, 5*time.Millisecond,
		"%d messages delivered", n)
	return e.smtp.Messages()
}

// settled waits until the outbox is empty.
func (e *outboxEnv) settled() {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.store.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "outbox empty")
}

func (e *outboxEnv) closedEntries() []state.OutboxEntry {
	var out []state.OutboxEntry
	require.NoError(e.t, e.store.View(func(tx *state.Tx) error {
		for seq := uint64(1); seq < 100; seq++ {
			if en, ok, err := tx.OutboxClosed(seq); err != nil {
				return err
			} else if ok {
				out = append(out, en)
			}
		}
		return nil
	}))
	return out
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	require.NoError(t, m.Write(&out))
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric %s is neither counter nor gauge", m.Desc())
	return 0
}

// threadFor gives ticket tk a Slack thread, as the watch would have.
func (e *outboxEnv) threadFor(tk taskipfake.Ticket) string {
	ts, err := e.poster.Post(context.Background(), testChannel, slack.Message{Text: "ticket " + tk.Subject})
	require.NoError(e.t, err)
	linkThread(e.t, e.store, threadTicket{ID: int64(tk.ID), UUID: tk.UUID}, thread{Channel: testChannel, TS: ts})
	return ts
}

var (
	goldenMessageID = regexp.MustCompile(`ticketsync\.[a-z2-7]{26}@`)
	goldenBoundary  = regexp.MustCompile(`[0-9a-f]{30,}`)
	goldenDate      = regexp.MustCompile(`(?m)^Date: .*$`)
	goldenUUID      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

// checkGolden compares a delivered message, with what varies between runs
// replaced, to testdata/outbound/<name>.golden.
func checkGolden(t *testing.T, name string, raw []byte) {
	t.Helper()
	s := string(raw)
	s = goldenMessageID.ReplaceAllString(s, "ticketsync.<id>@")
	s = goldenBoundary.ReplaceAllString(s, "<boundary>")
	s = goldenDate.ReplaceAllString(s, "Date: <date>")
	s = goldenUUID.ReplaceAllString(s, "<uuid>")
	path := filepath.Join("testdata", "outbound", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create %s", path)
	assert.Equal(t, string(want), s)
}

func TestOutboxAcknowledgesANewTicketOncePerSenderAndHour(t *testing.T) {
	e := newOutboxEnv(t)
	e.start()
	tk := createFirst(t, e.intakeEnv)
	got := e.waitDelivered(1)[0]
	h := header(t, got)
	assert.Equal(t, []string{"john@acme.com"}, got.To)
	assert.Equal(t, "auto-replied", h.Get("Auto-Submitted"), "RFC 3834")
	assert.Equal(t, "All", h.Get("X-Auto-Response-Suppress"))
	assert.Equal(t, "<first@acme.com>", h.Get("In-Reply-To"))
	assert.Equal(t, "<support+"+tk.UUID+"@example.com>", h.Get("Reply-To"))
	assert.Equal(t, tk.UUID, h.Get(mime.HeaderTicket))
	assert.Equal(t, fmt.Sprintf("Re: Login broken [#%s]", tk.UUID), h.Get("Subject"))
	checkGolden(t, "acknowledgement", got.Data)

	// Our Message-ID is ours before the mail even left.
	ourID := strings.Trim(h.Get("Message-ID"), "<>")
	uuid, _, ok, err := e.store.OutboundTicket(ourID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, tk.UUID, uuid)

	// A second new ticket from the same sender within the hour: no second
	// acknowledgement, so two robots cannot keep each other busy.
	e.deliver(mailMsg("second@acme.com", "John Smith <john@acme.com>", "Another thing", "Also this."))
	e.cycle()
	require.Len(t, e.newTickets(), 2)
	e.settled()
	assert.Len(t, e.smtp.Messages(), 1)
	assert.Equal(t, 1.0, metricValue(t, e.metrics.acksSuppressed))
	assert.Equal(t, 1.0, metricValue(t, e.metrics.sent.WithLabelValues(kindAcknowledgement)))
}

// The guard skips most machines before they become tickets; what it lets
// through still gets no acknowledgement (the rows of ShouldAcknowledge).
func TestOutboxNeverAcknowledgesMachines(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AckInterval = time.Nanosecond })
	e.start()
	e.deliver(mailMsg("noreply@shop.example", "Shop <no-reply@shop.example>", "Your order", "Shipped."))
	e.cycle()
	require.Len(t, e.newTickets(), 1, "a ticket")
	e.settled()
	time.Sleep(50 * time.Millisecond)
	assert.Empty(t, e.smtp.Messages(), "no acknowledgement")
}

// An auto-reply from the customer's side to our acknowledgement must not
// start a ticket, a reply or another mail: that is how loops begin.
func TestOutboxAutoReplyToAcknowledgementEndsTheLoop(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AckInterval = time.Nanosecond })
	e.start()
	tk := createFirst(t, e.intakeEnv)
	ack := header(t, e.waitDelivered(1)[0])
	e.fake.ResetRequests()

	vacation := mailMsg("vacation-1@acme.com", "John Smith <john@acme.com>", "Out of office: "+ack.Get("Subject"),
		"I am away until Monday.", "Auto-Submitted: auto-replied", "In-Reply-To: "+ack.Get("Message-ID"))
	e.deliver(vacation)
	// And one from a responder that ignores RFC 3834 but sets X-Autoreply.
	e.deliver(mailMsg("vacation-2@acme.com", "John Smith <john@acme.com>", "Automatic reply: Login broken",
		"Away.", "X-Autoreply: yes", "In-Reply-To: "+ack.Get("Message-ID")))
	e.cycle()
	assert.Len(t, e.newTickets(), 1, "no ticket")
	assert.Empty(t, e.fake.Replies(tk.ID), "no reply")
	assert.Empty(t, e.fake.Notes(tk.ID), "no note")
	e.settled()
	time.Sleep(50 * time.Millisecond) // a wrongly queued mail would have gone by now
	assert.Len(t, e.smtp.Messages(), 1, "nothing sent back")
}

// agentReplies queues a reply as the Slack flow does.
func (e *outboxEnv) AgentReply(tk taskipfake.Ticket, replyID int64, text string) {
	e.t.Helper()
	require.NoError(e.t, e.store.Update(func(tx *state.Tx) error {
		_, err := e.outbox.Reply(tx, AgentReply{Ticket: mapping.Ticket{ID: int64(tk.ID), UUID: tk.UUID}, ReplyID: replyID,
			Origin: "slack", Text: text})
		return err
	}))
	e.outbox.Wake()
}

// A customer's answer to our reply, however their client threads it,
// lands on the same ticket.
func TestOutboxReplyThreadsBackToTheTicket(t *testing.T) {
	tests := []struct {
		name  string
		build func(ours netmail.Header) []byte
	}{
		{"in-reply-to our message", func(ours netmail.Header) []byte {
			return mailMsg("answer@acme.com", "John Smith <john@acme.com>", "Something else",
				"Thanks, that worked.\n\nOn Tue, Support wrote:\n> Try again", "In-Reply-To: "+ours.Get("Message-ID"))
		}},
		{"to the plus address only", func(ours netmail.Header) []byte {
			raw := mailMsg("answer@acme.com", "John Smith <john@acme.com>", "Something else", "Thanks, that worked.")
			return bytes.Replace(raw, []byte("To: "+supportAddr), []byte("To: "+strings.Trim(ours.Get("Reply-To"), "<>")), 1)
		}},
		{"the subject tag only", func(ours netmail.Header) []byte {
			return mailMsg("answer@acme.com", "John Smith <john@acme.com>", ours.Get("Subject"), "Thanks, that worked.")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
			e.start()
			tk := createFirst(t, e.intakeEnv)
			e.AgentReply(tk, 900, "Please try again now.\n\nSarah")
			got := e.waitDelivered(1)[0]
			ours := header(t, got)
			assert.Equal(t, "<first@acme.com>", ours.Get("In-Reply-To"), "threads under the customer's mail")
			assert.Equal(t, "<first@acme.com>", ours.Get("References"))
			assert.Empty(t, ours.Get("Auto-Submitted"), "a person's reply is not automatic")
			if tt.name == "in-reply-to our message" {
				checkGolden(t, "reply", got.Data)
			}

			e.deliver(tt.build(ours))
			e.cycle()
			assert.Len(t, e.newTickets(), 1, "no new ticket")
			replies := e.fake.Replies(tk.ID)
			require.Len(t, replies, 1)
			assert.Equal(t, "Thanks, that worked.", replies[0].Message)

			// The next mail answers the customer's latest one.
			e.AgentReply(tk, 901, "Great, closing.")
			next := header(t, e.waitDelivered(2)[1])
			assert.Equal(t, "<answer@acme.com>", next.Get("In-Reply-To"))
		})
	}
}

func TestOutboxSMTPDownThenUpDeliversOnce(t *testing.T) {
	e := newOutboxEnv(t)
	e.smtp.SetDown(true)
	e.start()
	createFirst(t, e.intakeEnv)
	require.Eventually(t, func() bool { return metricValue(t, e.metrics.retries) >= 2 }, 5*time.Second, 5*time.Millisecond,
		"retried while the server is down")
	assert.Equal(t, 1, e.store.OutboxDepth(), "kept, not dropped")
	e.smtp.SetDown(false)
	e.waitDelivered(1)
	e.settled()
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, e.smtp.Messages(), 1, "no loss, no duplicate")
}

// The disk fills before the mail's "sending" could be recorded: the server
// is hung up on before the end of data, the queue waits (a few attempts,
// not a loop), and the mail goes out once when writes succeed again.
func TestOutboxFullDiskBeforeSendingSendsOnceLater(t *testing.T) {
	e := newOutboxEnv(t)
	createFirst(t, e.intakeEnv)
	e.failCommits.Store(true)
	e.start()
	require.Eventually(t, func() bool { return e.smtp.Sessions() >= 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, e.smtp.Messages(), "nothing was taken while it could not be recorded")
	assert.LessOrEqual(t, e.smtp.Sessions(), 2, "the queue waits for the disk instead of retrying at once")
	assert.Equal(t, 1, e.store.OutboxDepth())
	e.failCommits.Store(false)
	e.outbox.Wake()
	e.waitDelivered(1)
	e.settled()
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, e.smtp.Messages(), 1)
}

// An import a crash interrupted is finished with its acknowledgement; one
// that came back with a restored backup is finished without it, since the
// flow that wrote it may have sent it after the backup.
func TestReconciledImportAcknowledgesUnlessRestored(t *testing.T) {
	for _, restored := range []bool{false, true} {
		t.Run(fmt.Sprintf("restored=%v", restored), func(t *testing.T) {
			e := newOutboxEnv(t)
			e.deliver(mailMsg("crash@acme.com", "John Smith <john@acme.com>", "Crashed", "body"))
			e.fake.DropResponseNextOn(http.MethodPost, "/support-ticket", 1)
			require.Error(t, e.intake.Cycle(context.Background()))
			require.NoError(t, e.store.Update(func(tx *state.Tx) error {
				in, ok, err := tx.Intent("crash@acme.com")
				require.True(t, ok)
				if err != nil || !restored {
					return err
				}
				in.Restored = true
				return tx.PutIntent(in)
			}))
			e.cycle()
			require.Len(t, e.newTickets(), 1)
			if restored {
				assert.Zero(t, e.store.OutboxDepth(), "no acknowledgement that may have gone out already")
			} else {
				assert.Equal(t, 1, e.store.OutboxDepth(), "the acknowledgement a crash held up")
			}
		})
	}
}

func TestOutboxTemporaryRefusalIsRetried(t *testing.T) {
	e := newOutboxEnv(t)
	e.smtp.FailNext(2, 451, "4.3.0", "try again later")
	e.start()
	createFirst(t, e.intakeEnv)
	e.waitDelivered(1)
	e.settled()
	closed := e.closedEntries()
	require.Len(t, closed, 1)
	assert.Equal(t, state.OutboxSent, closed[0].Status)
	assert.Equal(t, 3, closed[0].Attempts, "two refusals, then accepted")
	assert.Len(t, e.smtp.Messages(), 1)
}

func TestOutboxPermanentRefusalIsRecordedAndShownInTheThread(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
	e.start()
	tk := createFirst(t, e.intakeEnv)
	ts := e.threadFor(tk)
	e.smtp.FailNext(1, 550, "5.1.1", "no such user")
	e.AgentReply(tk, 900, "Please try again now.")
	e.settled()
	closed := e.closedEntries()
	require.Len(t, closed, 1)
	assert.Equal(t, state.OutboxFailed, closed[0].Status)
	assert.Equal(t, 1, closed[0].Attempts, "not retried")
	assert.Contains(t, closed[0].LastError, "550 5.1.1")
	assert.Empty(t, e.smtp.Messages())
	assert.Equal(t, 1.0, metricValue(t, e.metrics.failed.WithLabelValues(kindReply, "failed")))
	require.Eventually(t, func() bool { return len(e.slack.Thread(testChannel, ts)) == 1 }, 5*time.Second, 5*time.Millisecond)
	note := e.slack.Thread(testChannel, ts)[0].Text
	assert.Contains(t, note, "could not be delivered")
	assert.Contains(t, note, "john@acme.com")
	assert.Contains(t, note, "no such user")
}

// Killed after the mail was queued and before it was sent: the restart
// sends it, once.
func TestOutboxRestartBeforeSendingSendsOnce(t *testing.T) {
	e := newOutboxEnv(t)
	createFirst(t, e.intakeEnv) // queued; no worker ran
	assert.Equal(t, 1, e.store.OutboxDepth())
	e.restart()
	e.waitDelivered(1)
	e.settled()
	e.restart()
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, e.smtp.Messages(), 1)
}

// The server took the message but the answer never came back (or the
// process died right after the 250): the mail is not sent again, and the
// agents are told to check.
func TestOutboxOutcomeUnknownIsNotSentAgain(t *testing.T) {
	t.Run("connection lost after the data", func(t *testing.T) {
		e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
		e.start()
		tk := createFirst(t, e.intakeEnv)
		ts := e.threadFor(tk)
		e.smtp.DropAfterDataNext(1)
		e.AgentReply(tk, 900, "Please try again now.")
		e.settled()
		e.restart()
		time.Sleep(50 * time.Millisecond)
		assert.Len(t, e.smtp.Messages(), 1, "the server has it once")
		closed := e.closedEntries()
		require.Len(t, closed, 1)
		assert.Equal(t, state.OutboxUnknown, closed[0].Status)
		require.Eventually(t, func() bool { return len(e.slack.Thread(testChannel, ts)) == 1 }, 5*time.Second, 5*time.Millisecond)
		assert.Contains(t, e.slack.Thread(testChannel, ts)[0].Text, "may not have been delivered")
	})
	t.Run("process died after the end of data", func(t *testing.T) {
		e := newOutboxEnv(t)
		createFirst(t, e.intakeEnv)
		// What a kill between the final dot and recording the 250 leaves.
		var seq uint64
		require.NoError(t, e.store.Update(func(tx *state.Tx) error {
			open, err := tx.OutboxOpen()
			require.Len(t, open, 1)
			seq = open[0].Seq
			if err != nil {
				return err
			}
			return tx.MarkSending(seq)
		}))
		e.restart()
		e.settled()
		time.Sleep(50 * time.Millisecond)
		assert.Empty(t, e.smtp.Messages(), "not sent a second time")
		closed := e.closedEntries()
		require.Len(t, closed, 1)
		assert.Equal(t, state.OutboxUnknown, closed[0].Status)
		assert.Equal(t, 1.0, metricValue(t, e.metrics.failed.WithLabelValues(kindAcknowledgement, "unknown")))
	})
}

func TestOutboxAttachesFilesSharedWithTheReply(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
	e.start()
	tk := createFirst(t, e.intakeEnv)
	url := e.slack.AddFile("steps.txt", []byte("1. restart\n2. log in\n"))
	require.NoError(t, e.store.Update(func(tx *state.Tx) error {
		_, err := e.outbox.Reply(tx, AgentReply{Ticket: mapping.Ticket{ID: int64(tk.ID), UUID: tk.UUID}, ReplyID: 900,
			Origin: "slack", Text: "See the steps attached.", Files: []ReplyFile{{Name: "steps.txt", ContentType: "text/plain", URL: url}}})
		return err
	}))
	e.outbox.Wake()
	got := e.waitDelivered(1)[0]
	m, err := netmail.ReadMessage(bytes.NewReader(got.Data))
	require.NoError(t, err)
	assert.Contains(t, m.Header.Get("Content-Type"), "multipart/mixed")
	body, err := io.ReadAll(m.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `attachment; filename=steps.txt`)
	assert.Contains(t, string(body), "MS4gcmVzdGFydAoyLiBsb2cgaW4K", "the file, base64")
}

func TestOutboxReplyIsMailedOnceWhateverSeesIt(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
	tk := createFirst(t, e.intakeEnv)
	e.AgentReply(tk, 900, "First answer.")
	e.AgentReply(tk, 900, "First answer.")
	assert.Equal(t, 1, e.store.OutboxDepth(), "the same TaskIP reply is queued once")

	off := newOutboxEnv(t, func(c *OutboxConfig) { c.SendAgentReplies = false })
	tk2 := createFirst(t, off.intakeEnv)
	off.AgentReply(tk2, 900, "Not mailed.")
	assert.Equal(t, 1, off.store.OutboxDepth(), "only the acknowledgement")
}

// withMailingOutbox gives a watch an outbox sending to a go-smtp server;
// the outbox runs from the first build of the watch to the test's end.
func withMailingOutbox(t *testing.T) (func(*WatchConfig), *mailtest.SMTPServer) {
	t.Helper()
	mta := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	sender := smtp.NewSender(smtp.Config{Addr: mta.Addr(), TLS: mail.TLSNone, Timeout: 5 * time.Second})
	t.Cleanup(func() { _ = sender.Close() })
	var outbox *Outbox
	return func(c *WatchConfig) {
		if outbox == nil {
			var err error
			outbox, err = NewOutbox(OutboxConfig{Mailer: sender, Store: c.Store, Logger: testLogger(t),
				From: mime.Address{Name: "Acme Support", Email: supportAddr}, Address: supportAddr, AcknowledgeNew: true, SendAgentReplies: true})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = outbox.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
		}
		c.Outbox = outbox
	}, mta
}

// newMailingCommandsEnv is the commands env with the outbox on, sending to
// a go-smtp server.
func newMailingCommandsEnv(t *testing.T, edit ...func(*WatchConfig)) (*commandsEnv, taskipfake.Ticket, *mailtest.SMTPServer) {
	t.Helper()
	return newWrappedMailingCommandsEnv(t, nil, edit...)
}

// newWrappedMailingCommandsEnv is newMailingCommandsEnv with wrap around
// what Commands asks of TaskIP.
func newWrappedMailingCommandsEnv(t *testing.T, wrap func(AgentTickets) AgentTickets, edit ...func(*WatchConfig)) (*commandsEnv, taskipfake.Ticket, *mailtest.SMTPServer) {
	t.Helper()
	mailing, smtp := withMailingOutbox(t)
	e, tk := newWrappedCommandsEnv(t, wrap, append([]func(*WatchConfig){mailing}, edit...)...)
	return e, tk, smtp
}

// Agents' replies reach the customer by email once, whether written in
// Slack (a thread "reply:" or /ticket reply) or in the TaskIP web app; the
// watch seeing them afterwards mails nothing more.
func TestAgentRepliesAreMailedOnce(t *testing.T) {
	e, tk, smtp := newMailingCommandsEnv(t)
	delivered := func(n int) []mailtest.Received {
		t.Helper()
		require.Eventually(t, func() bool { return len(smtp.Messages()) >= n }, 5*time.Second, 5*time.Millisecond)
		return smtp.Messages()
	}
	quiet := func(n int) {
		t.Helper()
		e.watch.TicketChanged(taskip.ID(tk.ID))
		time.Sleep(100 * time.Millisecond) // a second mail would have been sent by now
		assert.Len(t, smtp.Messages(), n)
	}

	// A thread reply; the ticket was made in the web app, so the customer
	// comes from TaskIP.
	e.message("Ev1", "USARAH", "reply: Hi John, use &lt;Ctrl&gt; &amp; R.", e.threadTS(tk.ID))
	got := delivered(1)[0]
	h := header(t, got)
	assert.Equal(t, []string{"john@acme.com"}, got.To)
	assert.Equal(t, fmt.Sprintf("Re: Printer on fire [#%s]", tk.UUID), h.Get("Subject"))
	assert.Contains(t, string(got.Data), "Hi John, use <Ctrl> & R.", "Slack's escaping is undone")
	require.Len(t, e.fake.Replies(tk.ID), 1)
	assert.Equal(t, "Hi John, use <Ctrl> & R.", e.fake.Replies(tk.ID)[0].Message)
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(e.threadTexts(tk.ID), func(s string) bool { return strings.Contains(s, "by email too") })
	}, 5*time.Second, 5*time.Millisecond, "the confirmation says it was mailed")
	quiet(1)

	// /ticket reply.
	e.command("USARAH", fmt.Sprintf("reply %d The part ships tomorrow.", tk.ID))
	assert.Contains(t, e.waitResponse(1)[0], "gets it by email")
	assert.Contains(t, string(delivered(2)[1].Data), "The part ships tomorrow.")
	quiet(2)

	// A reply made in the web app.
	_, err := e.fake.AddAgentReply(tk.ID, "Sarah Johnson", "It arrived, please confirm.")
	require.NoError(t, err)
	e.watch.TicketChanged(taskip.ID(tk.ID))
	assert.Contains(t, string(delivered(3)[2].Data), "It arrived, please confirm.")
	quiet(3)
}

// A ticket from before the first run has no thread until it changes. The
// web-app reply that changes it, seen by a poll (whose list carries no
// replies), starts the thread and reaches the customer at once.
func TestWebAppReplyOnABaselineTicketIsMailed(t *testing.T) {
	mailing, smtp := withMailingOutbox(t)
	e := newWatchEnv(t, taskipfake.Options{}, mailing)
	e.poll()
	var old taskipfake.Ticket
	for _, o := range e.fake.Tickets() {
		if o.User != nil && o.User.Email != "" {
			old = o
			break
		}
	}
	require.NotZero(t, old.ID, "a seeded ticket from before the baseline")

	_, err := e.fake.AddAgentReply(old.ID, "Sarah Johnson", "Sorry for the wait, it is fixed.")
	require.NoError(t, err)
	e.poll()
	require.Len(t, e.parents(), 1, "the ticket got its thread")
	require.Eventually(t, func() bool { return len(smtp.Messages()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	got := smtp.Messages()[0]
	assert.Equal(t, []string{old.User.Email}, got.To)
	assert.Contains(t, string(got.Data), "Sorry for the wait, it is fixed.")
}

// noReplyText is a server that counts replies but does not send them.
type noReplyText struct{ WatchTickets }

func (n noReplyText) GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error) {
	t, err := n.WatchTickets.GetTicket(ctx, id)
	t.Replies = nil
	return t, err
}

// A reply made in the web app is mailed only with its text: an email that
// says "there is a reply" would be worse than none.
func TestWebAppReplyWithoutTextIsNotMailed(t *testing.T) {
	e, tk, smtp := newMailingCommandsEnv(t, func(c *WatchConfig) { c.Tickets = noReplyText{c.Tickets} })

	_, err := e.fake.AddAgentReply(tk.ID, "Sarah Johnson", "It arrived, please confirm.")
	require.NoError(t, err)
	e.watch.TicketChanged(taskip.ID(tk.ID))
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(e.threadTexts(tk.ID), func(s string) bool { return strings.Contains(s, "the server sent no text") })
	}, 5*time.Second, 5*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, smtp.Messages())
	assert.Zero(t, e.store.OutboxDepth())
}

// slowMailer holds each delivery until released, to stop the daemon in the
// middle of one.
type slowMailer struct {
	Mailer
	started chan struct{}
	release chan struct{}
}

func (m slowMailer) Deliver(ctx context.Context, out mime.Outgoing, beforeEnd func() error) error {
	m.started <- struct{}{}
	<-m.release
	return m.Mailer.Deliver(ctx, out, beforeEnd)
}

// On shutdown the delivery in flight is finished and recorded;
// what was not started waits in the outbox for the next run.
func TestOutboxShutdownFinishesTheDeliveryInFlight(t *testing.T) {
	slow := slowMailer{started: make(chan struct{}, 1), release: make(chan struct{})}
	e := newOutboxEnv(t, func(c *OutboxConfig) {
		slow.Mailer = c.Mailer
		c.Mailer = slow
	})
	e.start()
	createFirst(t, e.intakeEnv)
	e.deliver(mailMsg("other@acme.com", "Jane <jane@acme.com>", "Other", "Hello."))
	e.cycle()
	<-slow.started
	stopped := make(chan struct{})
	go func() { e.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("the worker stopped with a delivery in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(slow.release)
	<-stopped
	require.Len(t, e.smtp.Messages(), 1, "the delivery in flight went out")
	closed := e.closedEntries()
	require.Len(t, closed, 1)
	assert.Equal(t, state.OutboxSent, closed[0].Status, "and was recorded")
	assert.Equal(t, 1, e.store.OutboxDepth(), "the second waits for the next run")
}

// watchOnReply lets a watch sync a ticket the moment the intake's reply
// lands in TaskIP, before the intake has recorded it: the widest the race
// between the two can be.
type watchOnReply struct {
	Tickets
	w *Watch
}

func (r watchOnReply) AddReply(ctx context.Context, id taskip.ID, f taskip.AddReplyFields) (taskip.Reply, error) {
	rep, err := r.Tickets.AddReply(ctx, id, f)
	if err == nil {
		if full, gerr := r.Tickets.GetTicket(ctx, id); gerr == nil {
			_ = r.w.sync(ctx, full, true)
		}
	}
	return rep, err
}

// An agent who answers by mail sends their own mail; the daemon must not
// mail their words to the customer a second time, even when the watch sees
// the reply before the intake has recorded it.
func TestAgentAnswerByMailIsNeverMailedAgain(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
	tk := createFirst(t, e.intakeEnv)
	w, err := NewWatch(WatchConfig{Tickets: e.client, Store: e.store, Outbox: e.outbox, Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, w.Poll(context.Background()), "the baseline")
	e.intake.cfg.Tickets = watchOnReply{e.intake.cfg.Tickets, w}

	var agent string
	for _, m := range e.fake.TeamMembers() {
		agent = m.Email
	}
	e.deliver(mailMsg("agent-answer@company.example", "Agent <"+agent+">", "Re: Login broken", "Please try again now.",
		"In-Reply-To: <first@acme.com>", "Cc: john@acme.com"))
	e.cycle()
	replies := e.fake.Replies(tk.ID)
	require.Len(t, replies, 1)
	require.Equal(t, "team_member", replies[0].AuthorType)
	assert.Zero(t, e.store.OutboxDepth(), "nothing is queued for the customer")
	require.NoError(t, w.Poll(context.Background()))
	assert.Zero(t, e.store.OutboxDepth(), "nor by a later poll")
}

// A ticket's mails reach the customer in the order they were written, even
// when the first is refused for a while: the next one waits for it.
func TestOutboxKeepsATicketsMailsInOrder(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.AcknowledgeNew = false })
	tk := createFirst(t, e.intakeEnv)
	e.smtp.FailNext(1, 451, "4.3.0", "try again later")
	e.AgentReply(tk, 901, "First answer.")
	e.AgentReply(tk, 902, "Second answer.")
	e.start()
	got := e.waitDelivered(2)
	assert.Contains(t, string(got[0].Data), "First answer.")
	assert.Contains(t, string(got[1].Data), "Second answer.")
}

// A Slack reply whose flow died after claiming it is finished by the
// watch once the flow is surely gone: mailed once when TaskIP has it (a
// flow that finished is not mailed twice), and, when TaskIP never got it,
// dropped with word in the thread, since nobody told the agent.
func TestSlackReplyClaimLeftByADeadFlow(t *testing.T) {
	for _, tc := range []struct {
		name             string
		written, settled bool
		wantMails        int
	}{
		{"written, not recorded", true, false, 1},
		{"written and recorded", true, true, 1},
		{"never written", false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var offset atomic.Int64
			mailing, smtp := withMailingOutbox(t)
			e := newWatchEnv(t, taskipfake.Options{}, mailing, func(c *WatchConfig) {
				c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			})
			e.poll()
			tk := e.newTicket("Replacement part")
			e.poll()

			// What the Slack flow leaves when it dies: its claim, and
			// perhaps the reply in TaskIP.
			const text = "We shipped the replacement today."
			ar := AgentReply{Ticket: mapping.Ticket{ID: int64(tk.ID), UUID: tk.UUID}, Origin: state.ReplyFromSlack, Text: text}
			work, err := json.Marshal(ar)
			require.NoError(t, err)
			var claim state.ReplyClaim
			require.NoError(t, e.store.Update(func(tx *state.Tx) (err error) {
				claim, err = tx.ClaimReply(state.ReplyClaim{TicketID: int64(tk.ID), TicketUUID: tk.UUID, Origin: state.ReplyFromSlack,
					TextSum: state.TextSum(text), Work: work})
				return err
			}))
			if tc.written {
				r, err := e.fake.AddAgentReply(tk.ID, "Sarah Johnson", text)
				require.NoError(t, err)
				if tc.settled {
					require.NoError(t, e.store.Update(func(tx *state.Tx) error {
						if err := tx.SettleReplyClaim(int64(tk.ID), claim.ID); err != nil {
							return err
						}
						ar.ReplyID, ar.Customer, ar.Subject = int64(r.ID), mime.Address{Name: tk.User.Name, Email: tk.User.Email}, tk.Subject
						_, err := e.cfg.Outbox.Reply(tx, ar)
						return err
					}))
					e.cfg.Outbox.Wake()
				}
			}
			e.poll()
			if !tc.settled {
				time.Sleep(50 * time.Millisecond) // a mail would be out by now
				assert.Empty(t, smtp.Messages(), "left to the Slack flow for now")
			}

			offset.Add(int64(claimWait))
			e.poll()
			if tc.wantMails > 0 {
				require.Eventually(t, func() bool { return len(smtp.Messages()) >= tc.wantMails }, 5*time.Second, 5*time.Millisecond)
			}
			e.poll()
			time.Sleep(100 * time.Millisecond) // a second mail would be out by now
			msgs := smtp.Messages()
			require.Len(t, msgs, tc.wantMails, "mailed at most once")
			if tc.wantMails > 0 {
				assert.Contains(t, string(msgs[0].Data), text)
			}
			var left []state.ReplyClaim
			require.NoError(t, e.store.View(func(tx *state.Tx) (err error) {
				left, err = tx.ReplyClaims()
				return err
			}))
			assert.Empty(t, left, "the claim is settled")
			told := false
			for _, line := range e.threadTexts(tk.ID) {
				told = told || strings.Contains(line, "was not saved in TaskIP")
			}
			assert.Equal(t, !tc.written, told, "the thread hears of a reply that was never written")
		})
	}
}

// The first run sees tickets on list pages, which count replies without
// showing them. When such a ticket changes, only the replies made since
// are news: the older agent replies are neither mailed nor posted again,
// with Slack or without it.
func TestWebAppReplyOnATicketWithHistoryMailsOnlyTheNewReply(t *testing.T) {
	for _, slackOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("slack %v", slackOn), func(t *testing.T) {
			mailing, smtp := withMailingOutbox(t)
			e := newWatchEnv(t, taskipfake.Options{}, mailing, func(c *WatchConfig) {
				if !slackOn {
					c.Chat, c.Channel = nil, ""
				}
			})
			const id = 45 // seeded with agent replies from before the first run
			var old []string
			for _, r := range e.fake.Replies(id) {
				if r.AuthorType == "team_member" {
					old = append(old, r.Message)
				}
			}
			require.NotEmpty(t, old, "the seeded ticket has an agent reply already")
			e.poll()

			_, err := e.fake.AddAgentReply(id, "Sarah Johnson", "The queue is flushed now.")
			require.NoError(t, err)
			e.poll()
			require.Eventually(t, func() bool { return len(smtp.Messages()) >= 1 }, 5*time.Second, 5*time.Millisecond)
			time.Sleep(100 * time.Millisecond) // an old reply would be out by now
			msgs := smtp.Messages()
			require.Len(t, msgs, 1, "only the new reply")
			assert.Contains(t, string(msgs[0].Data), "The queue is flushed now.")
			for _, text := range old {
				assert.NotContains(t, string(msgs[0].Data), text)
			}
		})
	}
}
