package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
)

const testPassword = "s3cret-Pa55word!"

// newTestSender connects to srv the way its options say.
func newTestSender(t testing.TB, srv *mailtest.SMTPServer, mode mail.TLSMode, user, pass string, logs io.Writer) *Sender {
	if logs == nil {
		logs = io.Discard
	}
	s := NewSender(Config{
		Addr: srv.Addr(), TLS: mode, Username: user, Password: pass,
		TLSConfig: srv.ClientTLSConfig(), Timeout: 5 * time.Second, LocalName: "test.example",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testMessage is a small reply; how replies are composed is tested in
// internal/mail/mime.
func testMessage(i int) mime.Outgoing {
	o := mime.Outgoing{
		From:       mime.Address{Name: "Acme Support", Email: "support@example.com"},
		To:         mime.Address{Name: "Jane Customer", Email: "jane@customer.example"},
		Subject:    "Re: Printer on fire [#9b2f4c1e-7d3a-4e8b-a1c2-5f6e7d8c9b0a]",
		TicketUUID: "9b2f4c1e-7d3a-4e8b-a1c2-5f6e7d8c9b0a",
		Date:       time.Date(2024, 3, 14, 15, 9, 26, 0, time.UTC),
	}
	o.MessageID = fmt.Sprintf("ticketsync.test%04d@example.com", i)
	o.Text = fmt.Sprintf("Reply number %d.\n\nBest regards", i)
	return o
}

func sendOK(t *testing.T, s *Sender, msgs ...mime.Outgoing) {
	t.Helper()
	for i, err := range s.Send(t.Context(), msgs...) {
		require.NoError(t, err, "message %d", i)
	}
}

func sendErr(t *testing.T, s *Sender, m mime.Outgoing) *SendError {
	t.Helper()
	errs := s.Send(t.Context(), m)
	require.Len(t, errs, 1)
	var se *SendError
	require.ErrorAs(t, errs[0], &se)
	return se
}

// exactlyOne checks that a SendError falls in one class only.
func exactlyOne(t *testing.T, err error, class error) {
	t.Helper()
	for _, c := range []error{ErrPermanent, ErrTransient, ErrOutcomeUnknown} {
		assert.Equal(t, c == class, errors.Is(err, c), "errors.Is(%v, %v)", err, c)
	}
}

// roundTripCases are messages whose bytes must cross SMTP unchanged:
// dot-stuffing, long lines, 8-bit names and an attachment.
func roundTripCases() []mime.Outgoing {
	plain := testMessage(1)
	plain.Text = ".leading dot\n..two dots\n.\nand a line that is long enough to be folded by the encoder " + strings.Repeat("x", 200)
	intl := testMessage(2)
	intl.To = mime.Address{Name: "Jürgen Müller-Lüdenscheidt", Email: "juergen@kunde.example"}
	intl.Subject = "Re: Ärger mit der Rechnung – 請求書について"
	intl.Text = "Grüß Gott Jürgen,\n\ndie Rechnung über 12,50 € ist korrigiert."
	attach := testMessage(3)
	attach.Attachments = []mime.OutgoingFile{{
		Name: "invoice-2024-03.pdf",
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("%PDF-1.4\nnot really a pdf, but bytes\n")), nil
		},
	}}
	return []mime.Outgoing{plain, intl, attach}
}

var boundaryParam = regexp.MustCompile(`boundary="?([0-9a-f]+)`)

// sameBoundaries numbers the multipart boundaries, which are random in
// every composition, so two compositions of one message compare equal.
func sameBoundaries(msg string) string {
	for i, m := range boundaryParam.FindAllStringSubmatch(msg, -1) {
		msg = strings.ReplaceAll(msg, m[1], fmt.Sprintf("boundary%d", i))
	}
	return msg
}

func TestSendRoundTrip(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
	cases := roundTripCases()
	sendOK(t, s, cases...)
	got := srv.Messages()
	require.Len(t, got, len(cases))
	for i, o := range cases {
		var want bytes.Buffer
		_, err := o.WriteTo(&want)
		require.NoError(t, err)
		assert.Equal(t, o.From.Email, got[i].From, "envelope from")
		assert.Equal(t, []string{o.To.Email}, got[i].To, "envelope rcpt")
		assert.Equal(t, sameBoundaries(want.String()), sameBoundaries(string(got[i].Data)), "message %d arrives byte for byte", i)
	}
	assert.Equal(t, 1, srv.Sessions())
}

func TestSendReusesOneConnection(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
	var batch []mime.Outgoing
	for i := range 50 {
		batch = append(batch, testMessage(i))
	}
	sendOK(t, s, batch...)
	sendOK(t, s, testMessage(50))
	sendOK(t, s, testMessage(51), testMessage(52))
	require.Len(t, srv.Messages(), 53)
	for i, r := range srv.Messages() {
		assert.Contains(t, string(r.Data), fmt.Sprintf("<ticketsync.test%04d@example.com>", i), "order")
	}
	assert.Equal(t, 1, srv.Sessions())
}

func TestSendAuth(t *testing.T) {
	for _, mechs := range [][]string{{"PLAIN", "LOGIN"}, {"LOGIN"}} {
		t.Run(strings.Join(mechs, "+"), func(t *testing.T) {
			srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{
				Username: "agent", Password: testPassword, AuthMechanisms: mechs, AllowInsecureAuth: true,
			})
			s := newTestSender(t, srv, mail.TLSNone, "agent", testPassword, nil)
			sendOK(t, s, testMessage(1))
			require.Len(t, srv.Messages(), 1)
			assert.Equal(t, "agent", srv.Messages()[0].Username)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{
			Username: "agent", Password: "the-right-one", AllowInsecureAuth: true,
		})
		var logs logtest.Buffer
		s := newTestSender(t, srv, mail.TLSNone, "agent", testPassword, &logs)
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrPermanent)
		assert.Equal(t, "auth", se.Op)
		assert.Equal(t, 535, se.Code)
		assert.Equal(t, "5.7.8", se.Enhanced)
		assert.NotContains(t, se.Error(), testPassword)
		assert.NotContains(t, fmt.Sprintf("%+v %#v", se, se), testPassword)
		assert.Contains(t, logs.String(), "smtp login refused")
		assert.NotContains(t, logs.String(), testPassword)
		assert.Empty(t, srv.Messages())
	})
	t.Run("no auth offered", func(t *testing.T) {
		// go-smtp hides AUTH on cleartext unless told otherwise.
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{Username: "agent", Password: testPassword})
		se := sendErr(t, newTestSender(t, srv, mail.TLSNone, "agent", testPassword, nil), testMessage(1))
		exactlyOne(t, se, ErrPermanent)
		assert.Equal(t, "auth", se.Op)
	})
	t.Run("no cleartext password off loopback", func(t *testing.T) {
		s := NewSender(Config{Addr: "192.0.2.1:25", TLS: mail.TLSNone, Username: "agent", Password: testPassword})
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrPermanent)
		assert.NotContains(t, se.Error(), testPassword)
	})
}

