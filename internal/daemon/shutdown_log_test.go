package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// syncBuffer is a log sink shared by the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Stopping the daemon is not a failure: whatever was in flight when the
// stop came (an IMAP connect being retried, a slow TaskIP poll, a slow
// Slack post) ends without a warning or an error in the log. The start-up
// line names what an operator checks first.
func TestShutdownLogsNoFailures(t *testing.T) {
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	sf := slackfake.New(t)
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	// An IMAP server that accepts and never greets: the intake's connect
	// is under way when the stop comes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	connecting := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			select {
			case connecting <- struct{}{}:
			default:
			}
		}
	}()
	silent := ln.Addr().String()

	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sections := fmt.Sprintf(`mail:
  address: %s
  imap:
    addr: %s
    tls: none
    username: %s
    password: test-password
  smtp:
    addr: %s
    tls: none
    from: "Acme Support <%s>"
slack:
  bot_token: %s
  signing_secret: test-signing-secret
  api_url: %s
  channel: %s
`, supportAddr, silent, supportAddr, smtp.Addr(), supportAddr, slackfake.DefaultToken, sf.URL(), testChannel)
	_, stop := startDaemonAt(t, base, t.TempDir()+"/state.db", sections, Options{Logger: log, Version: "v9.9.9-test", Backfill: "open"})
	<-connecting
	require.Eventually(t, func() bool { return len(sf.Messages(testChannel)) > 0 }, scWait, scTick)
	// Everything now answers slowly, so the stop finds calls in flight.
	tf.SetLatency(3 * time.Second)
	sf.SetLatency(3 * time.Second)
	tf.SeedTicket(taskipfake.Ticket{Subject: "In flight", Status: taskipfake.StatusOpen, Priority: taskipfake.PriorityNormal})
	time.Sleep(1500 * time.Millisecond) // the next poll is under way
	stop()

	out := logs.String()
	start := out[:strings.Index(out, `msg="shutting down"`)]
	for _, want := range []string{`msg="ticketsync running"`, "version=v9.9.9-test", "state=", "mailbox=\"" + supportAddr + " INBOX at " + silent + "\"",
		"slack_channel=" + testChannel, "http=127.0.0.1:"} {
		assert.Contains(t, start, want)
	}
	after := out[strings.Index(out, `msg="shutting down"`):]
	for _, line := range strings.Split(after, "\n") {
		assert.NotRegexp(t, `level=(WARN|ERROR)`, line, "a failure logged while shutting down")
	}
}
