package mime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	stdmime "mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

type contentType struct {
	mediaType string
	params    map[string]string
}

// contentType parses Content-Type leniently: a bad parameter must not turn
// a text part into an unreadable one, so what parses is kept. Per RFC 2045
// a missing or hopeless header means text/plain.
func (p *parser) contentType(h textproto.Header) contentType {
	raw := h.Get("Content-Type")
	if strings.TrimSpace(raw) == "" {
		return contentType{mediaType: "text/plain", params: map[string]string{}}
	}
	mt, params, ok := parseParams(raw)
	if !ok {
		p.problem("Content-Type %q is malformed; read leniently", clip(raw, 80))
	}
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	return contentType{mediaType: mt, params: params}
}

// disposition returns the Content-Disposition value and its parameters.
func (p *parser) disposition(h textproto.Header) (string, map[string]string) {
	raw := h.Get("Content-Disposition")
	if strings.TrimSpace(raw) == "" {
		return "", map[string]string{}
	}
	d, params, ok := parseParams(raw)
	if !ok {
		p.problem("Content-Disposition %q is malformed; read leniently", clip(raw, 80))
	}
	return d, params
}

// parseParams is stdmime.ParseMediaType (which handles RFC 2231 continuations
// and charsets) with a fallback that splits at ";" when it refuses, plus
// RFC 2047 decoding of values, which Outlook uses for filenames.
func parseParams(raw string) (string, map[string]string, bool) {
	v, params, err := stdmime.ParseMediaType(raw)
	ok := err == nil
	if v == "" || params == nil {
		fields := strings.Split(raw, ";")
		if v == "" {
			v = strings.ToLower(strings.TrimSpace(fields[0]))
		}
		params = map[string]string{}
		for _, f := range fields[1:] {
			k, val, found := strings.Cut(f, "=")
			k = strings.ToLower(strings.TrimSpace(k))
			if !found || k == "" {
				continue
			}
			if _, dup := params[k]; !dup {
				params[k] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	for k, val := range params {
		if strings.Contains(val, "=?") {
			if dec, err := wordDecoder.DecodeHeader(val); err == nil {
				params[k] = dec
			}
		}
	}
	return v, params, ok
}

// transferDecoder undoes Content-Transfer-Encoding. An unknown encoding is
// passed through raw: better readable junk than nothing. The returned func
// records what was wrong with the encoding once the part has been read; the
// caller runs it after consuming the reader.
func (p *parser) transferDecoder(h textproto.Header, r io.Reader, mediaType string) (io.Reader, func()) {
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); enc {
	case "", "7bit", "8bit", "binary":
		return r, func() {}
	case "base64":
		br := p.lookahead(r)
		head, err := br.Peek(base64Window)
		if notBase64(head, err == io.EOF) {
			// Decoding would turn the sender's words into noise without an
			// error; as it stands, the part is what the sender wrote.
			p.problem("%s part: declared base64 but the content is not base64; read as it is", mediaType)
			return br, func() {}
		}
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: br}), func() {}
	case "quoted-printable":
		q := &qpReader{br: bufio.NewReader(r)}
		return q, func() {
			switch {
			case q.invalid == 1:
				p.problem("%s part: invalid quoted-printable in 1 place; kept as written", mediaType)
			case q.invalid > 1:
				p.problem("%s part: invalid quoted-printable in %d places; kept as written", mediaType, q.invalid)
			}
		}
	default:
		p.problem("%s part: unknown Content-Transfer-Encoding %q; read undecoded", mediaType, clip(enc, 40))
		return r, func() {}
	}
}

// base64Window is how much of a base64 part notBase64 looks at: all of any
// text part mailers send in practice, and of anything larger enough to tell
// words from encoded data.
const base64Window = 16 << 10

// lookahead wraps r in the parser's one look-ahead buffer: a leaf is done
// with its reader before the next part is opened, so one buffer serves all.
func (p *parser) lookahead(r io.Reader) *bufio.Reader {
	if p.peek == nil {
		p.peek = bufio.NewReaderSize(r, base64Window)
	} else {
		p.peek.Reset(r)
	}
	return p.peek
}

