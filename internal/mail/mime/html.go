package mime

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// HTMLToText renders an HTML mail body as the plain text a person would
// type: paragraphs and <br> as line breaks, "- item" and "1. item" lists,
// links as "text (url)", <blockquote> as "> " lines (so StripQuoted treats
// an HTML-only reply like a plain one), entities decoded, whitespace
// collapsed, and nothing from <style>, <script> or hidden elements.
//
// It walks x/net/html's tokenizer instead of building a tree: memory stays
// proportional to the output, nesting depth costs nothing, and broken HTML
// needs no repair. github.com/inbucket/html2text (the maintained fork of
// jaytaylor/html2text) was tried first and rejected: it renders lists as
// "* " and links as "( url )", puts a space before punctuation that follows
// an inline tag ("Hi *Anna* ,"), and brings nine modules (a table renderer
// and its terminal-colour dependencies) for a feature mail does not need.
func HTMLToText(src string) string {
	c := htmlConverter{z: html.NewTokenizer(strings.NewReader(src))}
	return c.run()
}

type htmlConverter struct {
	z *html.Tokenizer
	w textWriter

	skipRaw   bool   // drop the next text token (raw text of <style>, <script>...)
	skipName  string // element being skipped with its subtree
	skipDepth int
	lists     []htmlList
	paras     []bool // open <p>s: true for Outlook's MsoNormal lines
	link      *htmlLink
}

type htmlList struct {
	ordered bool
	n       int
}

type htmlLink struct {
	href  string
	start int // output length when the link text began
}

// htmlAttrs holds the few attributes the converter looks at.
type htmlAttrs struct {
	href, alt, src, class string
	hidden                bool
}

