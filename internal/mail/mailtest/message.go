package mailtest

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Message builds a small RFC 5322 text/plain message with CRLF line ends.
// headers are extra "Name: value" lines; one named Message-ID, Date,
// MIME-Version or Content-Type replaces the generated one.
func Message(from, to, subject, body string, headers ...string) []byte {
	var b strings.Builder
	has := func(name string) bool {
		for _, h := range headers {
			if k, _, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return true
			}
		}
		return false
	}
	if !has("Date") {
		fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	}
	if !has("Message-ID") {
		fmt.Fprintf(&b, "Message-ID: <%s@mailtest.example>\r\n", rand.Text())
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\n", from, to, subject)
	for _, h := range headers {
		b.WriteString(strings.TrimRight(h, "\r\n") + "\r\n")
	}
	if !has("MIME-Version") {
		b.WriteString("MIME-Version: 1.0\r\n")
	}
	if !has("Content-Type") {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	}
	b.WriteString("\r\n")
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}