// notBase64 reports whether head, the start of a part declared base64 (all
// of it when whole), is text that was never encoded: a web form or a script
// that labels its plain words base64. Such text is mostly base64 letters,
// so the lenient decoder would turn it into noise without an error.
//
// Encoders write the alphabet in lines, with "=" padding at the very end;
// trailing blanks and a missing final padding come from transport and sloppy
// encoders and are fine. Text gives itself away by what encoders never
// write: punctuation, bytes outside ASCII, control bytes, and blanks between
// two words of a line. More than one such mark per 32 data bytes is text;
// fewer are stray bytes in real base64 (lines joined with a blank make one
// mark in 76), which the decoder skips as before. What follows the end of
// the data (a padded line) is not looked at: a footer a list server appended
// does not make the part text. A whole part whose length leaves a single
// base64 letter over cannot be base64 at all.
func notBase64(head []byte, whole bool) bool {
	var (
		data, marks int  // data bytes (alphabet and "="); marks of text
		letters     int  // alphabet bytes, which place the padding
		pads        int  // "=" in a row
		inLine, gap bool // the line has data; a blank followed it
		padded      bool // the data so far ends in complete padding
	)
	for _, c := range head {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			if gap {
				marks++
			}
			letters++
			data++
			pads, padded = 0, false
			inLine, gap = true, false
		case c == '=':
			if gap {
				marks++
			}
			pads++
			data++
			padded = pads == 1 && letters%4 == 3 || pads == 2 && letters%4 == 2
			inLine, gap = true, false
		case c == ' ', c == '\t':
			gap = inLine
		case c == '\r', c == '\n':
			if padded {
				return marks*32 > data
			}
			inLine, gap = false, false
		default:
			marks++
		}
	}
	if marks*32 > data {
		return true
	}
	return whole && !padded && letters%4 == 1
}

// maxQPBlanks bounds the blanks qpReader holds back to see whether they end
// a line; a longer run is passed on as it is.
const maxQPBlanks = 1024

// qpReader decodes quoted-printable leniently. For everything
// mime/quotedprintable accepts it gives the same bytes (soft line breaks,
// lowercase hex, a "=" without two hex digits kept as it is, trailing blanks
// dropped); but that package stops at the first control byte, at "=" before
// a bare CR or a soft line break, and at a line longer than its 4 KiB
// buffer, and everything after is lost. Those turn up in parts labelled
// quoted-printable that were never encoded (script output, minified HTML),
// so here they are kept as written and counted in invalid instead.
type qpReader struct {
	br      *bufio.Reader
	out     []byte // decoded, not yet returned
	off     int
	blanks  []byte // SP, HTAB, CR after the last visible byte of the line
	eq      bool   // blanks follow a "=" that is a soft line break if the line ends
	err     error
	invalid int
}

func (q *qpReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for q.off == len(q.out) {
		if q.err != nil {
			return 0, q.err
		}
		q.out, q.off = q.out[:0], 0
		for len(q.out) < min(len(b), 4096) && q.err == nil {
			q.step()
		}
	}
	n := copy(b, q.out[q.off:])
	q.off += n
	return n, nil
}

// step decodes one input byte, or the escape it starts.
func (q *qpReader) step() {
	c, err := q.br.ReadByte()
	if err != nil {
		// The last line ends here: its trailing blanks and a final "="
		// go, as at any line end.
		q.blanks, q.eq = q.blanks[:0], false
		q.err = err
		return
	}
	switch c {
	case ' ', '\t', '\r':
		if len(q.blanks) == maxQPBlanks {
			q.flushBlanks()
		}
		q.blanks = append(q.blanks, c)
	case '\n':
		if q.eq {
			// A soft line break; blanks may stand between "=" and CRLF, a
			// CR anywhere else among them is not allowed.
			if i := bytes.IndexByte(q.blanks, '\r'); i >= 0 && i != len(q.blanks)-1 {
				q.invalid++
			}
		} else {
			if n := len(q.blanks); n > 0 && q.blanks[n-1] == '\r' {
				q.out = append(q.out, '\r')
			}
			q.out = append(q.out, '\n')
		}
		q.blanks, q.eq = q.blanks[:0], false
	case '=':
		q.flushBlanks()
		if h, err := q.br.Peek(2); err == nil && isHex(h[0]) && isHex(h[1]) {
			q.out = append(q.out, unhex(h[0])<<4|unhex(h[1]))
			q.br.Discard(2)
			return
		}
		q.eq = true
	default:
		q.flushBlanks()
		if c < ' ' || c == 0x7f {
			q.invalid++
		}
		q.out = append(q.out, c)
	}
}

