package slack

import (
	"strings"
)

// Block Kit and message limits, in characters (Unicode code points, as
// slack-go's TextBlockObject.Validate counts them). Sources: Slack's Block
// Kit reference (docs.slack.dev/reference/block-kit: blocks, block elements,
// composition objects) and the chat.postMessage reference; the 3000 for text
// objects is also enforced by slack-go v0.35.0 block_object.go. Exceeding one
// makes Slack answer invalid_blocks or msg_too_long, so every builder of
// user-supplied text cuts to these with mrkdwn.CutText.
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

	MaxSelectOptions = 100 // static_select options (also option_groups)
	MaxOptionText    = 75
	MaxOptionValue   = 150
	MaxPlaceholder   = 150
	MaxConfirmTitle  = 100
	MaxConfirmText   = 300
	MaxConfirmButton = 30 // confirm and deny labels
	MaxImageAltText  = 2000
	MaxMarkdownBlock = 12000 // cumulative text of markdown blocks per payload
)

// BlockIDPrefix starts the block_id of every block ticketsync builds, the
// second echo marker: message events carry blocks even when the
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
