package mime

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"br", "Line 1<br>Line 2<br/>Line 3", "Line 1\nLine 2\nLine 3"},
		{"gmail divs", "<div>A</div><div><br></div><div>B</div>", "A\n\nB"},
		{"whitespace collapsed", "<p>  lots \n\t of    space  </p>", "lots of space"},
		{"inline tags keep punctuation", "Hi <b>Anna</b>, thanks!", "Hi Anna, thanks!"},
		{"entities", "<p>&euro;12 &amp; &lt;tag&gt; &quot;q&quot; caf&eacute; &#8217; &#x2014;</p>", "€12 & <tag> \"q\" café ’ —"},
		{"style script title skipped", "<html><head><title>T</title><style>p{color:red}</style></head><body><script>alert(1)</script><p>Body</p><script/>x</body></html>", "Body"}, // <script/> is not self-closing in HTML: the rest is script
		{"hidden skipped", "<div style=\"display: none\">preheader <b>text</b></div><span hidden>h</span><p>Visible</p>", "Visible"},
		{"mso-hide skipped", "<div style=\"mso-hide:all\">x</div>Shown", "Shown"},
		{"list", "<p>Steps:</p><ul><li>one</li><li>two <a href=\"https://x.example/a\">link</a></li></ul><p>done</p>", "Steps:\n\n- one\n- two link (https://x.example/a)\n\ndone"},
		{"ordered nested list", "<ol><li>first<ul><li>sub</li></ul></li><li>second</li></ol>", "1. first\n  - sub\n2. second"},
		{"li with paragraph", "<ul><li><p>para</p></li></ul>", "- para"},
		{"link same as text", "<a href=\"https://x.example/\">https://x.example</a>", "https://x.example"},
		{"mailto link", "<a href=\"mailto:a@b.example?subject=hi\">a@b.example</a> or <a href=\"mailto:a@b.example\">write us</a>", "a@b.example or write us (a@b.example)"},
		{"anchor and js links", "<a href=\"#top\">Top</a> <a href=\"javascript:void(0)\">Click</a>", "Top Click"},
		{"image link uses alt", "<a href=\"https://x.example\"><img src=\"logo.png\" alt=\"Logo\"></a>", "Logo (https://x.example)"},
		{"image without alt in link dropped", "<a href=\"https://t.example/c\"><img src=\"x.gif\"></a>Text", "Text"},
		{"images", "<img src=\"cid:image001.png\"> <img alt=\"chart\" src=\"https://x.example/c.png\"> <img src=\"https://t.example/p.gif\" alt=\"\">", "[image] [image: chart]"},
		{"blockquote", "<p>Yes.</p><div>On Mon Anna wrote:</div><blockquote>Try<br><br>again<blockquote>older</blockquote></blockquote>", "Yes.\n\nOn Mon Anna wrote:\n\n> Try\n>\n> again\n>\n>> older"},
		{"pre keeps layout", "<pre>a  b\n  c</pre><p>x</p>", "a  b\n  c\n\nx"},
		{"table cells", "<table><tr><td>Plan</td><td>Pro</td></tr><tr><td>Seats</td><td>25</td></tr></table>", "Plan Pro\nSeats 25"},
		{"outlook msonormal lines", "<p class=MsoNormal>Hello,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Line 2<o:p></o:p></p><p class=MsoNormal>Line 3</p>", "Hello,\n\nLine 2\nLine 3"},
		{"nbsp div is a blank line", "<div>a</div><div>&nbsp;</div><div>b</div>", "a\n\nb"},
		{"hr", "above<hr>below", "above\n\n________________________________\n\nbelow"},
		{"invisible characters", "<p>Pre\u200bview\u034f\u00ad text\ufeff</p>", "Preview text"},
		{"many blank lines collapse", "a<br><br><br><br><br>b", "a\n\nb"},
		{"broken html", "<p>unclosed <b>bold <i>both</p><div>next", "unclosed bold both\n\nnext"},
		{"empty", "", ""},
		{"comments and conditionals", "<!--[if mso]><p>mso only</p><![endif]-->text<!-- note -->", "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, HTMLToText(tc.in))
		})
	}
}

// Deep nesting is where tree-building converters recurse; the tokenizer
// walk must not care.
func TestHTMLToTextDeepNesting(t *testing.T) {
	in := strings.Repeat("<div><blockquote>", 5000) + "deep" + strings.Repeat("</blockquote></div>", 5000) + "after"
	out := HTMLToText(in)
	assert.Contains(t, out, "deep")
	assert.True(t, strings.HasSuffix(out, "after"), "text after the nesting is kept")
}
