package mime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden files are rewritten with: go test ./internal/mail/mime -run TestComposeGolden -update
// (the update flag is defined in parse_corpus_test.go).
const outboundDir = "testdata/outbound"

const testTicket = "9b2f4c1e-7d3a-4e8b-a1c2-5f6e7d8c9b0a"

var fixedDate = time.Date(2024, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

func baseOutgoing() Outgoing {
	return Outgoing{
		From:      Address{Name: "Acme Support", Email: "support@example.com"},
		To:        Address{Name: "Jane Customer", Email: "jane@customer.example"},
		ReplyTo:   "support+" + testTicket + "@example.com",
		Subject:   "Re: Printer on fire [#" + testTicket + "]",
		MessageID: "ticketsync.fixedid0001@example.com",
		InReplyTo: "CAF=x7q-last@mail.customer.example",
		References: []string{
			"CAF=x7q-first@mail.customer.example",
			"ticketsync.previousreply00000000000000@example.com",
			"CAF=x7q-last@mail.customer.example",
		},
		Text: "Hello Jane,\n\nwe replaced the fuser unit; details are at https://help.example.com/kb/42.\n" +
			"Please check & tell us <soon>.\n\nBest regards,\nAcme Support",
		TicketUUID: testTicket,
		Date:       fixedDate,
	}
}

func composeCases() map[string]Outgoing {
	reply := baseOutgoing()

	ack := baseOutgoing()
	ack.Subject = "Printer on fire [#" + testTicket + "]"
	ack.MessageID = "ticketsync.fixedid0002@example.com"
	ack.References = []string{"CAF=x7q-last@mail.customer.example"}
	ack.Text = "We received your request and opened ticket " + testTicket + ".\nReply to this email to add to it."
	ack.AutoReply = true

	attach := baseOutgoing()
	attach.MessageID = "ticketsync.fixedid0003@example.com"
	attach.Text = "The invoice is attached."
	attach.Attachments = []OutgoingFile{{
		Name: "invoice-2024-03.pdf",
		Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("%PDF-1.4\nnot really a pdf, but bytes\n")), nil
		},
	}}

	intl := baseOutgoing()
	intl.MessageID = "ticketsync.fixedid0004@example.com"
	intl.To = Address{Name: "Jürgen Müller-Lüdenscheidt", Email: "juergen@kunde.example"}
	intl.Subject = "Re: Ärger mit der Rechnung – 請求書について [#" + testTicket + "]"
	intl.Text = "Grüß Gott Jürgen,\n\ndie Rechnung über 12,50 € ist korrigiert. 請求書を修正しました。"
	intl.HTML = "<p>Grüß Gott Jürgen,</p><p>die Rechnung über 12,50&nbsp;€ ist korrigiert.</p>"

	return map[string]Outgoing{
		"reply":            reply,
		"acknowledgement":  ack,
		"reply-attachment": attach,
		"non-ascii":        intl,
	}
}

var boundaryParam = regexp.MustCompile(`boundary="?([^";\s]+)"?`)

// normalizeBoundaries replaces go-message's random boundaries (they cannot
// be set through the mail writers) with BOUNDARY-1, -2... in order.
func normalizeBoundaries(raw []byte) []byte {
	out := string(raw)
	for i, m := range boundaryParam.FindAllStringSubmatch(out, -1) {
		out = strings.ReplaceAll(out, m[1], fmt.Sprintf("BOUNDARY-%d", i+1))
	}
	return []byte(out)
}

func compose(t *testing.T, o Outgoing) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := o.WriteTo(&b)
	require.NoError(t, err)
	require.Equal(t, int64(b.Len()), n)
	return b.Bytes()
}

