package mime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	stdmime "mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const customerText = "Hello,\r\n\r\nthe export of ticket #4411 fails with \"timeout\" since Monday.\r\n" +
	"Could you have a look? Grüße aus Köln – Zoë\r\n"

// wrapBase64 encodes s and breaks it into lines of n characters ending in eol.
func wrapBase64(s string, n int, eol string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > n {
		b.WriteString(enc[:n] + eol)
		enc = enc[n:]
	}
	b.WriteString(enc + eol)
	return b.String()
}

// decodeLenient is the decoding every part declared base64 got before parts
// that are not base64 were told apart; valid base64 must still give this.
func decodeLenient(t *testing.T, body string) string {
	t.Helper()
	b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, &base64Filter{r: strings.NewReader(body)}))
	require.NoError(t, err)
	return string(b)
}

func textPart(cte, contentType, body string) string {
	return "From: a@b.example\r\nSubject: t\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: " + contentType + "\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body
}

func hasProblem(m *Message, sub string) bool {
	for _, p := range m.Problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

const notBase64Problem = "declared base64 but the content is not base64"

func TestNotBase64(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte(customerText))
	long := wrapBase64(strings.Repeat(customerText, 20), 76, "\r\n")
	for _, c := range []struct {
		name  string
		in    string
		whole bool
		want  bool
	}{
		{"empty", "", true, false},
		{"blank lines", "\r\n \r\n\t\r\n", true, false},
		{"76-column CRLF lines", wrapBase64(customerText, 76, "\r\n"), true, false},
		{"LF lines", wrapBase64(customerText, 76, "\n"), true, false},
		{"bare CR lines", wrapBase64(customerText, 76, "\r"), true, false},
		{"one long line", enc, true, false},
		{"short lines of 4", wrapBase64(customerText, 4, "\n"), true, false},
		{"trailing blanks", strings.ReplaceAll(wrapBase64(customerText, 76, "\r\n"), "\r\n", " \t \r\n"), true, false},
		{"indented lines", strings.ReplaceAll("\t"+wrapBase64(customerText, 64, "\n"), "\n", "\n  "), true, false},
		{"final padding missing (one)", "SGk\r\n", true, false},
		{"final padding missing (two)", "SGVsbG8gd29ybGQhIQ\r\n", true, false},
		{"lines joined with blanks", strings.ReplaceAll(long, "\r\n", " "), true, false},
		{"a stray byte in long data", long[:300] + "!" + long[300:], true, false},
		{"list footer after the padding", "SGVsbG8sIHdvcmxkIQ==\r\n\r\n-- \r\nSupport list: https://lists.example/support\r\n", true, false},
		{"data after padding (damaged, decoded as far as it goes)", "VGhlIHNjcmVlbnNob3QK=QUJD\r\n", true, false},
		{"window cut inside a line", long[:200], false, false},
		{"window with a lone letter over", "SGVsbG8gd29ybGQhC", false, false},

		{"plain English", customerText, true, true},
		{"words without punctuation", "please call me back tomorrow morning\r\nthanks\r\n", true, true},
		{"two words", "Thank you\r\n", true, true},
		{"punctuation only", "...\r\n", true, true},
		{"UTF-8 text", "Grüße\r\n", true, true},
		{"HTML", "<p>Dear support team,</p>\r\n", true, true},
		{"greeting then a sentence", "Hi\r\nCan you help me with the invoice?\r\n", true, true},
		{"single words, a lone letter over", "Thanks\r\nBob\r\n", true, true},
		{"a lone letter over", "SGVsbG8gd29ybGQhC", true, true},
		{"control bytes", "\x00\x01\x02\x03", true, true},
		{"padding not at the end is no end", "abc= there, see the log\r\n", true, true},
		{"text before a padded line", "Hi there, see this:\r\nSGk=\r\n", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, notBase64([]byte(c.in), c.whole))
		})
	}
}

