package intake

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// The mail the benchmark delivers. Every message comes from its own
// customer (customerNNNNN@clientMMM.example), all of whom exist as TaskIP
// contacts: the common case of a support mailbox (most mail is from known
// customers, few write twice in one burst) and the expensive one for the
// intake, which looks every new sender up once (GET /contact?search=).

const supportAddr = "support@example.com"

var (
	firstNames = []string{"Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nora", "Oskar", "Priya"}
	lastNames  = []string{"Müller", "Schmidt", "García", "Rossi", "Dubois", "Nowak", "Jensen", "Tanaka", "Silva", "Novak", "O'Brien", "Kowalski", "Yilmaz", "Haddad"}
	problems   = []struct{ subject, body string }{
		{"Cannot log in since this morning",
			"Hello,\n\nsince this morning none of us can log in to the portal. The page says \"session expired\" right after entering the password, and clearing the browser cache did not help. We tried Firefox and Chrome on two different machines.\n\nCould you please look into this? Our team is blocked."},
		{"Invoice 2024-0815 shows the wrong VAT rate",
			"Hi support team,\n\nthe invoice we received yesterday (2024-0815) applies 19 % VAT, but our company is registered in Austria and should be charged 20 %, or reverse charge with our VAT ID ATU12345678. Please send a corrected invoice; our accounting closes the month on Friday.\n\nThank you!"},
		{"Export to CSV cuts off after 1000 rows",
			"Good afternoon,\n\nwhen I export the customer list to CSV the file always ends after exactly 1000 rows, although the list shows 2,314 entries. Is there a limit I can raise somewhere? I need the full export for our yearly audit.\n\nSteps: Customers > Filter \"active\" > Export > CSV (UTF-8)."},
		{"Printer on floor 3 prints blank pages",
			"Hello,\n\nthe label printer on floor 3 has been printing blank pages since the update last night. The queue shows the jobs as completed. Reinstalling the driver did not change anything. Model: Zebra ZD421, firmware V93.21.\n\nBest regards"},
		{"Request: add a second admin to our account",
			"Hi,\n\nour office manager is leaving at the end of the month. Could you please add our new colleague as a second administrator so the handover goes smoothly? She already has a normal user account with the same address domain.\n\nKind regards"},
		{"Webhook deliveries failing with 502",
			"Hello,\n\nsince about 02:00 UTC all webhook deliveries to our endpoint fail with 502 Bad Gateway according to your delivery log. Our endpoint answers fine when we call it ourselves, and nothing changed on our side. Could you check whether your outbound proxy has a problem?\n\nThanks in advance."},
	}
)

// customer is the sender of message i.
func customer(i int) (name, email string) {
	name = firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
	return name, fmt.Sprintf("customer%05d@client%03d.example", i, i%211)
}

