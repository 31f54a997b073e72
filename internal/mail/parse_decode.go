package mail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
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

// parseParams is mime.ParseMediaType (which handles RFC 2231 continuations
// and charsets) with a fallback that splits at ";" when it refuses, plus
// RFC 2047 decoding of values, which Outlook uses for filenames.
func parseParams(raw string) (string, map[string]string, bool) {
	v, params, err := mime.ParseMediaType(raw)
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
// passed through raw: better readable junk than nothing.
func (p *parser) transferDecoder(h textproto.Header, r io.Reader, mediaType string) io.Reader {
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); enc {
	case "", "7bit", "8bit", "binary":
		return r
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	default:
		p.problem("%s part: unknown Content-Transfer-Encoding %q; read undecoded", mediaType, clip(enc, 40))
		return r
	}
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
