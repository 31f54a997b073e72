package mapping

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShouldAcknowledge(t *testing.T) {
	human := Email{FromEmail: "john@acme.com", Subject: "Printer broken", ContentType: "text/plain"}
	tests := []struct {
		name string
		edit func(e *Email)
		want bool
	}{
		{"a person's first mail", func(*Email) {}, true},
		{"Auto-Submitted: no is a person", func(e *Email) { e.AutoSubmitted = "no" }, true},
		{"auto-replied", func(e *Email) { e.AutoSubmitted = "auto-replied" }, false},
		{"auto-generated with a comment", func(e *Email) { e.AutoSubmitted = "auto-generated (vacation)" }, false},
		{"bounce: empty Return-Path", func(e *Email) { e.EmptyReturnPath = true }, false},
		{"bounce: mailer-daemon", func(e *Email) { e.FromEmail = "MAILER-DAEMON@mx.acme.com" }, false},
		{"bounce: postmaster", func(e *Email) { e.FromEmail = "postmaster@acme.com" }, false},
		{"delivery report", func(e *Email) { e.ContentType = "multipart/report; report-type=delivery-status" }, false},
		{"bulk precedence", func(e *Email) { e.Precedence = "bulk" }, false},
		{"X-Autoreply", func(e *Email) { e.XAutoreply = "yes" }, false},
		{"X-Autorespond", func(e *Email) { e.XAutorespond = "1" }, false},
		{"mailing list, even an allowed one", func(e *Email) { e.ListID = "<users.lists.acme.com>" }, false},
		{"no-reply sender", func(e *Email) { e.FromEmail = "no-reply@shop.example" }, false},
		{"noreply sender", func(e *Email) { e.FromEmail = "noreply@shop.example" }, false},
		{"do_not_reply sender", func(e *Email) { e.FromEmail = "do_not_reply@shop.example" }, false},
		{"no sender", func(e *Email) { e.FromEmail = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := human
			tt.edit(&e)
			assert.Equal(t, tt.want, ShouldAcknowledge(e))
		})
	}
}

func TestReplySubject(t *testing.T) {
	for in, want := range map[string]string{
		"Printer broken":          "Re: Printer broken",
		"Re: Printer broken":      "Re: Printer broken",
		"RE: Printer broken":      "RE: Printer broken",
		"AW: Drucker kaputt":      "AW: Drucker kaputt",
		"Re[2]: Printer":          "Re[2]: Printer",
		"  ":                      "Re: your request",
		"Regarding the invoice":   "Re: Regarding the invoice",
		"Fwd: invoice from March": "Fwd: invoice from March",
	} {
		assert.Equal(t, want, ReplySubject(in), in)
	}
}

func TestAcknowledgement(t *testing.T) {
	subject, text := Acknowledgement(42, "Printer broken")
	assert.Equal(t, "Re: Printer broken", subject)
	assert.True(t, strings.HasPrefix(text, "Hello,\n"), "no name: a forged display name is never reflected")
	assert.Contains(t, text, "ticket #42")
	assert.Contains(t, text, "automatic message")
	hostile := "You won! Claim at https://evil.example/claim"
	subject, text = Acknowledgement(7, hostile)
	assert.Equal(t, "Re: "+hostile, subject, "the subject line is kept")
	assert.NotContains(t, text, "evil.example", "nothing the sender wrote is in the body")
	_, text = Acknowledgement(7, "")
	assert.Contains(t, text, "Hello,\n")
}

func TestPlainFromSlack(t *testing.T) {
	for in, want := range map[string]string{
		"Hi John, the relay is fixed.":                    "Hi John, the relay is fixed.",
		"Use &lt;Ctrl&gt; &amp; R":                        "Use <Ctrl> & R",
		"See <https://acme.com/kb/12|the guide>":          "See the guide (https://acme.com/kb/12)",
		"See <https://acme.com/kb/12>":                    "See https://acme.com/kb/12",
		"Mail <mailto:billing@acme.com|billing@acme.com>": "Mail billing@acme.com",
		"Ask <@U123|sarah> or <#C1|support> <!here>":      "Ask @sarah or @support @here",
		"literal &amp;lt; stays one level":                "literal &lt; stays one level",
		"<https://a.example/?q=1&amp;r=2|search>":         "search (https://a.example/?q=1&r=2)",
	} {
		assert.Equal(t, want, PlainFromSlack(in), in)
	}
}
