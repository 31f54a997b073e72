package mime

import (
	"strings"
	"unicode/utf8"
)

// maxWordPayload keeps each RFC 2047 encoded-word at 57 characters, so
// "Subject: " plus one word stays under the 78-character line limit and
// go-message can fold between words.
const maxWordPayload = 45

// encodeWords returns s unchanged when it is printable ASCII, else as
// space-separated "=?utf-8?q?...?=" words (RFC 2047 Q encoding, using only
// the characters allowed in a phrase, so it also serves display names).
// Whitespace between encoded-words is dropped by decoders, so the split
// points are invisible.
func encodeWords(s string) string {
	if !needsEncoding(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var (
		words   []string
		payload strings.Builder
		buf     [utf8.UTFMax]byte
	)
	flush := func() {
		if payload.Len() > 0 {
			words = append(words, "=?utf-8?q?"+payload.String()+"?=")
			payload.Reset()
		}
	}
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.IndexByte("!*+-/", byte(r)) >= 0):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			var b strings.Builder
			for _, c := range buf[:n] {
				b.WriteString("=" + hexByte(c))
			}
			enc = b.String()
		}
		if payload.Len()+len(enc) > maxWordPayload {
			flush()
		}
		payload.WriteString(enc)
	}
	flush()
	return strings.Join(words, " ")
}

func needsEncoding(s string) bool {
	for _, r := range s {
		if (r < ' ' || r > '~') && r != '\t' {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hexByte(c byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
