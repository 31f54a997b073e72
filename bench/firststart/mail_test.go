package firststart

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// The mailbox: years of answered support mail, all \Seen, and a few recent
// messages nobody has read yet. The messages are 2-4 KB with the header a
// real delivery carries, as in bench/intake, because the memory server
// parses every message's header for a SEARCH and the daemon parses what it
// imports.

const supportAddr = "support@example.com"

var (
	firstNames = []string{"Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena"}
	lastNames  = []string{"Müller", "Schmidt", "García", "Rossi", "Dubois", "Nowak", "Jensen", "Tanaka", "Silva", "Yilmaz"}
	problems   = []struct{ subject, body string }{
		{"Cannot log in since this morning",
			"Hello,\n\nsince this morning none of us can log in to the portal. The page says \"session expired\" right after entering the password, and clearing the browser cache did not help. We tried Firefox and Chrome on two different machines.\n\nCould you please look into this? Our team is blocked."},
		{"Invoice shows the wrong VAT rate",
			"Hi support team,\n\nthe invoice we received yesterday applies 19 % VAT, but our company is registered in Austria and should be charged 20 %, or reverse charge with our VAT ID ATU12345678. Please send a corrected invoice; our accounting closes the month on Friday.\n\nThank you!"},
		{"Export to CSV cuts off after 1000 rows",
			"Good afternoon,\n\nwhen I export the customer list to CSV the file always ends after exactly 1000 rows, although the list shows 2,314 entries. Is there a limit I can raise somewhere? I need the full export for our yearly audit.\n\nSteps: Customers > Filter \"active\" > Export > CSV (UTF-8)."},
		{"Webhook deliveries failing with 502",
			"Hello,\n\nsince about 02:00 UTC all webhook deliveries to our endpoint fail with 502 Bad Gateway according to your delivery log. Our endpoint answers fine when we call it ourselves, and nothing changed on our side. Could you check whether your outbound proxy has a problem?\n\nThanks in advance."},
	}
)

// customer is the sender of message i.
func customer(i int) (name, email string) {
	name = firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
	return name, fmt.Sprintf("customer%05d@client%03d.example", i, i%211)
}

// message is message i of a run, 2-4 KB: every other one is
// multipart/alternative with an HTML part. The subject carries the run and
// index, so each ticket tells which message it came from.
func message(run string, i int, when time.Time) (subject string, raw []byte) {
	name, email := customer(i)
	p := problems[i%len(problems)]
	subject = fmt.Sprintf("%s (ref %s-%05d)", p.subject, run, i)
	domain := email[strings.IndexByte(email, '@')+1:]
	date := when.Format(time.RFC1123Z)
	text := p.body + fmt.Sprintf("\n\n-- \n%s\nIT Operations, Client %03d GmbH\nPhone +49 30 1234 %04d\n", name, i%211, i%10000)

	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", email, supportAddr)
	fmt.Fprintf(&b, "Received: from mail-out.%s (mail-out.%s [192.0.2.%d])\r\n\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n",
		domain, domain, i%250+1, i*104729, supportAddr, date)
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail2024;\r\n\th=from:to:subject:date:message-id:mime-version:content-type;\r\n\tbh=%s;\r\n\tb=%s\r\n",
		domain, fakeB64(i, 44), foldB64(fakeB64(i+1, 344)))
	fmt.Fprintf(&b, "Date: %s\r\nFrom: \"%s\" <%s>\r\nTo: Example Support <%s>\r\nSubject: %s\r\n", date, name, email, supportAddr, subject)
	fmt.Fprintf(&b, "Message-ID: <%s.%05d@%s>\r\nMIME-Version: 1.0\r\n", run, i, domain)
	if i%2 == 0 {
		b.WriteString("User-Agent: Mozilla Thunderbird\r\nContent-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(crlf(text))
		return subject, []byte(b.String())
	}
	boundary := fmt.Sprintf("000000000000%012x", i*2654435761)
	b.WriteString("X-Mailer: Microsoft Outlook 16.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", boundary, crlf(text))
	html := "<html><body><div dir=\"ltr\">" + strings.ReplaceAll(strings.ReplaceAll(text, "\n\n", "</div><div><br></div><div>"), "\n", "<br>") + "</div></body></html>"
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

// layout is which positions (0-based, in UID order) of a mailbox of total
// messages hold the unread ones.
//
//   - "top": among the newest window messages, where new mail lands in a
//     mailbox filled in arrival order.
//   - "random": anywhere, as after a migration that appended old and new
//     mail in no particular order, or a person marking old mail unread.
//   - "only": the mailbox holds nothing but the unread messages (the
//     baseline of the ratio).
//
// The positions come from a fixed seed, so every run uses the same ones.
func layout(kind string, total, unread, window int) map[int]bool {
	out := make(map[int]bool, unread)
	r := rand.New(rand.NewPCG(7, 11))
	switch kind {
	case "only":
		for i := range unread {
			out[i] = true
		}
	case "top":
		lo := max(total-window, 0)
		for _, k := range r.Perm(total - lo)[:unread] {
			out[lo+k] = true
		}
	case "random":
		for _, k := range r.Perm(total)[:unread] {
			out[k] = true
		}
	}
	return out
}

// Dates. The history spans readFrom..readTo ago, oldest first, so its
// INTERNALDATEs grow with the UIDs as in a mailbox filled by delivery; the
// unread mail is at most unreadSpan old, well inside the 7-day window.
const (
	readFrom   = 400 * 24 * time.Hour
	readTo     = 30 * 24 * time.Hour
	unreadSpan = 4 * 24 * time.Hour
)

func readDate(now time.Time, pos, total int) time.Time {
	return now.Add(-readFrom + time.Duration(pos)*((readFrom-readTo)/time.Duration(max(total, 1))))
}

func unreadDate(now time.Time, k, unread int) time.Time {
	return now.Add(-unreadSpan + time.Duration(k)*(unreadSpan/time.Duration(max(unread, 1))))
}