// smallMail returns message i of a run: a customer's first mail about a
// problem, 2-4 KB with the header a real delivery carries (Received chain,
// DKIM signature, client headers). Every other message is
// multipart/alternative with an HTML version, as most mail clients send.
// The subject carries the run and index so the fake can tell the messages
// apart; it survives mapping.TicketSubject unchanged.
func smallMail(run string, i int, when time.Time) (subject string, raw []byte) {
	name, email := customer(i)
	p := problems[i%len(problems)]
	subject = fmt.Sprintf("%s (ref %s-%05d)", p.subject, run, i)
	domain := email[strings.IndexByte(email, '@')+1:]
	date := when.Format(time.RFC1123Z)
	sig := fmt.Sprintf("\n\n-- \n%s\nIT Operations, Client %03d GmbH\nPhone +49 30 1234 %04d\n", name, i%211, i%10000)
	text := p.body + sig

	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", email)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", supportAddr)
	fmt.Fprintf(&b, "Received: from mx.example.com (localhost [127.0.0.1])\r\n\tby mx.example.com (Postfix) with ESMTP id %08X\r\n\tfor <%s>; %s\r\n", i*7919, supportAddr, date)
	fmt.Fprintf(&b, "Received: from mail-out.%s (mail-out.%s [192.0.2.%d])\r\n\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n", domain, domain, i%250+1, i*104729, supportAddr, date)
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail2024;\r\n\th=from:to:subject:date:message-id:mime-version:content-type;\r\n\tbh=%s;\r\n\tb=%s\r\n",
		domain, fakeB64(i, 44), foldB64(fakeB64(i+1, 344)))
	fmt.Fprintf(&b, "Date: %s\r\n", date)
	fmt.Fprintf(&b, "From: \"%s\" <%s>\r\n", name, email)
	fmt.Fprintf(&b, "To: Example Support <%s>\r\n", supportAddr)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%s.%05d.%d@%s>\r\n", run, i, when.UnixNano(), domain)
	b.WriteString("MIME-Version: 1.0\r\n")
	if i%2 == 0 {
		b.WriteString("User-Agent: Mozilla Thunderbird\r\n")
		b.WriteString("Content-Language: en-US\r\n")
		b.WriteString("Content-Type: text/plain; charset=UTF-8; format=flowed\r\n")
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(crlf(text))
		return subject, []byte(b.String())
	}
	boundary := fmt.Sprintf("000000000000%012x", i*2654435761)
	b.WriteString("X-Mailer: Microsoft Outlook 16.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", boundary, crlf(text))
	html := "<html><head><meta charset=\"utf-8\"></head><body><div dir=\"ltr\">" +
		strings.ReplaceAll(strings.ReplaceAll(text, "\n\n", "</div><div><br></div><div>"), "\n", "<br>") +
		"</div></body></html>"
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s--\r\n", boundary, html, boundary)
	return subject, []byte(b.String())
}

func crlf(s string) string {
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// fakeB64 is n deterministic base64 characters standing in for a signature.
func fakeB64(seed, n int) string {
	r := rand.New(rand.NewPCG(uint64(seed), 42))
	raw := make([]byte, n)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(raw)[:n]
}

func foldB64(s string) string {
	var parts []string
	for len(s) > 70 {
		parts = append(parts, s[:70])
		s = s[70:]
	}
	return strings.Join(append(parts, s), "\r\n\t")
}

// bigMail writes a multipart/mixed message carrying one attachment of
// attachBytes pseudo-random bytes, base64 in 76-character lines, generated
// as it is written (nothing of it is held in memory). It returns the SHA-256
// of the decoded attachment. Calling it twice with the same arguments
// writes the same bytes, so a first pass into a counter gives the APPEND
// literal's size.
func bigMail(w io.Writer, run string, i int, attachBytes int64, when time.Time) (subject, sum string, err error) {
	name, email := customer(i)
	subject = fmt.Sprintf("Crash logs from the night run (ref %s-%05d)", run, i)
	domain := email[strings.IndexByte(email, '@')+1:]
	boundary := "------------bench-mixed-0123456789"
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", email, supportAddr)
	fmt.Fprintf(bw, "Received: from mail-out.%s (mail-out.%s [192.0.2.7])\r\n\tby mx.example.com (Postfix) with ESMTPS id 4F2A9C\r\n\tfor <%s>; %s\r\n", domain, domain, supportAddr, when.Format(time.RFC1123Z))
	fmt.Fprintf(bw, "Date: %s\r\nFrom: \"%s\" <%s>\r\nTo: Example Support <%s>\r\nSubject: %s\r\n", when.Format(time.RFC1123Z), name, email, supportAddr, subject)
	fmt.Fprintf(bw, "Message-ID: <%s.big.%05d@%s>\r\nMIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\n", run, i, domain)
	fmt.Fprintf(bw, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME format.\r\n", boundary)
	fmt.Fprintf(bw, "--%s\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", boundary)
	bw.WriteString(crlf("Hello,\n\nthe nightly batch crashed again. I attached the full diagnostics bundle\n(about 20 MB) as your colleague asked on the phone.\n\nRegards,\n" + name))
	fmt.Fprintf(bw, "--%s\r\nContent-Type: application/zip; name=\"diagnostics.zip\"\r\nContent-Disposition: attachment; filename=\"diagnostics.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary)

	h := sha256.New()
	enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: bw})
	if err := writeRandom(io.MultiWriter(enc, h), attachBytes, uint64(i)); err != nil {
		return "", "", err
	}
	if err := enc.Close(); err != nil {
		return "", "", err
	}
	fmt.Fprintf(bw, "\r\n--%s--\r\n", boundary)
	return subject, hex.EncodeToString(h.Sum(nil)), bw.Flush()
}

func writeRandom(w io.Writer, n int64, seed uint64) error {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 64<<10)
	for n > 0 {
		chunk := buf[:min(int64(len(buf)), n)]
		_, _ = src.Read(chunk)
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

// lineWrapper breaks base64 output into CRLF-terminated 76-column lines.
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// appender delivers mail over one IMAP session, as a delivery agent keeps
// its connection: APPEND INBOX, one message at a time.
type appender struct{ c *imapclient.Client }

func dialAppender(addr, user, pass string) (*appender, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login: %w", err)
	}
	return &appender{c: c}, nil
}

// append stores raw in mailbox and returns when the server has answered OK.
func (a *appender) append(mailbox string, raw []byte) error {
	return a.appendStream(mailbox, int64(len(raw)), func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	})
}