func TestComposeGolden(t *testing.T) {
	for name, o := range composeCases() {
		t.Run(name, func(t *testing.T) {
			got := normalizeBoundaries(compose(t, o))
			path := filepath.Join(outboundDir, name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll(outboundDir, 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestComposeRoundTrip(t *testing.T) {
	for name, o := range composeCases() {
		t.Run(name, func(t *testing.T) {
			raw := compose(t, o)
			for _, line := range strings.SplitAfter(string(raw), "\r\n") {
				assert.LessOrEqual(t, len(line), 78+2, "line too long: %q", line)
				assert.True(t, strings.HasSuffix(line, "\r\n") || line == "", "bare LF in %q", line)
			}
			assertParsesAs(t, raw, o)
		})
	}
}

// assertParsesAs checks that Parse reads back what o says.
func assertParsesAs(t *testing.T, raw []byte, o Outgoing) {
	t.Helper()
	m, err := Parse(bytes.NewReader(raw), ParseOptions{SpoolDir: t.TempDir()})
	require.NoError(t, err)
	defer m.Cleanup()
	assert.Empty(t, m.Problems)

	assert.Equal(t, o.Subject, m.Subject)
	assert.Equal(t, o.MessageID, m.MessageID)
	assert.Equal(t, strings.ToLower(o.From.Email), m.From.Email)
	assert.Equal(t, o.From.Name, m.From.Name)
	require.Len(t, m.To, 1)
	assert.Equal(t, o.To.Name, m.To[0].Name)
	assert.Equal(t, strings.ToLower(o.To.Email), m.To[0].Email)
	require.Len(t, m.ReplyTo, 1)
	assert.Equal(t, o.ReplyTo, m.ReplyTo[0].Email)
	assert.Equal(t, []string{o.InReplyTo}, m.InReplyTo)
	assert.Equal(t, o.References, m.References)
	assert.True(t, o.Date.Equal(m.Date), "date %v", m.Date)

	assert.Equal(t, o.Text, strings.TrimRight(m.Text, "\n"))
	assert.False(t, m.TextFromHTML)
	if o.HTML != "" {
		assert.Equal(t, o.HTML, m.HTML)
	} else {
		assert.Contains(t, m.HTML, "<p>")
	}

	assert.Equal(t, map[string]string{"X-Ticketsync-Ticket": o.TicketUUID}, m.Header.XTicketsync)
	assert.Equal(t, "All", m.Header.XAutoResponseSuppress)
	assert.Empty(t, m.Header.Precedence)
	if o.AutoReply {
		assert.Equal(t, "auto-replied", m.Header.AutoSubmitted)
	} else {
		assert.Empty(t, m.Header.AutoSubmitted)
	}

	require.Len(t, m.Attachments, len(o.Attachments))
	for i, a := range m.Attachments {
		assert.Equal(t, o.Attachments[i].Name, a.Filename)
		want, err := o.Attachments[i].Open()
		require.NoError(t, err)
		wantBytes, _ := io.ReadAll(want)
		r, err := a.Open()
		require.NoError(t, err)
		got, _ := io.ReadAll(r)
		_ = r.Close()
		assert.Equal(t, wantBytes, got)
	}
}

func TestComposeHeaders(t *testing.T) {
	t.Run("references are folded and capped", func(t *testing.T) {
		o := baseOutgoing()
		o.References = nil
		for i := range 30 {
			o.References = append(o.References, fmt.Sprintf("id%02d.0123456789@mail.customer.example", i))
		}
		raw := compose(t, o)
		m, err := Parse(bytes.NewReader(raw), ParseOptions{SpoolDir: t.TempDir()})
		require.NoError(t, err)
		require.Len(t, m.References, maxReferences)
		assert.Equal(t, o.References[0], m.References[0], "the thread root stays")
		assert.Equal(t, o.References[29], m.References[maxReferences-1], "the newest stays")
		assert.Contains(t, string(raw), ">\r\n <", "References is folded")
	})
	t.Run("no header injection", func(t *testing.T) {
		o := baseOutgoing()
		o.Subject = "Hi\r\nBcc: victim@example.org"
		o.From.Name = "Eve\r\nX-Evil: 1"
		raw := compose(t, o)
		assert.NotContains(t, string(raw), "\r\nBcc:")
		assert.NotContains(t, string(raw), "\r\nX-Evil:")
	})
	t.Run("bad ids are left out", func(t *testing.T) {
		o := baseOutgoing()
		o.InReplyTo = "has space@x"
		o.References = []string{"<ok@x>", "bad>id@x", ""}
		m, err := Parse(bytes.NewReader(compose(t, o)), ParseOptions{SpoolDir: t.TempDir()})
		require.NoError(t, err)
		assert.Empty(t, m.InReplyTo)
		assert.Equal(t, []string{"ok@x"}, m.References)
	})
	t.Run("no ticket still tagged", func(t *testing.T) {
		o := baseOutgoing()
		o.TicketUUID = ""
		m, err := Parse(bytes.NewReader(compose(t, o)), ParseOptions{SpoolDir: t.TempDir()})
		require.NoError(t, err)
		assert.Equal(t, "none", m.Header.XTicketsync["X-Ticketsync-Ticket"])
	})
}

func TestComposeInvalid(t *testing.T) {
	for name, mutate := range map[string]func(*Outgoing){
		"no message id":   func(o *Outgoing) { o.MessageID = "" },
		"bracketed id":    func(o *Outgoing) { o.MessageID = "<a@b>" },
		"no from":         func(o *Outgoing) { o.From.Email = "" },
		"no to":           func(o *Outgoing) { o.To.Email = "" },
		"bad to":          func(o *Outgoing) { o.To.Email = "a@b>\r\nRCPT TO:<c@d" },
		"unparseable to":  func(o *Outgoing) { o.To.Email = "not-an-address" },
		"bad reply-to":    func(o *Outgoing) { o.ReplyTo = "x y@z" },
		"missing content": func(o *Outgoing) { o.Attachments = []OutgoingFile{{Name: "a.txt"}} },
	} {
		t.Run(name, func(t *testing.T) {
			o := baseOutgoing()
			mutate(&o)
			_, err := o.WriteTo(io.Discard)
			require.Error(t, err)
			if name != "missing content" {
				assert.ErrorIs(t, err, ErrInvalidOutgoing)
			}
		})
	}
	t.Run("attachment open fails", func(t *testing.T) {
		o := baseOutgoing()
		boom := errors.New("boom")
		o.Attachments = []OutgoingFile{{Name: "a.txt", Open: func() (io.ReadCloser, error) { return nil, boom }}}
		_, err := o.WriteTo(io.Discard)
		assert.ErrorIs(t, err, boom)
		assert.ErrorContains(t, err, o.MessageID)
	})
}

func TestNewMessageID(t *testing.T) {
	re := regexp.MustCompile(`^ticketsync\.[a-z2-7]{26}@example\.com$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID("Example.com ")
		require.Regexp(t, re, id)
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
}

func TestTextToHTML(t *testing.T) {
	for _, tc := range []struct{ name, text, body string }{
		{"empty", "", ""},
		{"escaped", "a < b & c > \"d\"", "<p>a &lt; b &amp; c &gt; &#34;d&#34;</p>\n"},
		{"paragraphs and breaks", "one\ntwo\n\n\nthree\r\n", "<p>one<br>\ntwo</p>\n<p>three</p>\n"},
		{"link with trailing dot", "see https://x.example/a?b=1&c=2.", `<p>see <a href="https://x.example/a?b=1&amp;c=2">https://x.example/a?b=1&amp;c=2</a>.</p>` + "\n"},
		{"link in parens", "(https://x.example/wiki/A_(b))", `<p>(<a href="https://x.example/wiki/A_(b)">https://x.example/wiki/A_(b)</a>)</p>` + "\n"},
		{"mailto", "write to mailto:a@b.example", `<p>write to <a href="mailto:a@b.example">mailto:a@b.example</a></p>` + "\n"},
		{"no script", "<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"},
		{"bare scheme", "https://", "<p>https://</p>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, htmlHead+tc.body+htmlTail, textToHTML(tc.text))
		})
	}
}
