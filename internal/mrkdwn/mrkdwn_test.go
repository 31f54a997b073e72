package mrkdwn

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCutText(t *testing.T) {
	const link = "https://taskip.test/t/abc"
	fullLink := " <" + link + "|see the full text in TaskIP>"
	cases := []struct {
		name string
		in   string
		max  int
		link string
		want string
	}{
		{"short stays", "hello", 10, link, "hello"},
		{"exactly max stays", "hello", 5, "", "hello"},
		{"ascii", "hello world", 8, "", "hello w…"},
		{"no white space before the ellipsis", "hello world", 7, "", "hello…"},
		{"two-byte runes", "äöüäöü", 4, "", "äöü…"},
		{"cjk", "日本語のテキスト", 5, "", "日本語の…"},
		{"emoji with skin tone kept whole", "👍🏽👍🏽👍🏽", 4, "", "👍🏽…"},
		{"zwj family kept whole", "👨‍👩‍👧👨‍👩‍👧", 6, "", "👨‍👩‍👧…"},
		{"flag pair kept whole", "🇩🇪🇫🇷", 3, "", "🇩🇪…"},
		{"combining accent kept with its letter", "e\u0301e\u0301e\u0301", 4, "", "e\u0301…"},
		{"link not split", "see <https://x.test/a|label> now", 20, "", "see…"},
		{"link kept when it fits", "see <https://x.test/a|label> now", 30, "", "see <https://x.test/a|label>…"},
		{"mention not split", "hi <@U123ABC> there", 8, "", "hi…"},
		{"entity not split", "a &amp; b", 5, "", "a…"},
		{"lone < is a rune", "a < b and more", 6, "", "a < b…"},
		{"full text link appended", strings.Repeat("x", 100), 80, link,
			strings.Repeat("x", 80-utf8.RuneCountInString("…"+fullLink)) + "…" + fullLink},
		{"link that cannot fit is dropped", strings.Repeat("x", 100), 20, link, strings.Repeat("x", 19) + "…"},
		{"open code block closed", "```\nline one\nline two\nline three", 20, "", "```\nline one\nli\n```…"},
		{"closed code block untouched", "```a```" + strings.Repeat("b", 20), 10, "", "```a```bb…"},
		{"zero max", "abc", 0, "", ""},
		{"one char max", "abc", 1, link, "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CutText(tc.in, tc.max, tc.link)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), max(tc.max, 0))
			assert.True(t, utf8.ValidString(got))
		})
	}
}

// TestCutTextInvariants throws mixed mrkdwn at CutText: the result always
// fits, is valid UTF-8, and keeps every link and entity whole.
func TestCutTextInvariants(t *testing.T) {
	pieces := []string{"a", "é", "日", "👍🏽", "🇩🇪", "e\u0301", " ", "\n", "&amp;", "&lt;", "<https://x.test/?a=1&amp;b=2|lbl>", "<@U1>", "```", "*bold*"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		maxLen := r.IntN(120)
		link := ""
		if r.IntN(2) == 0 {
			link = "https://taskip.test/t/1"
		}
		got := CutText(s, maxLen, link)
		if !assert.LessOrEqual(t, utf8.RuneCountInString(got), maxLen, "%q max %d", s, maxLen) ||
			!assert.True(t, utf8.ValidString(got)) ||
			!assert.Equal(t, strings.Count(got, "<"), strings.Count(got, ">"), "%q -> %q", s, got) {
			return
		}
		if utf8.RuneCountInString(s) <= maxLen {
			assert.Equal(t, s, got)
		}
		if i := strings.LastIndexByte(got, '&'); i >= 0 {
			assert.Contains(t, got[i:], ";", "entity split in %q", got)
		}
	}
}

func TestEscape(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"control characters", "a & b <c> d", "a &amp; b &lt;c&gt; d"},
		{"mention injection", "<!channel> <@U123>", "&lt;!channel&gt; &lt;@U123&gt;"},
		{"link injection", "<https://evil.test|bank>", "&lt;https://evil.test|bank&gt;"},
		{"escapes once only: input is raw text", "&amp;", "&amp;amp;"},
		{"multi-byte untouched", "Grüße 👋 <3", "Grüße 👋 &lt;3"},
		{"invalid utf-8 replaced", "a\xffb", "a\uFFFDb"},
		{"mrkdwn markup stays", "*bold* _it_", "*bold* _it_"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Escape(tc.in))
		})
	}
}

func TestLink(t *testing.T) {
	cases := []struct{ name, url, label, want string }{
		{"plain", "https://t.test/1", "Ticket #1", "<https://t.test/1|Ticket #1>"},
		{"no label", "https://t.test/1", "", "<https://t.test/1>"},
		{"query ampersand", "https://t.test/?a=1&b=2", "x", "<https://t.test/?a=1&amp;b=2|x>"},
		{"pipe and bracket cannot end the link", "https://t.test/a|b>c", "x", "<https://t.test/a%7Cb%3Ec|x>"},
		{"label escaped", "https://t.test/1", "a <b> & c", "<https://t.test/1|a &lt;b&gt; &amp; c>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Link(tc.url, tc.label))
		})
	}
}
