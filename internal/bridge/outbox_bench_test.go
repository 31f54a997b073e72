package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
)

// The outbox's throughput against a go-smtp server on loopback, and its
// baseline measured in the same run: the same messages sent by a bare
// Sender on one reused connection, with no state at all. The difference
// is what durability costs: two fsynced commits per message (the mark
// before the final dot and the close after the 250).
//
//	go test -run '^$' -bench 'Outbox' -benchtime 2000x ./internal/bridge
func BenchmarkOutbox(b *testing.B) {
	b.Run("baseline-bare-sender", func(b *testing.B) {
		srv := mailtest.StartSMTP(b, mailtest.SMTPOptions{})
		sender := smtp.NewSender(smtp.Config{Addr: srv.Addr(), TLS: mail.TLSNone, LocalName: "bench.example"})
		defer sender.Close()
		msgs := make([]mime.Outgoing, b.N)
		for i := range msgs {
			msgs[i] = benchOutgoing(i)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := sender.Deliver(context.Background(), msgs[i], nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("outbox-fsync", func(b *testing.B) {
		srv := mailtest.StartSMTP(b, mailtest.SMTPOptions{})
		sender := smtp.NewSender(smtp.Config{Addr: srv.Addr(), TLS: mail.TLSNone, LocalName: "bench.example"})
		defer sender.Close()
		st, err := state.Open(state.Config{Path: filepath.Join(b.TempDir(), "state.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		o, err := NewOutbox(OutboxConfig{Mailer: sender, Store: st, From: mime.Address{Name: "Acme Support", Email: supportAddr},
			Address: supportAddr, AcknowledgeNew: true, SendAgentReplies: true})
		if err != nil {
			b.Fatal(err)
		}
		// Queued before the clock starts: this measures the worker, the
		// part that has to keep up with a burst of replies.
		err = st.Update(func(tx *state.Tx) error {
			for i := range b.N {
				ar := AgentReply{Ticket: mapping.Ticket{ID: int64(i + 1), UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)},
					ReplyID: 1, Origin: "slack", Text: "Hello John,\n\nthe relay is fixed.\n\nSarah",
					Customer: mime.Address{Name: "John Smith", Email: "john@acme.com"}, Subject: "Printer on fire"}
				if _, err := o.Reply(tx, ar); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b.ResetTimer()
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		for st.OutboxDepth() > 0 {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if got := len(srv.Messages()); got != b.N {
			b.Fatalf("%d delivered, want %d", got, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

func benchOutgoing(i int) mime.Outgoing {
	return mime.Outgoing{
		From: mime.Address{Name: "Acme Support", Email: supportAddr}, To: mime.Address{Name: "John Smith", Email: "john@acme.com"},
		ReplyTo: "support+00000000-0000-4000-8000-000000000001@example.com", Subject: "Re: Printer on fire [#00000000-0000-4000-8000-000000000001]",
		MessageID: mime.NewMessageID("example.com"), InReplyTo: "first@acme.com", References: []string{"first@acme.com"},
		Text: fmt.Sprintf("Hello John,\n\nthe relay is fixed (%d).\n\nSarah", i), TicketUUID: "00000000-0000-4000-8000-000000000001",
	}
}
