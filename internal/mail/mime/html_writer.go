package mime

import (
	"strings"
	"unicode/utf8"
)

// maxRenderDepth caps the quote and list indentation that is drawn.
const maxRenderDepth = 10

// textWriter accumulates converted text. Block boundaries ask for "at
// least n line breaks" (ensure), so nested blocks do not stack blank lines;
// <br> always adds one. The quote prefix is written lazily with the first
// word of a line, so blank lines stay blank.
type textWriter struct {
	b            strings.Builder
	nl           int  // line breaks at the end of b
	pendingSpace bool // a collapsed run of whitespace before the next word
	afterMarker  bool // a list marker was just written; swallow block breaks
	quote, pre   int  // <blockquote> and <pre> depth
}

func (w *textWriter) lineStart() bool { return w.b.Len() == 0 || w.nl > 0 }

func (w *textWriter) ensure(n int) {
	if w.b.Len() == 0 || w.afterMarker {
		return
	}
	for w.nl < n {
		w.newline()
	}
	w.pendingSpace = false
}

// newline ends the line; an empty line inside a quote still gets its
// ">" so the quoted block stays one block.
func (w *textWriter) newline() {
	if w.nl > 0 && w.quote > 0 {
		w.b.WriteString(w.quotePrefix())
	}
	w.b.WriteByte('\n')
	w.nl++
}

func (w *textWriter) hardBreak() {
	if w.b.Len() == 0 {
		return
	}
	w.newline()
	w.pendingSpace = false
	w.afterMarker = false
}

func (w *textWriter) space() {
	if !w.lineStart() && !w.afterMarker {
		w.pendingSpace = true
	}
}

// put writes s verbatim as (part of) a word.
func (w *textWriter) put(s string) {
	if s == "" {
		return
	}
	if w.lineStart() {
		if w.quote > 0 {
			w.b.WriteString(w.quotePrefix() + " ")
		}
	} else if w.pendingSpace {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(s)
	w.nl = 0
	w.pendingSpace = false
	w.afterMarker = false
}

// quotePrefix is ">" per quote level, capped: deeper quotes add nothing
// readable, and an uncapped prefix makes hostile nesting quadratic.
func (w *textWriter) quotePrefix() string {
	return strings.Repeat(">", min(w.quote, maxRenderDepth))
}

// text writes a text node: whitespace collapsed, except inside <pre>.
func (w *textWriter) text(s string) {
	s = strings.Map(dropInvisible, s)
	if w.pre > 0 {
		for i, seg := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			if i > 0 {
				w.newline()
			}
			w.put(seg)
		}
		return
	}
	words := strings.FieldsFunc(s, isHTMLSpace)
	if len(words) == 0 {
		if strings.ContainsRune(s, '\u00a0') && w.lineStart() {
			// <p>&nbsp;</p> and <div>&nbsp;</div> are how Outlook and
			// others write an empty line: keep it as one. finish trims
			// the no-break space itself.
			w.put("\u00a0")
		} else if s != "" {
			w.space()
		}
		return
	}
	if r, _ := utf8.DecodeRuneInString(s); isHTMLSpace(r) {
		w.space()
	}
	for i, word := range words {
		if i > 0 {
			w.pendingSpace = true
		}
		w.put(word)
	}
	if r, _ := utf8.DecodeLastRuneInString(s); isHTMLSpace(r) {
		w.space()
	}
}

// finish trims each line, allows at most one blank line in a row and no
// blank lines around the text, and drops a bare ">" line that closes a
// quote rather than separating two quoted paragraphs.
func (w *textWriter) finish() string {
	lines := strings.Split(w.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0")
	}
	out := make([]string, 0, len(lines))
	blank := true // no blank lines at the top
	for i, l := range lines {
		if strings.Trim(l, ">") == "" && l != "" {
			if i+1 == len(lines) || !strings.HasPrefix(lines[i+1], ">") {
				l = ""
			}
		}
		if l == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.ToValidUTF8(strings.Join(out, "\n"), "\uFFFD")
}

// isHTMLSpace is HTML's whitespace plus the no-break space, which Outlook
// uses for indentation and empty paragraphs and which reads as a space.
func isHTMLSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\u00a0':
		return true
	}
	return false
}

// dropInvisible removes characters newsletters use to pad preview text
// and that render as nothing (zero-width space, BOM, combining grapheme
// joiner, soft hyphen, word joiner).
func dropInvisible(r rune) rune {
	switch r {
	case '\u200b', '\ufeff', '\u034f', '\u00ad', '\u2060':
		return -1
	}
	return r
}