func (c *htmlConverter) run() string {
	for {
		tt := c.z.Next()
		switch tt {
		case html.ErrorToken:
			c.closeLink()
			return c.w.finish()
		case html.TextToken:
			if c.skipRaw || c.skipDepth > 0 {
				c.skipRaw = false
				continue
			}
			c.w.text(string(c.z.Text()))
		case html.StartTagToken, html.SelfClosingTagToken:
			c.skipRaw = false
			name, a := c.tag()
			if c.skipDepth > 0 {
				if name == c.skipName && tt == html.StartTagToken && !isVoid(name) {
					c.skipDepth++
				}
				continue
			}
			c.start(name, a, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			c.skipRaw = false
			name, _ := c.z.TagName()
			if c.skipDepth > 0 {
				if string(name) == c.skipName {
					c.skipDepth--
				}
				continue
			}
			c.end(string(name))
		}
	}
}

func (c *htmlConverter) tag() (string, htmlAttrs) {
	name, more := c.z.TagName()
	var a htmlAttrs
	for more {
		var k, v []byte
		k, v, more = c.z.TagAttr()
		switch string(k) {
		case "href":
			a.href = strings.TrimSpace(string(v))
		case "alt":
			a.alt = string(v)
		case "src":
			a.src = string(v)
		case "class":
			a.class = string(v)
		case "hidden":
			a.hidden = true
		case "style":
			st := strings.ToLower(strings.Join(strings.Fields(string(v)), ""))
			if strings.Contains(st, "display:none") || strings.Contains(st, "mso-hide:all") {
				a.hidden = true
			}
		}
	}
	return string(name), a
}

func (c *htmlConverter) start(name string, a htmlAttrs, selfClosing bool) {
	switch name {
	case "script", "style", "title", "iframe", "noembed", "noframes", "noscript", "xmp":
		c.skipRaw = true // raw text follows even after <script/>
		return
	}
	if (a.hidden || name == "template" || name == "svg" || name == "xml") && !selfClosing && !isVoid(name) {
		c.skipName, c.skipDepth = name, 1
		return
	}
	if a.hidden {
		return
	}
	w := &c.w
	switch name {
	case "br":
		w.hardBreak()
	case "p":
		// Outlook writes every line as a margin-less <p class=MsoNormal>
		// and blank lines as empty ones: those are lines, not paragraphs.
		mso := strings.Contains(strings.ToLower(a.class), "msonormal")
		if len(c.paras) < 64 {
			c.paras = append(c.paras, mso)
		}
		w.ensure(2 - b2i(mso))
	case "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dl", "figure", "fieldset", "address":
		w.ensure(2)
		if name == "pre" {
			w.pre++
		}
	case "blockquote":
		w.ensure(2)
		w.quote++
	case "hr":
		w.ensure(2)
		w.put(strings.Repeat("_", 32))
		w.ensure(2)
	case "ul", "ol":
		w.ensure(2 - min(len(c.lists), 1))
		c.lists = append(c.lists, htmlList{ordered: name == "ol"})
	case "li":
		w.ensure(1)
		marker := "- "
		if n := len(c.lists); n > 0 {
			l := &c.lists[n-1]
			l.n++
			if l.ordered {
				marker = strconv.Itoa(l.n) + ". "
			}
		}
		w.put(strings.Repeat("  ", min(max(len(c.lists)-1, 0), maxRenderDepth)) + marker)
		w.afterMarker = true
	case "div", "tr", "table", "dt", "dd", "section", "article", "header", "footer",
		"nav", "aside", "main", "form", "caption", "center", "figcaption", "tbody", "thead", "tfoot":
		w.ensure(1)
	case "td", "th":
		w.space()
	case "a":
		c.closeLink()
		c.link = &htmlLink{href: a.href, start: w.b.Len()}
	case "img":
		switch {
		case c.link != nil && strings.TrimSpace(a.alt) != "":
			w.text(a.alt)
		case strings.TrimSpace(a.alt) != "":
			w.text("[image: " + strings.TrimSpace(a.alt) + "]")
		case strings.HasPrefix(strings.ToLower(a.src), "cid:"):
			w.text("[image]")
		}
	}
}

func (c *htmlConverter) end(name string) {
	w := &c.w
	switch name {
	case "p":
		mso := false
		if n := len(c.paras); n > 0 {
			mso, c.paras = c.paras[n-1], c.paras[:n-1]
		}
		w.ensure(2 - b2i(mso))
	case "h1", "h2", "h3", "h4", "h5", "h6", "dl", "figure", "fieldset", "address":
		w.ensure(2)
	case "pre":
		w.pre = max(w.pre-1, 0)
		w.ensure(2)
	case "blockquote":
		w.ensure(1)
		w.quote = max(w.quote-1, 0)
		w.ensure(2)
	case "ul", "ol":
		if n := len(c.lists); n > 0 {
			c.lists = c.lists[:n-1]
		}
		w.ensure(2 - min(len(c.lists), 1))
	case "li", "div", "tr", "table", "dt", "dd", "section", "article", "header", "footer",
		"nav", "aside", "main", "form", "caption", "center", "figcaption", "tbody", "thead", "tfoot":
		w.ensure(1)
	case "td", "th":
		w.space()
	case "a":
		c.closeLink()
	}
}

// closeLink appends the URL after the link text unless it adds nothing:
// same as the text, an in-page anchor, a script, an inline image.
func (c *htmlConverter) closeLink() {
	l := c.link
	c.link = nil
	if l == nil || l.start > c.w.b.Len() {
		return
	}
	text := strings.TrimSpace(c.w.b.String()[l.start:])
	href := l.href
	lower := strings.ToLower(href)
	if text == "" || href == "" || strings.HasPrefix(href, "#") ||
		strings.HasPrefix(lower, "javascript:") || strings.HasPrefix(lower, "cid:") || strings.HasPrefix(lower, "data:") {
		return
	}
	if strings.HasPrefix(lower, "mailto:") {
		href, _, _ = strings.Cut(href[len("mailto:"):], "?")
	}
	if sameLink(text, href) {
		return
	}
	c.w.space()
	c.w.put("(" + href + ")")
}

func sameLink(text, href string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"https://", "http://", "mailto:"} {
			s = strings.TrimPrefix(s, p)
		}
		s = strings.TrimPrefix(s, "www.")
		return strings.TrimRight(s, "/")
	}
	return norm(text) == norm(href)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isVoid(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr":
		return true
	}
	return false
}
