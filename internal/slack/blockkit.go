package slack

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack/slackutilsx"
)

// Block Kit and message limits, in characters (Unicode code points, as
// slack-go's TextBlockObject.Validate counts them). Sources: Slack's Block
// Kit reference (docs.slack.dev/reference/block-kit: blocks, block elements,
// composition objects) and the chat.postMessage reference; the 3000 for text
// objects is also enforced by slack-go v0.35.0 block_object.go. Exceeding one
// makes Slack answer invalid_blocks or msg_too_long, so every builder of
// user-supplied text cuts to these with CutText.
const (
	MaxBlocks = 50 // blocks per message (100 in modals and Home tabs)

	// MaxMessageText: chat.postMessage truncates text beyond 40,000.
	MaxMessageText = 40000
	// MaxFallbackText is ticketsync's own cap for Text when Blocks carry
	// the content: it is only the notification, and Slack advises
	// keeping text to about 4,000.
	MaxFallbackText = 3000

	MaxTextObject       = 3000 // any text composition object
	MaxSectionText      = 3000 // section block text
	MaxSectionFields    = 10   // section block fields
	MaxSectionFieldText = 2000 // each section field
	MaxHeaderText       = 150  // header block plain_text
	MaxContextElements  = 10   // context block elements
	MaxContextText      = MaxTextObject
	MaxActionsElements  = 25 // actions block elements
	MaxBlockID          = 255

	MaxButtonText  = 75
	MaxActionID    = 255
	MaxButtonValue = 2000
	MaxURL         = 3000 // button url, link targets

	MaxSelectOptions  = 100 // static_select options (also option_groups)
	MaxOptionText     = 75
	MaxOptionValue    = 150
	MaxPlaceholder    = 150
	MaxConfirmTitle   = 100
	MaxConfirmText    = 300
	MaxConfirmButton  = 30 // confirm and deny labels
	MaxImageAltText   = 2000
	MaxMarkdownBlock  = 12000 // cumulative text of markdown blocks per payload
	fullTextLinkLabel = "see the full text in TaskIP"
)

// BlockIDPrefix starts the block_id of every block ticketsync builds, the
// second echo marker (STYLE 6): message events carry blocks even when the
// app is not subscribed to metadata.
const BlockIDPrefix = "tsync:"

// BlockID returns a marked block_id for name, cut to MaxBlockID.
func BlockID(name string) string {
	id := BlockIDPrefix + name
	if len(id) > MaxBlockID { // block ids are ASCII by construction
		id = id[:MaxBlockID]
	}
	return id
}

// IsOwnBlockID reports whether a block_id was made by BlockID.
func IsOwnBlockID(id string) bool { return strings.HasPrefix(id, BlockIDPrefix) }

// Escape makes user text safe inside mrkdwn: & < > become entities, so a
// customer cannot inject links or @channel mentions. Invalid UTF-8 becomes
// U+FFFD rather than reaching Slack.
func Escape(s string) string {
	return slackutilsx.EscapeMessage(strings.ToValidUTF8(s, "\uFFFD"))
}

// Link formats a mrkdwn link. The URL is escaped so that a "|" or ">" in it
// cannot end the link early; the label is escaped like any user text.
func Link(url, label string) string {
	url = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C").Replace(url)
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