func TestParseBase64StillDecodes(t *testing.T) {
	want := "Hello,\n\nthe export of ticket #4411 fails with \"timeout\" since Monday.\n" +
		"Could you have a look? Grüße aus Köln – Zoë"
	enc := base64.StdEncoding.EncodeToString([]byte(customerText))
	unpadded := strings.TrimRight(enc, "=")
	require.NotEqual(t, enc, unpadded, "the text must need padding for this test")
	for name, body := range map[string]string{
		"76-column CRLF":     wrapBase64(customerText, 76, "\r\n"),
		"72-column LF":       wrapBase64(customerText, 72, "\n"),
		"one line":           enc,
		"trailing blanks":    strings.ReplaceAll(wrapBase64(customerText, 76, "\r\n"), "\r\n", "  \r\n"),
		"no final padding":   unpadded + "\r\n",
		"blank line at end":  wrapBase64(customerText, 76, "\r\n") + "\r\n\r\n",
		"lines joined":       strings.ReplaceAll(wrapBase64(customerText, 60, "\r\n"), "\r\n", " "),
		"indented":           strings.ReplaceAll(wrapBase64(customerText, 76, "\n"), "\n", "\n "),
		"stray byte in data": enc[:40] + "!" + enc[40:],
	} {
		t.Run(name, func(t *testing.T) {
			m, err := parseString(t, textPart("base64", "text/plain; charset=utf-8", body), ParseOptions{})
			require.NoError(t, err)
			assert.Equal(t, want, m.Text)
			assert.Equal(t, normalizeText(decodeLenient(t, body), nil), m.Text, "decoded as before")
			assert.Empty(t, m.Problems)
		})
	}

	t.Run("larger than the look-ahead window", func(t *testing.T) {
		big := strings.Repeat(customerText, 3*base64Window/len(customerText))
		m, err := parseString(t, textPart("base64", "text/plain; charset=utf-8", wrapBase64(big, 76, "\r\n")), ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, normalizeText(big, nil), m.Text)
		assert.Empty(t, m.Problems)
	})
	t.Run("damaged after the data keeps the text before it", func(t *testing.T) {
		body := base64.StdEncoding.EncodeToString([]byte("Screenshot attached.\r\n")) + "QUJD\r\n"
		m, err := parseString(t, textPart("base64", "text/plain", body), ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Screenshot attached.", m.Text)
		assert.True(t, hasProblem(m, "bad base64"), "problems: %q", m.Problems)
		assert.False(t, hasProblem(m, notBase64Problem))
	})
	t.Run("attachment", func(t *testing.T) {
		png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x08")
		msg := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nSee the picture.\r\n" +
			"--b\r\nContent-Type: image/png; name=x.png\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			wrapBase64(string(png), 76, "\r\n") + "--b--\r\n"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		require.Len(t, m.Attachments, 1)
		assert.Equal(t, png, readAttachment(t, m.Attachments[0]))
		assert.Empty(t, m.Problems)
	})
}

func readAttachment(t *testing.T, a Attachment) []byte {
	t.Helper()
	rc, err := a.Open()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func TestParseBase64FallsBackToRawText(t *testing.T) {
	for name, c := range map[string]struct{ contentType, body string }{
		"plain English":          {"text/plain; charset=utf-8", customerText},
		"words only":             {"text/plain", "please call me back tomorrow\r\n"},
		"Latin-1 label":          {"text/plain; charset=iso-8859-1", "Gr\xfc\xdfe aus K\xf6ln, Zo\xeb\r\n"},
		"format=flowed":          {"text/plain; charset=utf-8; format=flowed", "a flowed \r\nparagraph.\r\n"},
		"lone letter over":       {"text/plain", "Thanks\r\nBob\r\n"},
		"larger than window":     {"text/plain; charset=utf-8", strings.Repeat(customerText, 2*base64Window/len(customerText))},
		"HTML":                   {"text/html; charset=utf-8", "<p>Dear support,</p><p>the PDF shows 19&nbsp;% VAT.</p>\r\n"},
		"HTML without a charset": {"text/html", "<div>Bitte um Rückruf.</div>"},
	} {
		t.Run(name, func(t *testing.T) {
			ct, params, err := stdmime.ParseMediaType(c.contentType)
			require.NoError(t, err)
			m, err := parseString(t, textPart("base64", c.contentType, c.body), ParseOptions{})
			require.NoError(t, err)
			raw := (&parser{msg: &Message{}}).decodeText(params["charset"], []byte(c.body), ct)
			if ct == "text/html" {
				assert.Equal(t, raw, m.HTML)
				assert.Equal(t, HTMLToText(raw), m.Text)
			} else {
				assert.Equal(t, normalizeText(raw, params), m.Text)
			}
			assert.NotContains(t, m.Text, "\uFFFD")
			assert.NotContains(t, m.HTML, "\uFFFD")
			assert.True(t, hasProblem(m, ct+" part: "+notBase64Problem), "problems: %q", m.Problems)
		})
	}

	t.Run("attachment kept as sent", func(t *testing.T) {
		csv := "order,item,qty\r\n10442,Blue kettle,1\r\n"
		msg := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nOrder attached.\r\n" +
			"--b\r\nContent-Type: text/csv; name=order.csv\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			csv + "\r\n--b--\r\n"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Order attached.", m.Text)
		require.Len(t, m.Attachments, 1)
		assert.Equal(t, csv, string(readAttachment(t, m.Attachments[0])))
		assert.True(t, hasProblem(m, "text/csv part: "+notBase64Problem), "problems: %q", m.Problems)
	})

	t.Run("each part decided on its own", func(t *testing.T) {
		msg := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			wrapBase64("First part, encoded.\n", 76, "\r\n") +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"Second part, not encoded.\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			wrapBase64("Third part, encoded again.\n", 76, "\r\n") + "--b--\r\n"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "First part, encoded.\n\nSecond part, not encoded.\n\nThird part, encoded again.", m.Text)
		assert.Len(t, m.Problems, 1, "problems: %q", m.Problems)
	})

	t.Run("unused alternative not reported", func(t *testing.T) {
		msg := "From: a@b.example\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n" +
			"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nsecond, unused\r\n--b--\r\n"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "first", m.Text)
		assert.Empty(t, m.Problems)
	})

	t.Run("message cut inside the part", func(t *testing.T) {
		msg := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"The rest of this mail never arrived, sorry"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "The rest of this mail never arrived, sorry", m.Text)
		assert.True(t, hasProblem(m, "closing boundary"), "problems: %q", m.Problems)
	})
}

