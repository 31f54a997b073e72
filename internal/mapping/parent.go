package mapping

import (
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Action ids of the parent message's controls; the Slack-commands flow
// dispatches on them, so they are part of the contract between the two.
const (
	ActionSetStatus   = "ticketsync_status"
	ActionSetPriority = "ticketsync_priority"
	ActionAssignMe    = "ticketsync_assign_me"
	// BlockPrefix starts the block_id of every block we post, which is how
	// our own messages are recognised when Slack echoes them back.
	BlockPrefix = "ticketsync:"
)

// Slack's Block Kit limits (api.slack.com/reference/block-kit/blocks).
const (
	maxHeaderText  = 150
	maxSectionText = 3000
)

// ParentMessage is the message that heads a ticket's thread: the fallback
// text and the blocks. link is the ticket in TaskIP ("" for none).
func ParentMessage(s Snapshot, link string) (string, []slackapi.Block) {
	text := fmt.Sprintf("Ticket #%d: %s [%s, %s]", s.ID, mrkdwn.Escape(s.Subject), s.Status.Label(), s.Priority.Label())
	id := BlockPrefix + s.UUID
	header := slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, mrkdwn.CutText(fmt.Sprintf("#%d %s", s.ID, s.Subject), maxHeaderText, ""), false, false))
	header.BlockID = id + ":header"
	field := func(label, value string) *slackapi.TextBlockObject {
		return slackapi.NewTextBlockObject(slackapi.MarkdownType, mrkdwn.CutText("*"+label+"*\n"+value, 2000, ""), false, false)
	}
	customer := s.Customer
	if customer == "" {
		customer = "unknown"
	}
	fields := []*slackapi.TextBlockObject{
		field("Status", s.Status.Label()),
		field("Priority", s.Priority.Label()),
		field("Customer", mrkdwn.Escape(customer)),
		field("Assignee", mrkdwn.Escape(assignee(s))),
	}
	summary := slackapi.NewSectionBlock(nil, fields, nil, slackapi.SectionBlockOptionBlockID(id+":fields"))
	blocks := []slackapi.Block{header, summary}
	if link != "" {
		ctx := slackapi.NewContextBlock(id+":link",
			slackapi.NewTextBlockObject(slackapi.MarkdownType, fmt.Sprintf("<%s|Open ticket #%d in TaskIP> · uuid %s", link, s.ID, s.UUID), false, false))
		blocks = append(blocks, ctx)
	}
	blocks = append(blocks, slackapi.NewActionBlock(id+":actions",
		codeSelect(ActionSetStatus, "Set status", s.UUID, taskip.StatusNames(), int(s.Status)),
		codeSelect(ActionSetPriority, "Set priority", s.UUID, taskip.PriorityNames(), int(s.Priority)),
		slackapi.NewButtonBlockElement(ActionAssignMe, s.UUID, slackapi.NewTextBlockObject(slackapi.PlainTextType, "Assign to me", false, false)),
	))
	return text, blocks
}

// codeSelect is a menu of status or priority names; the option value is
// "<uuid>|<name>" so the click carries everything the API call needs.
func codeSelect(actionID, placeholder, uuid string, names []string, current int) *slackapi.SelectBlockElement {
	opts := make([]*slackapi.OptionBlockObject, len(names))
	for i, n := range names {
		opts[i] = slackapi.NewOptionBlockObject(uuid+"|"+n, slackapi.NewTextBlockObject(slackapi.PlainTextType, label(n), false, false), nil)
	}
	sel := slackapi.NewOptionsSelectBlockElement(slackapi.OptTypeStatic, slackapi.NewTextBlockObject(slackapi.PlainTextType, placeholder, false, false), actionID, opts...)
	if current >= 0 && current < len(opts) {
		sel.InitialOption = opts[current]
	}
	return sel
}

func label(name string) string {
	s, err := taskip.ParseStatus(name)
	if err == nil {
		return s.Label()
	}
	p, _ := taskip.ParsePriority(name)
	return p.Label()
}