// flushBlanks passes on held-back blanks, and a "=" before them, once
// something other than a line end follows: they were not trailing.
func (q *qpReader) flushBlanks() {
	if q.eq {
		if len(q.blanks) > 0 && q.blanks[0] == '\r' {
			q.invalid++
		}
		q.out = append(q.out, '=')
		q.eq = false
	}
	q.out = append(q.out, q.blanks...)
	q.blanks = q.blanks[:0]
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// charsetReader decodes a charset label to UTF-8. ISO-8859-1 and ASCII
// labels get Windows-1252, as browsers do: mailers that say Latin-1 send
// curly quotes and the euro sign in 0x80-0x9F all the time.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch label {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "cp819", "ibm819":
		return charmap.Windows1252.NewDecoder().Reader(r), nil
	}
	return charset.Reader(label, r)
}

// decodeText turns a text part into valid UTF-8. Unlabeled 8-bit text and
// unknown charsets keep their bytes when those are UTF-8 already (the usual
// case for "x-unknown"), else are read as Windows-1252, the most common
// legacy charset; either way the guess is recorded.
func (p *parser) decodeText(label string, b []byte, mediaType string) string {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	switch label {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		if utf8.Valid(b) {
			return string(b)
		}
		if label == "utf-8" || label == "utf8" {
			p.problem("%s part: invalid UTF-8 replaced", mediaType)
			return strings.ToValidUTF8(string(b), "\uFFFD")
		}
		p.problem("%s part: 8-bit text without a charset; read as windows-1252", mediaType)
		return windows1252(b)
	}
	r, err := charsetReader(label, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			p.problem("%s part: unknown charset %q; bytes kept as UTF-8", mediaType, clip(label, 40))
			return string(b)
		}
		p.problem("%s part: unknown charset %q; read as windows-1252", mediaType, clip(label, 40))
		return windows1252(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		p.problem("%s part: charset %q: %v", mediaType, label, err)
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

func windows1252(b []byte) string {
	out, _ := charmap.Windows1252.NewDecoder().Bytes(b)
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// normalizeText gives every text body the same shape: "\n" line ends, no
// control characters (a NUL breaks the database behind TaskIP) or BOMs, RFC 3676
// format=flowed joined back into paragraphs, no trailing blank space.
func normalizeText(s string, params map[string]string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == '\ufeff' {
			return -1
		}
		return r
	}, s)
	if strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	s = strings.TrimLeft(s, "\n")
	return strings.TrimRight(s, " \t\n")
}

// unflow joins RFC 3676 soft line breaks (a line ending in a space) of the
// same quote depth; the "-- " signature separator is never a soft break.
func unflow(s string, delsp bool) string {
	var out []string
	var cur strings.Builder
	depth, open := 0, false
	flush := func() {
		line := cur.String()
		if depth > 0 && line != "" {
			line = strings.Repeat(">", depth) + " " + line
		} else if depth > 0 {
			line = strings.Repeat(">", depth)
		}
		out = append(out, line)
		cur.Reset()
		open = false
	}
	for _, line := range strings.Split(s, "\n") {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(line[d:], " ")
		if open && d != depth {
			flush()
		}
		depth = d
		soft := strings.HasSuffix(content, " ") && content != "-- "
		if soft && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		open = true
		if !soft {
			flush()
		}
	}
	if open {
		flush()
	}
	return strings.Join(out, "\n")
}