func TestQPReader(t *testing.T) {
	longLine := strings.Repeat("minified <td class=\"x\">cell</td> ", 200)
	for _, c := range []struct {
		name, in, want string
		invalid        int
	}{
		{"soft line breaks", "a long =\r\nline=\nend\r\n", "a long lineend\r\n", 0},
		{"escapes", "caf=C3=A9 =3D =09tab\n", "café = \ttab\n", 0},
		{"lowercase hex", "caf=c3=a9\n", "café\n", 0},
		{"lone = kept", "a = b, E=mc2, x=y, =\"q\"\n", "a = b, E=mc2, x=y, =\"q\"\n", 0},
		{"= and one hex digit", "=A\n=4 \n", "=A\n=4\n", 0},
		{"trailing blanks dropped", "end  \t\r\nnext \n", "end\r\nnext\n", 0},
		{"blanks before a soft break kept", "two  =\r\nwords\n", "two  words\n", 0},
		{"soft break with blanks after", "a= \t\r\nb\n", "ab\n", 0},
		{"final soft break", "the end=", "the end", 0},
		{"lone = at the end", "text\r\n=", "text\r\n", 0},
		{"lone = with blanks at the end", "text\r\n= \r", "text\r\n", 0},
		{"8-bit bytes pass", "Gr\xc3\xbc\xc3\x9fe\n", "Grüße\n", 0},
		{"bare CR kept", "a\rb\r", "a\rb", 0},
		{"control bytes kept", "\x1b[31mERROR\x1b[0m\f\x7f\n", "\x1b[31mERROR\x1b[0m\f\x7f\n", 4},
		{"= before a bare CR", "a=\rb\n", "a=\rb\n", 1},
		{"CR inside the blanks of a soft break", "a=\r \nb\n", "ab\n", 1},
		{"line longer than 4 KiB", longLine + "\r\nnext\r\n", strings.TrimRight(longLine, " ") + "\r\nnext\r\n", 0},
		{"long run of blanks", "a" + strings.Repeat(" ", 3000) + "b\n", "a" + strings.Repeat(" ", 3000) + "b\n", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := &qpReader{br: bufio.NewReader(strings.NewReader(c.in))}
			got, err := io.ReadAll(q)
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
			assert.Equal(t, c.invalid, q.invalid)
		})
	}

	t.Run("empty read", func(t *testing.T) {
		n, err := (&qpReader{br: bufio.NewReader(strings.NewReader("x"))}).Read(nil)
		assert.Zero(t, n)
		assert.NoError(t, err)
	})
	t.Run("read errors pass through", func(t *testing.T) {
		q := &qpReader{br: bufio.NewReader(io.MultiReader(strings.NewReader("kept=20text"), errReader{io.ErrUnexpectedEOF}))}
		got, err := io.ReadAll(q)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, "kept text", string(got))
	})
	t.Run("small reads", func(t *testing.T) {
		in := "caf=C3=A9 =\r\nsoft" + strings.Repeat("=41 x=\r\n", 3000) + "end  \r\n"
		want, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(in)))
		require.NoError(t, err)
		var got []byte
		q := &qpReader{br: bufio.NewReader(strings.NewReader(in))}
		b := make([]byte, 3)
		for {
			n, err := q.Read(b)
			got = append(got, b[:n]...)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		assert.Equal(t, string(want), string(got))
	})
}