func (a *appender) appendStream(mailbox string, size int64, write func(io.Writer) error) error {
	cmd := a.c.Append(mailbox, size, nil)
	if err := write(cmd); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

func (a *appender) close() {
	_ = a.c.Logout().Wait()
	_ = a.c.Close()
}

// messageIDOf returns the Message-ID (without <>) of a message the
// benchmark generated.
func messageIDOf(raw []byte) string {
	m := messageIDHeader.FindSubmatch(raw)
	if m == nil {
		return ""
	}
	return string(m[1])
}

var messageIDHeader = regexp.MustCompile(`(?m)^Message-ID: <([^>]+)>\r$`)

// replyMarker is the phrase of the reply to conversation i that the
// checks look for on its ticket: the reply belongs on that ticket and no
// other.
func replyMarker(run string, i int) string { return fmt.Sprintf("follow-up %s-%05d", run, i) }

// replyText is the text of the reply to conversation i, as the intake
// imports it (the quoted history below it is cut).
func replyText(run string, i int) string {
	return fmt.Sprintf("Hello again,\n\none more detail (%s): it still happens today, and now for our colleagues in the other office too. Is there anything we can try in the meantime?",
		replyMarker(run, i))
}

// replyMail is the customer's answer to their own first mail (message i,
// whose Message-ID is inReplyTo): In-Reply-To and References name it, the
// subject is "Re: " + subject, the body is new text above the quoted
// original, as mail clients write it.
func replyMail(run string, i int, inReplyTo, subject string, when time.Time) []byte {
	name, email := customer(i)
	p := problems[i%len(problems)]
	domain := email[strings.IndexByte(email, '@')+1:]
	date := when.Format(time.RFC1123Z)
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", email)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", supportAddr)
	fmt.Fprintf(&b, "Received: from mail-out.%s (mail-out.%s [192.0.2.%d])\r\n\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n",
		domain, domain, i%250+1, i*7907, supportAddr, date)
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail2024;\r\n\th=from:to:subject:date:message-id:in-reply-to:references;\r\n\tbh=%s;\r\n\tb=%s\r\n",
		domain, fakeB64(i+7, 44), foldB64(fakeB64(i+8, 344)))
	fmt.Fprintf(&b, "Date: %s\r\n", date)
	fmt.Fprintf(&b, "From: \"%s\" <%s>\r\n", name, email)
	fmt.Fprintf(&b, "To: Example Support <%s>\r\n", supportAddr)
	fmt.Fprintf(&b, "Subject: Re: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%s.%05d.reply.%d@%s>\r\n", run, i, when.UnixNano(), domain)
	fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", inReplyTo)
	fmt.Fprintf(&b, "References: <%s>\r\n", inReplyTo)
	b.WriteString("MIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\nContent-Language: en-US\r\n")
	b.WriteString("Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	text := replyText(run, i) + fmt.Sprintf("\n\n-- \n%s\nIT Operations, Client %03d GmbH\n\n", name, i%211)
	text += fmt.Sprintf("On %s, %s wrote:\n", when.Add(-time.Hour).Format("1/2/2006 3:04 PM"), name)
	for line := range strings.Lines(p.body) {
		text += "> " + line
	}
	b.WriteString(crlf(text))
	return []byte(b.String())
}
