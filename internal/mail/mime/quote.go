package mime

import (
	"strings"
)

// StripQuoted returns the new part of a reply: the text above the quoted
// history, without the signature. It is deliberately simple and
// conservative, because cutting a customer's words is worse than keeping
// some history:
//
//   - The history starts at the first attribution line ("On ... wrote:",
//     "Am ... schrieb ...:", "Le ... a écrit :", also wrapped over two or
//     three lines), original-message separator ("-----Original Message-----"
//     and its German/French forms, Outlook's "____" line before a header
//     block) or Outlook header block ("From:/Sent:/To:/Subject:",
//     "Von:/Gesendet:/An:/Betreff:", "De :/Envoyé :/À :/Objet :").
//     An attribution counts only when it looks like one: a date, time or
//     address in it, or a "> " line right after it. "I wrote: the report"
//     in a sentence is kept.
//   - The signature starts at an RFC 3676 "-- " line or a mobile footer
//     ("Sent from my iPhone", "Von meinem iPhone gesendet", "Envoyé de mon
//     iPhone", "Get Outlook for iOS", ...).
//   - A "> " block is dropped only when nothing but blank lines follow it.
//     Quoted lines between the customer's own (inline answers, a pasted
//     shell prompt) are kept as they are.
//   - A forwarded message ("Begin forwarded message:", "---------- Forwarded
//     message ---------", ...) is content, not history: it and everything
//     after it are kept; only a signature above it is removed.
//   - If nothing would be left (a reply that is only a quote, or a
//     bottom-posted reply), the whole text is returned trimmed.
//
// Lines are right-trimmed and "\r\n" becomes "\n"; invalid UTF-8 is
// dropped, so the result is never longer than the trimmed input.
func StripQuoted(text string) string {
	text = strings.ToValidUTF8(text, "")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	whole := strings.TrimSpace(text)
	lines := strings.Split(text, "\n")
	norm := make([]string, len(lines)) // what the patterns match against
	for i, l := range lines {
		norm[i] = normalizeLine(l)
	}

	fwd := len(lines)
	for i, l := range norm {
		if isForwardMarker(l) {
			fwd = i
			break
		}
	}
	head, tail := lines[:fwd], lines[fwd:]
	if q := quoteStart(norm[:fwd]); q >= 0 {
		head, tail = head[:q], nil
	}
	if s := signatureStart(head, norm); s >= 0 {
		head = head[:s]
		if len(tail) > 0 && len(head) > 0 && strings.TrimSpace(head[len(head)-1]) != "" {
			// Keep the forwarded block apart from the words above it.
			head = append(head[:len(head):len(head)], "")
		}
	}
	if len(tail) == 0 {
		head = dropTrailingQuote(head)
	}
	out := trimLines(append(head[:len(head):len(head)], tail...))
	if out == "" {
		return whole
	}
	return out
}

// quoteStart returns the index of the first line of quoted history, or -1.
// The helpers below take normalized lines.
func quoteStart(lines []string) int {
	for i := range lines {
		l := lines[i]
		if l == "" || strings.HasPrefix(l, ">") {
			continue
		}
		switch {
		case isSeparator(l):
			return i
		case isUnderscoreRule(l) && headerBlockAt(lines, nextNonBlank(lines, i+1)):
			return i
		case headerBlockAt(lines, i):
			return i
		case attributionAt(lines, i):
			return i
		}
	}
	return -1
}

// attributionAt tries line i alone and joined with the next one or two,
// since mailers wrap a long attribution.
func attributionAt(lines []string, i int) bool {
	joined := ""
	for k := 0; k < 3 && i+k < len(lines); k++ {
		l := lines[i+k]
		if l == "" || strings.HasPrefix(l, ">") {
			return false
		}
		if joined != "" {
			joined += " "
		}
		joined += l
		if len(joined) > 400 {
			return false
		}
		strong, ok := matchAttribution(joined)
		if !ok {
			continue
		}
		if k > 0 && !startsAttribution(lines[i]) {
			// A wrapped attribution starts like one; otherwise a sentence
			// that happens to end a line before "... wrote:" would be cut.
			return false
		}
		next := nextNonBlank(lines, i+k+1)
		quotedNext := next < len(lines) && strings.HasPrefix(lines[next], ">")
		return quotedNext || (strong && hasDateOrAddress(joined))
	}
	return false
}

// signatureStart returns the index of the signature separator in lines,
// or -1; norm holds the same lines normalized.
func signatureStart(lines, norm []string) int {
	for i, raw := range lines {
		l := norm[i]
		switch {
		case raw == "-- ":
			return i
		case l == "--" && nonBlankAfter(lines, i, 6) <= 6:
			// "-- " whose space a mailer trimmed; only trusted near the end.
			return i
		case isMobileSignature(l):
			return i
		}
	}
	return -1
}

func dropTrailingQuote(lines []string) []string {
	end := len(lines)
	sawQuote := false
	for end > 0 {
		l := strings.TrimSpace(lines[end-1])
		if l == "" || strings.HasPrefix(l, ">") {
			sawQuote = sawQuote || l != ""
			end--
			continue
		}
		break
	}
	if !sawQuote {
		return lines
	}
	return lines[:end]
}

func headerBlockAt(lines []string, i int) bool {
	if i >= len(lines) || !isHeaderField(lines[i], fromFields) {
		return false
	}
	var date, to, subject bool
	for k := i + 1; k < len(lines) && k <= i+6; k++ {
		l := lines[k]
		switch {
		case isHeaderField(l, dateFields):
			date = true
		case isHeaderField(l, toFields):
			to = true
		case isHeaderField(l, subjectFields):
			subject = true
		}
	}
	return date && (to || subject)
}

func nextNonBlank(lines []string, i int) int {
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	return i
}

// nonBlankAfter counts the non-blank lines after i, stopping past limit so
// a text of many "--" lines stays linear.
func nonBlankAfter(lines []string, i, limit int) int {
	n := 0
	for _, l := range lines[i+1:] {
		if strings.TrimSpace(l) != "" {
			if n++; n > limit {
				break
			}
		}
	}
	return n
}

// normalizeLine folds the no-break spaces French typography puts before
// ":" and mail clients put everywhere, and trims.
func normalizeLine(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\u00a0', '\u202f', '\u2007', '\t':
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// trimLines right-trims every line and the whole text.
func trimLines(lines []string) string {
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
