package mime

import (
	"html"
	"regexp"
	"strings"
)

// htmlHead and htmlTail frame the HTML derived from a text body: enough
// for every client to pick UTF-8 and show the text, nothing to style.
const (
	htmlHead = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n"
	htmlTail = "</body></html>\n"
)

var (
	paragraphBreak = regexp.MustCompile(`\n[ \t]*\n\s*`)
	linkPattern    = regexp.MustCompile(`(?i)\b(?:https?://|mailto:)[^\s<>"]+`)
)

// textToHTML renders a plain-text body as simple HTML: blank lines split
// paragraphs, single line ends become <br>, http(s) and mailto links become
// anchors, everything else is escaped.
func textToHTML(text string) string {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	text = strings.Trim(text, "\n")
	var b strings.Builder
	b.WriteString(htmlHead)
	if strings.TrimSpace(text) != "" {
		for _, para := range paragraphBreak.Split(text, -1) {
			b.WriteString("<p>")
			for i, line := range strings.Split(strings.TrimRight(para, "\n"), "\n") {
				if i > 0 {
					b.WriteString("<br>\n")
				}
				writeLinkified(&b, line)
			}
			b.WriteString("</p>\n")
		}
	}
	b.WriteString(htmlTail)
	return b.String()
}

// writeLinkified escapes line and turns the links in it into anchors.
func writeLinkified(b *strings.Builder, line string) {
	last := 0
	for _, m := range linkPattern.FindAllStringIndex(line, -1) {
		url := trimLink(line[m[0]:m[1]])
		end := m[0] + len(url)
		if strings.IndexByte(url, ':')+1 >= len(url) {
			continue // a bare "https://" is no link
		}
		b.WriteString(html.EscapeString(line[last:m[0]]))
		esc := html.EscapeString(url)
		b.WriteString(`<a href="` + esc + `">` + esc + `</a>`)
		last = end
	}
	b.WriteString(html.EscapeString(line[last:]))
}

// trimLink drops the sentence punctuation a link is usually followed by,
// keeping a closing parenthesis that has its opening one in the link.
func trimLink(url string) string {
	for url != "" {
		c := url[len(url)-1]
		switch {
		case strings.IndexByte(".,;:!?'*", c) >= 0:
		case c == ')' && strings.Count(url, "(") < strings.Count(url, ")"):
		case c == ']' && strings.Count(url, "[") < strings.Count(url, "]"):
		default:
			return url
		}
		url = url[:len(url)-1]
	}
	return url
}
