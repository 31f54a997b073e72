package mime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseString parses s with a fresh spool directory and checks Cleanup
// leaves it empty when the test ends.
func parseString(t *testing.T, s string, opts ParseOptions) (*Message, error) {
	t.Helper()
	dir := t.TempDir()
	opts.SpoolDir = dir
	m, err := Parse(strings.NewReader(s), opts)
	t.Cleanup(func() {
		require.NoError(t, m.Cleanup())
		left, _ := os.ReadDir(dir)
		assert.Empty(t, left, "spool files left behind")
	})
	return m, err
}

func withAttachment(name string, size int) string {
	return "From: a@b.example\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=" + name + "\r\n\r\n" +
		strings.Repeat("x", size) + "\r\n--b--\r\n"
}

func TestParseAttachmentOverLimitIsRefused(t *testing.T) {
	m, err := parseString(t, withAttachment("big.bin", 5000), ParseOptions{MaxAttachmentBytes: 1000})
	require.NoError(t, err)
	assert.Equal(t, "See attached.", m.Text)
	assert.Empty(t, m.Attachments)
	require.Len(t, m.Refused, 1)
	assert.Equal(t, "big.bin", m.Refused[0].Filename)
	assert.Equal(t, int64(5000), m.Refused[0].Size, "the whole part is measured")
	assert.Contains(t, m.Refused[0].Reason, "1000 byte attachment limit")
}

func TestParseAttachmentAtLimitIsKept(t *testing.T) {
	m, err := parseString(t, withAttachment("ok.bin", 1000), ParseOptions{MaxAttachmentBytes: 1000})
	require.NoError(t, err)
	require.Len(t, m.Attachments, 1)
	a := m.Attachments[0]
	assert.Equal(t, int64(1000), a.Size)
	rc, err := a.Open()
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, strings.Repeat("x", 1000), string(b))

	require.NoError(t, a.Remove())
	require.NoError(t, a.Remove(), "removing twice is fine")
	_, err = a.Open()
	assert.Error(t, err)
}

func TestParseMessageTooLarge(t *testing.T) {
	msg := withAttachment("big.bin", 10_000)
	m, err := parseString(t, msg, ParseOptions{MaxMessageBytes: 2000})
	require.ErrorIs(t, err, ErrMessageTooLarge)
	require.NotNil(t, m, "headers are returned with ErrMessageTooLarge")
	assert.Equal(t, "files", m.Subject)
	assert.Equal(t, "See attached.", m.Text)
	assert.Empty(t, m.Attachments)
	assert.Equal(t, int64(2000), m.Size)

	exact, err := parseString(t, msg, ParseOptions{MaxMessageBytes: int64(len(msg))})
	require.NoError(t, err, "a message of exactly the limit is accepted")
	assert.Len(t, exact.Attachments, 1)
}

func TestParseMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"no header":      "just some text\nwithout any header\n",
		"leading space":  " Subject: x\n\nbody",
		"huge header":    "Subject: " + strings.Repeat("a", maxHeaderBytes+5000) + "\n\nbody",
		"only blank top": "\n\nbody",
	} {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(in), ParseOptions{SpoolDir: t.TempDir()})
			assert.ErrorIs(t, err, ErrMalformed)
			assert.True(t, m == nil, "no message with ErrMalformed")
		})
	}
}

func TestParseReadErrorIsNotAMessage(t *testing.T) {
	cause := errors.New("connection reset")
	msg := withAttachment("a.bin", 100_000)
	r := io.MultiReader(strings.NewReader(msg[:len(msg)/2]), iotest.ErrReader(cause))
	dir := t.TempDir()
	m, err := Parse(r, ParseOptions{SpoolDir: dir})
	require.ErrorIs(t, err, cause)
	assert.Nil(t, m)
	left, _ := os.ReadDir(dir)
	assert.Empty(t, left)
}

func TestParseSpoolDirMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	m, err := Parse(strings.NewReader(withAttachment("a.bin", 10)), ParseOptions{SpoolDir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spool attachment "a.bin"`)
	assert.Nil(t, m)
}

func TestParseHeaderFields(t *testing.T) {
	in := "From mbox-line Mon Jan 15 09:30:00 2024\n" +
		"Return-Path: < >\n" +
		"From: \"Smith, John\" <John.Smith@ACME.com>, second@acme.com\n" +
		"To: broken <a@b.example, ok@c.example\n" +
		"Delivered-To: <Support+X@Example.com>\n" +
		"Envelope-To: support+x@example.com, other@example.com\n" +
		"Message-ID: no-brackets@example.com\n" +
		"In-Reply-To: <a@x> <b@x>\n" +
		"X-Ticketsync-Ticket: 42\n" +
		"X-TicketSync-Origin: slack\n" +
		"Date: not a date\n" +
		"Subject: =?x-made-up?Q?hi?=\n" +
		"\nbody\n"
	m, err := parseString(t, in, ParseOptions{})
	require.NoError(t, err)
	assert.Equal(t, Address{Name: "Smith, John", Email: "john.smith@acme.com"}, m.From)
	assert.Equal(t, []Address{{Name: "broken", Email: "a@b.example"}, {Email: "ok@c.example"}}, m.To)
	assert.Equal(t, []string{"support+x@example.com", "other@example.com"}, m.DeliveredTo)
	assert.True(t, m.EmptyReturnPath)
	assert.Equal(t, "no-brackets@example.com", m.MessageID)
	assert.Equal(t, []string{"a@x", "b@x"}, m.InReplyTo)
	assert.Equal(t, map[string]string{"X-Ticketsync-Ticket": "42", "X-Ticketsync-Origin": "slack"}, m.Header.XTicketsync)
	assert.True(t, m.Date.IsZero())
	assert.Equal(t, "=?x-made-up?Q?hi?=", m.Subject)
	assert.Equal(t, "body", m.Text)
	assert.Len(t, m.Problems, 3, "To, Date and Subject each noted: %q", m.Problems)
}

func TestParseBodySelection(t *testing.T) {
	t.Run("second plain alternative ignored", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/alternative; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: text/plain\n\nsecond\n--b--\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "first", m.Text)
	})
	t.Run("blank plain falls back to html", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/alternative; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>from <b>html</b></p>\n--b--\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "from html", m.Text)
		assert.True(t, m.TextFromHTML)
	})
	t.Run("mixed inline text parts joined", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/mixed; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n\nabove\n--b\nContent-Type: image/png\nContent-Disposition: inline\n\nPNG\n"+
			"--b\nContent-Type: text/plain\n\nbelow\n--b--\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "above\n\nbelow", m.Text)
		require.Len(t, m.Attachments, 1)
		assert.Equal(t, "attachment-1.png", m.Attachments[0].Filename)
		assert.True(t, m.Attachments[0].Inline)
	})
	t.Run("multipart without boundary read as text", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/mixed\n\nplain words\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "plain words", m.Text)
		assert.NotEmpty(t, m.Problems)
	})
	t.Run("boundary never found read as text", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/mixed; boundary=nope\n\nplain words\n--other\nnot a header\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "plain words\n--other\nnot a header", m.Text)
	})
	t.Run("unknown charset utf-8 bytes kept", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: text/plain; charset=x-foo\n\nGrüße\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Grüße", m.Text)
		assert.Len(t, m.Problems, 1)
	})
	t.Run("control characters removed", func(t *testing.T) {
		m, err := parseString(t, "Subject: x\n\na\x00b\x1bc\r\nd\re\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "abc\nd\ne", m.Text)
	})
}

func TestParseTextIsCapped(t *testing.T) {
	m, err := parseString(t, "Subject: long\n\n"+strings.Repeat("word ", maxTextBytes/4), ParseOptions{})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(m.Text), maxTextBytes)
	assert.Contains(t, strings.Join(m.Problems, "\n"), "dropped")
}

func TestParseLimitsOnStructure(t *testing.T) {
	t.Run("part header budget", func(t *testing.T) {
		m, err := parseString(t, "Content-Type: multipart/mixed; boundary=b\n\n"+
			"--b\nContent-Type: text/plain\n\nkept\n--b\nX-Junk: "+strings.Repeat("j", maxPartHeaderBytes+2*multipartPeek+100)+"\n\nlost\n--b--\n", ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "kept", m.Text)
		assert.Contains(t, strings.Join(m.Problems, "\n"), "part header is larger")
	})
	t.Run("too many parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for i := 0; i < maxParts+10; i++ {
			fmt.Fprintf(&b, "--b\nContent-Type: text/plain\n\n%d\n", i)
		}
		b.WriteString("--b--\n")
		m, err := parseString(t, b.String(), ParseOptions{})
		require.NoError(t, err)
		assert.Contains(t, strings.Join(m.Problems, "\n"), "MIME parts")
	})
	t.Run("too many attachments", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for i := 0; i < maxAttachments+2; i++ {
			fmt.Fprintf(&b, "--b\nContent-Type: application/pdf\n\n%d\n", i)
		}
		b.WriteString("--b--\n")
		m, err := parseString(t, b.String(), ParseOptions{})
		require.NoError(t, err)
		assert.Len(t, m.Attachments, maxAttachments)
		assert.Len(t, m.Refused, 2)
	})
}

func TestAttachmentName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":             "report.pdf",
		"../../etc/passwd":       "passwd",
		`C:\Users\x\invoice.pdf`: "invoice.pdf",
		"evil\x00name\n.txt":     "evilname.txt",
		" . ":                    "attachment-3.bin",
		"":                       "attachment-3.bin",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
	} {
		assert.Equal(t, want, attachmentName(in, "application/x-unknown", 3), "name %q", in)
	}
	assert.Equal(t, "forwarded-message.eml", attachmentName("", "message/rfc822", 1))
}

func TestParseDoesNotMutateInput(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir, "15-pdf-attachment.eml"))
	require.NoError(t, err)
	orig := bytes.Clone(b)
	m, err := Parse(bytes.NewReader(b), ParseOptions{SpoolDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, m.Cleanup())
	assert.Equal(t, orig, b)
}
