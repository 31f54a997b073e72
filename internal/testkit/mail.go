package testkit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// MailServer is what the flow tests need of an IMAP server: go-imap's
// memory server or a real Dovecot.
type MailServer interface {
	Addr() string
	Append(t testing.TB, mailbox string, raw []byte) uint32
	Messages(t testing.TB, mailbox string) []mailtest.MemMessage
	Username() string
	Password() string
}

// HistoryServer is an IMAP server the first-start tests can fill with old
// mail.
type HistoryServer interface {
	MailServer
	AppendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32
}

// MailMsg builds a raw message; extra headers are "Name: value" strings.
func MailMsg(id, from, subject, body string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", AddrOf(from))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Mon, 15 Jan 2024 09:30:00 +0000\r\n", from, SupportAddr, subject)
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", id)
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// AddrOf is the address in a From value such as "Name <addr>".
func AddrOf(from string) string {
	if i := strings.IndexByte(from, '<'); i >= 0 {
		return strings.TrimSuffix(from[i+1:], ">")
	}
	return from
}

// HasFlag reports whether flags holds f.
func HasFlag(flags []string, f string) bool { return slices.Contains(flags, f) }

// StoredFlags leaves out \Recent, which only says which session saw the
// mail first and is no one's to keep.
func StoredFlags(flags []string) []string {
	return slices.DeleteFunc(slices.Clone(flags), func(f string) bool { return f == `\Recent` })
}

// SupportMailbox fills INBOX as a support mailbox looks on the day
// ticketsync is installed: 30 answered mails from a year ago, read, and 2
// new questions from the last hour, unread. It returns the listing before
// the daemon saw it.
func SupportMailbox(t testing.TB, imap HistoryServer) []mailtest.MemMessage {
	yearAgo := time.Now().AddDate(-1, 0, 0)
	for i := range 30 {
		imap.AppendAt(t, "INBOX", MailMsg(fmt.Sprintf("old-%d@customers.test", i), fmt.Sprintf("Old Customer %d <old%d@customers.test>", i, i),
			fmt.Sprintf("Question from last year %d", i), "Long answered.\n"), yearAgo.Add(time.Duration(i)*time.Hour), `\Seen`)
	}
	for i := range 2 {
		imap.AppendAt(t, "INBOX", MailMsg(fmt.Sprintf("new-%d@customers.test", i), fmt.Sprintf("New Customer %d <new%d@customers.test>", i, i),
			fmt.Sprintf("Question from today %d", i), "Please help.\n"), time.Now().Add(-30*time.Minute))
	}
	return imap.Messages(t, "INBOX")
}

// Subjects are the tickets' subjects, sorted, so a comparison does not
// depend on the order they were made in.
func Subjects(tks []taskipfake.Ticket) []string {
	var out []string
	for _, tk := range tks {
		out = append(out, tk.Subject)
	}
	slices.Sort(out)
	return out
}

// Header is a sent mail's header.
func Header(t testing.TB, r mailtest.Received) netmail.Header {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(r.Data))
	require.NoError(t, err)
	return m.Header
}

// MailText is a sent mail as raw text followed by its decoded text parts,
// so a long line that quoted-printable folded is still found whole.
func MailText(r mailtest.Received) string {
	text, _, _ := MailParts(r.Data)
	return string(r.Data) + "\n" + text
}

// MailParts walks a message's MIME tree: its text/plain parts, transfer
// encoding undone, and its attached files by name.
func MailParts(raw []byte) (text string, files map[string][]byte, err error) {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, err
	}
	files = map[string][]byte{}
	var b strings.Builder
	err = walkPart(textproto.MIMEHeader(m.Header), m.Body, &b, files)
	return b.String(), files, err
}

func walkPart(h textproto.MIMEHeader, body io.Reader, text *strings.Builder, files map[string][]byte) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkPart(p.Header, p, text, files); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	content, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if disp, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && disp == "attachment" {
		files[dp["filename"]] = content
		return nil
	}
	if mediaType == "text/plain" {
		text.WriteString(strings.ReplaceAll(string(content), "\r\n", "\n"))
	}
	return nil
}

// MailsContaining counts the sent mails whose raw text contains sub.
func MailsContaining(msgs []mailtest.Received, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(MailText(m), sub) {
			n++
		}
	}
	return n
}

// MailWith waits for the sent mail whose text contains sub.
func MailWith(t testing.TB, smtp *mailtest.SMTPServer, sub string) mailtest.Received {
	t.Helper()
	var got mailtest.Received
	require.Eventually(t, func() bool {
		for _, m := range smtp.Messages() {
			if strings.Contains(MailText(m), sub) {
				got = m
				return true
			}
		}
		return false
	}, Wait, Tick, "a mail with %q", sub)
	return got
}

// WaitMails waits until at least n mails were sent and returns them all.
func WaitMails(t testing.TB, smtp *mailtest.SMTPServer, n int) []mailtest.Received {
	t.Helper()
	require.Eventually(t, func() bool { return len(smtp.Messages()) >= n }, Wait, Tick, "%d mails sent", n)
	return smtp.Messages()
}