// eqBeforeLineEnd reports the two places where mime/quotedprintable fails on
// a "=" that mail clients accept: a soft line break ending the input, and a
// lone "=" just before a soft line break.
func eqBeforeLineEnd(s string) bool {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if strings.HasSuffix(l, "==") || i == len(lines)-1 && strings.HasSuffix(l, "=") {
			return true
		}
	}
	return false
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestQPReaderMatchesStdlib runs every short input over the bytes that
// matter to quoted-printable through both decoders: where
// mime/quotedprintable accepts the input the bytes must be the same, and
// where it gives up, what it decoded before must be kept and the reason
// counted, except for a soft line break at the very end, which mail
// clients accept.
func TestQPReaderMatchesStdlib(t *testing.T) {
	alphabet := []byte{'=', 'A', 'f', 'g', ' ', '\t', '\r', '\n', 0x01, 0xc3}
	maxLen := 5
	if testing.Short() {
		maxLen = 4
	}
	in := make([]byte, 0, maxLen)
	var walk func()
	walk = func() {
		s := string(in)
		std, stdErr := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
		q := &qpReader{br: bufio.NewReader(strings.NewReader(s))}
		got, err := io.ReadAll(q)
		require.NoError(t, err, "%q", s)
		if stdErr == nil {
			require.Equal(t, string(std), string(got), "%q", s)
			require.Zero(t, q.invalid, "%q", s)
		} else {
			require.True(t, bytes.HasPrefix(got, std), "%q: %q is not kept in %q", s, std, got)
			require.True(t, q.invalid > 0 || eqBeforeLineEnd(s), "%q: stdlib fails (%v) but nothing was counted", s, stdErr)
		}
		if len(in) == maxLen {
			return
		}
		for _, c := range alphabet {
			in = append(in, c)
			walk()
			in = in[:len(in)-1]
		}
	}
	walk()
}

