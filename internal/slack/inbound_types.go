package slack

import (
	"context"
	"log/slog"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Command is one slash command invocation.
type Command struct {
	TeamID, ChannelID, UserID, UserName, Command, Text, ResponseURL, TriggerID string
}

// MessageEvent is one Events API "message" event, flattened. For
// message_changed the fields describe the message after the edit
// (Edited=true); for message_deleted TS is the deleted message's ts and
// User/BotID/ThreadTS/OurBlocks describe it as it was, Text is empty.
type MessageEvent struct {
	EventID   string // dedupe key: Slack redelivers the same event_id on retry
	EventTime int64

	TeamID, Channel, User, BotID, Subtype, Text, TS, ThreadTS string

	Files  []SharedFile
	Edited bool
	// OurBlocks: some block_id IsOwnBlockID, or the metadata is ours: an
	// echo of what ticketsync posted.
	OurBlocks   bool
	RetryNum    int // X-Slack-Retry-Num, or Socket Mode retry_attempt
	RetryReason string
}

// SharedFile is a file attached to a message. URLPrivateDownload needs the
// bot token (files:read) to fetch.
type SharedFile struct {
	ID, Name, Mimetype, URLPrivateDownload string
	Size                                   int64
}

// BlockAction is one button press or menu choice on a message.
type BlockAction struct {
	UserID, ChannelID, MessageTS, ThreadTS, ActionID, BlockID, Value string

	SelectedValue          string // static_select: the chosen option's value
	ResponseURL, TriggerID string
}

// Reply is what goes back to Slack: in a slash command's acknowledgement or
// through a response_url. The zero value acknowledges without a message.
type Reply struct {
	Text            string
	Blocks          []slackapi.Block
	Ephemeral       bool // only the invoking user sees it; else "in_channel"
	ReplaceOriginal bool // response_url only: replace the message the action came from
}

func (r Reply) empty() bool { return r.Text == "" && len(r.Blocks) == 0 }

// Handler receives what Slack sends. Each method must return within a few
// milliseconds: do the work on your own goroutine and report later through a
// Responder. A method still running after the acknowledgement deadline is
// left running, and Slack gets an empty acknowledgement. ctx carries no
// deadline tied to the acknowledgement, so it must not be used to bound work
// started from it; the bridge's own lifetime context does that.
type Handler interface {
	// HandleCommand returns the acknowledgement: e.g. "Working on it…"
	// (ephemeral) or a usage error.
	HandleCommand(ctx context.Context, c Command) Reply
	// HandleMessage sees every message event, echoes and edits included;
	// the bridge filters and dedupes on EventID.
	HandleMessage(ctx context.Context, e MessageEvent)
	HandleAction(ctx context.Context, a BlockAction)
}

// DefaultAckTimeout leaves half a second of Slack's 3 s for the network.
const DefaultAckTimeout = 2500 * time.Millisecond

// within runs f and returns its result if it ends before d. A panic in f is
// logged and treated as an empty result, so one bad request cannot take the
// daemon down (net/http would not recover a panic on this goroutine).
func within[T any](d time.Duration, log *slog.Logger, what string, f func() T) (T, bool) {
	done := make(chan T, 1) // buffered: a late f must not block forever
	go func() {
		var v T
		defer func() {
			if p := recover(); p != nil {
				log.Error("slack: handler panicked", "handler", what, "panic", p)
			}
			done <- v
		}()
		v = f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case v := <-done:
		return v, true
	case <-t.C:
		log.Warn("slack: handler did not return in time, acknowledging anyway", "handler", what, "timeout", d)
		var zero T
		return zero, false
	}
}

func commandFrom(s slackapi.SlashCommand) Command {
	return Command{TeamID: s.TeamID, ChannelID: s.ChannelID, UserID: s.UserID, UserName: s.UserName,
		Command: s.Command, Text: s.Text, ResponseURL: s.ResponseURL, TriggerID: s.TriggerID}
}

// messageFrom flattens an event_callback carrying a message event; ok is
// false for any other inner event.
func messageFrom(ev slackevents.EventsAPIEvent) (MessageEvent, bool) {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok {
		return MessageEvent{}, false
	}
	in, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent)
	if !ok {
		return MessageEvent{}, false
	}
	out := MessageEvent{EventID: cb.EventID, EventTime: int64(cb.EventTime), TeamID: cb.TeamID,
		Channel: in.Channel, Subtype: in.SubType, BotID: in.BotID}
	// slack-go puts the new message of message_changed, and the event
	// itself otherwise, into in.Message.
	msg := in.Message
	switch in.SubType {
	case "message_changed":
		out.Edited = true
	case "message_deleted":
		msg = in.PreviousMessage
		out.TS = in.DeletedTimeStamp
	}
	if msg == nil {
		msg = &slackapi.Msg{}
	}
	if out.TS == "" {
		out.TS = msg.Timestamp
		out.Text = msg.Text
	}
	out.User, out.ThreadTS = msg.User, msg.ThreadTimestamp
	if msg.BotID != "" {
		out.BotID = msg.BotID
	}
	if out.User == "" {
		out.User = in.User
	}
	out.OurBlocks = isOurs(msg)
	for _, f := range msg.Files {
		out.Files = append(out.Files, SharedFile{ID: f.ID, Name: f.Name, Mimetype: f.Mimetype,
			URLPrivateDownload: f.URLPrivateDownload, Size: int64(f.Size)})
	}
	return out, true
}

func isOurs(m *slackapi.Msg) bool {
	if _, ours := TicketUUIDFromMetadata(m.Metadata); ours {
		return true
	}
	for _, b := range m.Blocks.BlockSet {
		if b != nil && IsOwnBlockID(b.ID()) {
			return true
		}
	}
	return false
}

// actionsFrom returns one BlockAction per action of a block_actions
// interaction; other interaction types give none.
func actionsFrom(ic slackapi.InteractionCallback) []BlockAction {
	if ic.Type != slackapi.InteractionTypeBlockActions {
		return nil
	}
	channel := ic.Channel.ID
	if channel == "" {
		channel = ic.Container.ChannelID
	}
	msgTS, threadTS := ic.Container.MessageTs, ic.Container.ThreadTs
	if msgTS == "" {
		msgTS = ic.Message.Timestamp
	}
	if threadTS == "" {
		threadTS = ic.Message.ThreadTimestamp
	}
	var out []BlockAction
	for _, a := range ic.ActionCallback.BlockActions {
		if a == nil {
			continue
		}
		out = append(out, BlockAction{UserID: ic.User.ID, ChannelID: channel, MessageTS: msgTS, ThreadTS: threadTS,
			ActionID: a.ActionID, BlockID: a.BlockID, Value: a.Value, SelectedValue: a.SelectedOption.Value,
			ResponseURL: ic.ResponseURL, TriggerID: ic.TriggerID})
	}
	return out
}

// commandAck is a slash command's acknowledgement body, in the HTTP answer
// or the Socket Mode ack payload.
type commandAck struct {
	ResponseType    string           `json:"response_type"`
	Text            string           `json:"text,omitempty"`
	Blocks          []slackapi.Block `json:"blocks,omitempty"`
	ReplaceOriginal bool             `json:"replace_original,omitempty"`
}

func ackOf(r Reply) commandAck {
	t := "in_channel"
	if r.Ephemeral {
		t = "ephemeral"
	}
	return commandAck{ResponseType: t, Text: r.Text, Blocks: r.Blocks, ReplaceOriginal: r.ReplaceOriginal}
}
