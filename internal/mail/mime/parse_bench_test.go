package mime

import (
	"encoding/base64"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base64Stream produces the base64 lines of n decoded bytes on the fly, so
// a 20 MiB attachment costs the test nothing either.
type base64Stream struct {
	line  []byte // one encoded line of 57 bytes plus CRLF
	lines int
	off   int
}

const bytesPerLine = 57

func newBase64Stream(n int) *base64Stream {
	raw := make([]byte, bytesPerLine)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	return &base64Stream{
		line:  []byte(base64.StdEncoding.EncodeToString(raw) + "\r\n"),
		lines: (n + bytesPerLine - 1) / bytesPerLine,
	}
}

func (s *base64Stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && s.lines > 0 {
		k := copy(p[n:], s.line[s.off:])
		n += k
		s.off += k
		if s.off == len(s.line) {
			s.off = 0
			s.lines--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func bigAttachmentMessage(n int) io.Reader {
	head := "From: Big <big@files.example>\r\nTo: support@example.com\r\nSubject: big\r\n" +
		"Message-ID: <big@files.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n" +
		"--big\r\nContent-Type: text/plain\r\n\r\nThe log.\r\n" +
		"--big\r\nContent-Type: application/octet-stream; name=\"log.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n"
	return io.MultiReader(strings.NewReader(head), newBase64Stream(n), strings.NewReader("--big--\r\n"))
}

const twentyMiB = 20 << 20

// bigOpts fits a 20 MiB attachment, which base64 grows to about 27 MiB.
var bigOpts = ParseOptions{MaxMessageBytes: 32 << 20}

// TestParseAttachmentMemoryBounded proves the streaming: a 20 MiB
// attachment must allocate a small fixed amount, not its size.
func TestParseAttachmentMemoryBounded(t *testing.T) {
	opts := bigOpts
	opts.SpoolDir = t.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(bigAttachmentMessage(twentyMiB), opts)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	defer m.Cleanup()
	require.Len(t, m.Attachments, 1)
	assert.GreaterOrEqual(t, m.Attachments[0].Size, int64(twentyMiB))
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(2<<20), "parsing a 20 MiB attachment allocated %d bytes", allocated)
}

// typicalMessage is a ~30 KB multipart/alternative reply.
func typicalMessage() string {
	var plain, html strings.Builder
	for i := 0; plain.Len() < 10_000; i++ {
		fmt.Fprintf(&plain, "Line %d of the customer's description, with details about the problem.\n", i)
		fmt.Fprintf(&html, "<div>Line %d of the customer's <b>description</b>, with <a href=\"https://x.example/%d\">details</a>.</div>\n", i, i)
	}
	plain.WriteString("\nOn Mon, Jan 15, 2024 at 9:30 AM Anna <support@example.com> wrote:\n> earlier text\n")
	return "From: John <john@acme.com>\r\nTo: support@example.com\r\nSubject: Re: [#x] typical\r\n" +
		"Message-ID: <t@acme.com>\r\nDate: Mon, 15 Jan 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain.String() +
		"\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + html.String() + "</body></html>\r\n--alt--\r\n"
}

func BenchmarkParse(b *testing.B) {
	msg := typicalMessage()
	opts := ParseOptions{SpoolDir: b.TempDir()}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(strings.NewReader(msg), opts)
		if err != nil {
			b.Fatal(err)
		}
		_ = StripQuoted(m.Text)
		m.Cleanup()
	}
}

func BenchmarkParseAttachment20MiB(b *testing.B) {
	opts := bigOpts
	opts.SpoolDir = b.TempDir()
	b.SetBytes(twentyMiB)
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(bigAttachmentMessage(twentyMiB), opts)
		if err != nil {
			b.Fatal(err)
		}
		m.Cleanup()
	}
}