func TestParseQPFallsBackToRawText(t *testing.T) {
	t.Run("control bytes", func(t *testing.T) {
		body := "Output:\r\n\x1b[31mERROR\x1b[0m upload rejected, reason=\"bad date\"\r\nretries=0\r\n"
		m, err := parseString(t, textPart("quoted-printable", "text/plain; charset=utf-8", body), ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Output:\n[31mERROR[0m upload rejected, reason=\"bad date\"\nretries=0", m.Text)
		assert.True(t, hasProblem(m, "text/plain part: invalid quoted-printable in 2 places"), "problems: %q", m.Problems)
	})
	t.Run("long HTML line", func(t *testing.T) {
		html := "<html><body>" + strings.Repeat("<p class=\"x\">One paragraph of many.</p>", 200) + "</body></html>"
		m, err := parseString(t, textPart("quoted-printable", "text/html; charset=utf-8", html), ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, html, m.HTML)
		assert.Empty(t, m.Problems)
	})
	t.Run("ISO-2022-JP not encoded", func(t *testing.T) {
		// "こんにちは" in ISO-2022-JP: ESC $ B ... ESC ( B
		body := "\x1b$B$3$s$K$A$O\x1b(B\r\n"
		m, err := parseString(t, textPart("quoted-printable", "text/plain; charset=iso-2022-jp", body), ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, "こんにちは", m.Text)
		assert.True(t, hasProblem(m, "invalid quoted-printable"), "problems: %q", m.Problems)
	})
	t.Run("attachment kept whole", func(t *testing.T) {
		msg := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nLog attached.\r\n" +
			"--b\r\nContent-Type: text/plain; name=job.log\r\nContent-Disposition: attachment; filename=job.log\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\nline one\r\n\fpage two\r\n--b--\r\n"
		m, err := parseString(t, msg, ParseOptions{})
		require.NoError(t, err)
		require.Len(t, m.Attachments, 1)
		assert.Equal(t, "line one\r\n\fpage two", string(readAttachment(t, m.Attachments[0])))
		assert.Empty(t, m.Refused)
	})
}

// TestCorpusUnencodedParts checks the corpus messages whose parts are
// labelled base64 or quoted-printable but were sent as they are: the ticket
// gets the part's own text, read here straight from the file with the
// standard library.
func TestCorpusUnencodedParts(t *testing.T) {
	for _, c := range []struct {
		file     string
		problems int
	}{
		{"41-base64-unencoded-text", 2},
		{"42-qp-unencoded-text", 1},
		{"43-html-base64-unencoded", 1},
	} {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, c.file+".eml"))
			require.NoError(t, err)
			parts := rawParts(t, data)
			m, err := Parse(bytes.NewReader(data), ParseOptions{SpoolDir: t.TempDir()})
			require.NoError(t, err)
			defer m.Cleanup()

			for _, p := range parts {
				switch {
				case p.attachment:
					require.Len(t, m.Attachments, 1)
					assert.Equal(t, p.body, string(readAttachment(t, m.Attachments[0])))
				case p.mediaType == "text/html":
					assert.Equal(t, p.body, m.HTML)
					assert.Equal(t, HTMLToText(p.body), m.Text)
					assert.True(t, m.TextFromHTML)
				default:
					assert.Equal(t, normalizeText(p.body, p.params), m.Text)
				}
			}
			assert.NotContains(t, m.Text, "\uFFFD")
			assert.NotContains(t, m.HTML, "\uFFFD")
			assert.Len(t, m.Problems, c.problems, "problems: %q", m.Problems)
		})
	}
}

type rawPart struct {
	mediaType  string
	params     map[string]string
	attachment bool
	body       string
}

// rawParts returns the bodies of a message's leaf parts exactly as they
// stand in the file, undecoded.
func rawParts(t *testing.T, data []byte) []rawPart {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	mt, params, err := stdmime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		require.NoError(t, err)
		return []rawPart{{mediaType: mt, params: params, body: string(b)}}
	}
	var parts []rawPart
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return parts
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		pmt, pparams, err := stdmime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		parts = append(parts, rawPart{
			mediaType:  pmt,
			params:     pparams,
			attachment: strings.HasPrefix(p.Header.Get("Content-Disposition"), "attachment"),
			body:       string(b),
		})
	}
}
