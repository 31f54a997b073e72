// Package mrkdwn writes text for Slack's mrkdwn: escaping what a customer
// or agent typed, links, and cutting long text to Slack's limits without
// breaking an entity, a link, an emoji or a code block. It is pure, so the
// mapping package (which builds messages) and the slack package (which
// enforces limits on the wire) share one implementation.
package mrkdwn

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack/slackutilsx"
)

// fullTextLinkLabel ends a text cut by CutText when a link is given.
const fullTextLinkLabel = "see the full text in TaskIP"

// Escape makes user text safe inside mrkdwn: & < > become entities, so a
// customer cannot inject links or @channel mentions. Invalid UTF-8 becomes
// U+FFFD rather than reaching Slack.
func Escape(s string) string {
	return slackutilsx.EscapeMessage(strings.ToValidUTF8(s, "\uFFFD"))
}

var linkURLEscaper = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C")

// Link formats a mrkdwn link. The URL is escaped so that a "|" or ">" in it
// cannot end the link early; the label is escaped like any user text.
func Link(url, label string) string {
	url = linkURLEscaper.Replace(url)
	if label == "" {
		return "<" + url + ">"
	}
	return "<" + url + "|" + Escape(label) + ">"
}

// CutText shortens already escaped mrkdwn s to at most max characters. It
// cuts between whole units: a rune with its combining marks and emoji
// joiners, an entity like &amp;, a <url|label> link or <@U123> mention, a
// ``` fence.
// A cut text ends in "…" and, when link is set, " <link|see the full text
// in TaskIP>"; when the link alone would not fit, only "…" is added. An open
// ``` code block is closed so the suffix is not swallowed by it.
func CutText(s string, max int, link string) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	suffix := "…"
	if link != "" {
		withLink := "… " + Link(link, fullTextLinkLabel)
		if utf8.RuneCountInString(withLink) < max {
			suffix = withLink
		}
	}
	budget := max - utf8.RuneCountInString(suffix)
	cut := cutUnits(s, budget)
	if strings.Count(cut, "```")%2 == 1 {
		const closer = "\n```"
		cut = cutUnits(s, budget-utf8.RuneCountInString(closer))
		if strings.Count(cut, "```")%2 == 1 {
			cut = strings.TrimRightFunc(cut, unicode.IsSpace) + closer
		}
	}
	return cut + suffix
}

// cutUnits returns the longest prefix of s made of whole units that has at
// most budget runes, without trailing white space.
func cutUnits(s string, budget int) string {
	end, runes := 0, 0
	for end < len(s) {
		size, n := unitAt(s[end:])
		if runes+n > budget {
			break
		}
		end += size
		runes += n
	}
	return strings.TrimRightFunc(s[:end], unicode.IsSpace)
}

// unitAt measures the indivisible unit at the start of s: bytes and runes.
func unitAt(s string) (size, runes int) {
	switch s[0] {
	case '<':
		if i := strings.IndexAny(s[1:], "<>\n"); i >= 0 && s[1+i] == '>' {
			return i + 2, utf8.RuneCountInString(s[:i+2])
		}
	case '`':
		if strings.HasPrefix(s, "```") { // a half fence would unbalance the count
			return 3, 3
		}
	case '&':
		if i := strings.IndexByte(s, ';'); i > 1 && i <= 8 && isEntityName(s[1:i]) {
			return i + 1, i + 1
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	runes = 1
	if isRegionalIndicator(r) { // a flag is a pair of these
		if next, n := utf8.DecodeRuneInString(s[size:]); isRegionalIndicator(next) {
			size += n
			runes++
		}
	}
	for joined := r == '\u200d'; size < len(s); runes++ {
		next, n := utf8.DecodeRuneInString(s[size:])
		if !joined && !continuesCluster(next) {
			break
		}
		joined = next == '\u200d'
		size += n
	}
	return size, runes
}

func isRegionalIndicator(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }

func isEntityName(name string) bool {
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '#' && i == 0
		if !ok {
			return false
		}
	}
	return name != ""
}

// continuesCluster approximates grapheme extension without a segmentation
// library: marks, variation selectors, emoji skin tones, ZWJ, and the tag
// characters of flag sequences.
func continuesCluster(r rune) bool {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		return true
	case r == '\u200d', r >= '\ufe00' && r <= '\ufe0f':
		return true
	case r >= 0x1f3fb && r <= 0x1f3ff, r >= 0xe0020 && r <= 0xe007f:
		return true
	}
	return false
}