func TestSendFailures(t *testing.T) {
	t.Run("4xx is transient, then a retry succeeds", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		srv.FailNext(1, 451, "4.3.0", "Try again later")
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrTransient)
		assert.Equal(t, "end of data", se.Op)
		assert.Equal(t, 451, se.Code)
		assert.Equal(t, "4.3.0", se.Enhanced)
		assert.Equal(t, "Try again later", se.Message)
		assert.Contains(t, se.Error(), "ticketsync.test0001@example.com")
		sendOK(t, s, testMessage(1))
		assert.Len(t, srv.Messages(), 1)
		assert.Equal(t, 1, srv.Sessions(), "a refused message keeps the connection")
	})
	t.Run("5xx is permanent and the batch goes on", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		srv.FailNext(1, 554, "5.7.1", "Message rejected as spam")
		errs := s.Send(t.Context(), testMessage(1), testMessage(2))
		exactlyOne(t, errs[0], ErrPermanent)
		var se *SendError
		require.ErrorAs(t, errs[0], &se)
		assert.Equal(t, 554, se.Code)
		assert.NoError(t, errs[1])
		assert.Len(t, srv.Messages(), 1)
	})
	t.Run("drop after data is outcome unknown", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		srv.DropAfterDataNext(1)
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrOutcomeUnknown)
		assert.Equal(t, "end of data", se.Op)
		assert.Len(t, srv.Messages(), 1, "the server did take it")
		sendOK(t, s, testMessage(2))
		assert.Equal(t, 2, srv.Sessions(), "reconnected after the drop")
	})
	t.Run("server down is transient", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		srv.SetDown(true)
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrTransient)
		assert.Equal(t, "connect", se.Op)
		srv.SetDown(false)
		sendOK(t, s, testMessage(1))
	})
	t.Run("a connection the server closed is replaced", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		sendOK(t, s, testMessage(1))
		srv.SetDown(true) // closes the idle connection
		srv.SetDown(false)
		sendOK(t, s, testMessage(2))
		assert.Len(t, srv.Messages(), 2)
		assert.Equal(t, 2, srv.Sessions())
	})
	t.Run("an attachment that fails to open sends nothing", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		m := testMessage(1)
		boom := errors.New("attachment store unavailable")
		m.Attachments = []mime.OutgoingFile{{Name: "a.txt", Open: func() (io.ReadCloser, error) { return nil, boom }}}
		errs := s.Send(t.Context(), m, testMessage(2))
		exactlyOne(t, errs[0], ErrTransient)
		assert.ErrorIs(t, errs[0], boom)
		assert.NoError(t, errs[1])
		require.Len(t, srv.Messages(), 1)
		assert.Contains(t, string(srv.Messages()[0].Data), "test0002")
	})
	t.Run("an invalid message never reaches the server", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		m := testMessage(1)
		m.To.Email = ""
		se := sendErr(t, s, m)
		exactlyOne(t, se, ErrPermanent)
		assert.ErrorIs(t, se, mime.ErrInvalidOutgoing)
		assert.Equal(t, 0, srv.Sessions())
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		errs := s.Send(ctx, testMessage(1), testMessage(2))
		for _, err := range errs {
			exactlyOne(t, err, ErrTransient)
			assert.ErrorIs(t, err, context.Canceled)
		}
		assert.Empty(t, srv.Messages())
	})
}

func TestSendTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mailtest.SMTPOptions
		mode mail.TLSMode
	}{
		{"implicit", mailtest.SMTPOptions{ImplicitTLS: true}, mail.TLSImplicit},
		{"starttls", mailtest.SMTPOptions{StartTLS: true}, mail.TLSStartTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Username, tc.opts.Password = "agent", testPassword // AUTH only after TLS
			srv := mailtest.StartSMTP(t, tc.opts)
			s := newTestSender(t, srv, tc.mode, "agent", testPassword, nil)
			sendOK(t, s, testMessage(1), testMessage(2))
			got := srv.Messages()
			require.Len(t, got, 2)
			assert.True(t, got[0].TLS)
			assert.Equal(t, "agent", got[0].Username)
			assert.Equal(t, 1, srv.Sessions())
		})
		t.Run(tc.name+" untrusted certificate", func(t *testing.T) {
			srv := mailtest.StartSMTP(t, tc.opts)
			s := NewSender(Config{Addr: srv.Addr(), TLS: tc.mode, Timeout: 5 * time.Second})
			se := sendErr(t, s, testMessage(1))
			exactlyOne(t, se, ErrTransient)
			assert.Equal(t, "connect", se.Op)
			assert.Empty(t, srv.Messages())
		})
	}
	t.Run("starttls not offered", func(t *testing.T) {
		srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
		se := sendErr(t, newTestSender(t, srv, mail.TLSStartTLS, "", "", nil), testMessage(1))
		assert.Equal(t, "connect", se.Op)
		assert.Empty(t, srv.Messages())
	})
}

func TestSendConcurrentCallers(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	s := newTestSender(t, srv, mail.TLSNone, "", "", nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				for _, err := range s.Send(t.Context(), testMessage(g*100+i)) {
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, srv.Messages(), 40)
	assert.Equal(t, 1, srv.Sessions())
}

// BenchmarkSend100 sends batches of 100 replies over one connection to an
// in-process server and reports messages per second.
func BenchmarkSend100(b *testing.B) {
	srv := mailtest.StartSMTP(b, mailtest.SMTPOptions{})
	s := newTestSender(b, srv, mail.TLSNone, "", "", nil)
	batch := make([]mime.Outgoing, 100)
	for i := range batch {
		batch[i] = testMessage(i)
	}
	ctx := context.Background()
	start := time.Now()
	n := 0
	for b.Loop() {
		for _, err := range s.Send(ctx, batch...) {
			if err != nil {
				b.Fatal(err)
			}
		}
		n += len(batch)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	if srv.Sessions() != 1 {
		b.Fatalf("%d sessions, want 1", srv.Sessions())
	}
}

// Deliver's hook runs after the data and before the dot: nothing has been
// taken when it runs, and its failure means nothing is taken at all.
func TestDeliverCommitsBeforeTheEndOfData(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	s := newTestSender(t, srv, mail.TLSNone, "", "", nil)

	var seenAtCommit = -1
	require.NoError(t, s.Deliver(t.Context(), testMessage(1), func() error {
		seenAtCommit = len(srv.Messages())
		return nil
	}))
	assert.Equal(t, 0, seenAtCommit, "the hook runs before the server has the message")
	require.Len(t, srv.Messages(), 1)

	err := s.Deliver(t.Context(), testMessage(2), func() error { return errors.New("disk full") })
	var se *SendError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "commit", se.Op)
	exactlyOne(t, err, ErrTransient)
	assert.Len(t, srv.Messages(), 1, "without the dot the server discards the message")

	require.NoError(t, s.Deliver(t.Context(), testMessage(3), nil), "the sender reconnects after hanging up")
	assert.Len(t, srv.Messages(), 2)
}
