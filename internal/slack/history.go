package slack

import (
	"context"
	"fmt"
	"time"

	slackapi "github.com/slack-go/slack"
)

// historyPageSize is the page size Slack recommends for conversations.history;
// larger pages are allowed but answered more slowly.
const historyPageSize = 200

// Parent is a top-level message ticketsync posted about one ticket.
type Parent struct {
	TS         string // the message ts, which is also its thread's id
	TicketUUID string
}

// ParentsSince lists the channel's top-level messages posted after oldest
// (newest first, as Slack returns them) that carry ticketsync's metadata
// naming a ticket, reading at most maxPages pages of 200 messages of
// conversations.history (fewer than one reads one). It lets the daemon find
// a ticket's thread again when its own record of it is gone.
//
// complete is false when pages were left unread, so the caller knows an
// older parent may exist. A ticket with two parents (a post repeated after
// ErrOutcomeUnknown) is listed once, with the newest: the repeat came after
// the post it repeats, and only the repeat's ts was ever handed back.
//
// The call needs the channels:history scope (groups:history for a private
// channel) and the bot in the channel; without them it fails with an
// *APIError matching ErrPermanent (missing_scope, not_in_channel). On any
// error nothing is returned, since a partial list would look like tickets
// without a thread.
func (p *Poster) ParentsSince(ctx context.Context, channel string, oldest time.Time, maxPages int) (parents []Parent, complete bool, err error) {
	const method = "conversations.history"
	params := slackapi.GetConversationHistoryParameters{
		ChannelID:          channel,
		Oldest:             slackTS(oldest),
		Limit:              historyPageSize,
		IncludeAllMetadata: true,
	}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		var resp *slackapi.GetConversationHistoryResponse
		// No channel on the call, as in ChannelInfo: a read must neither
		// wait behind nor pace the channel's writes.
		_, err := p.do(ctx, call{method: method, idempotent: true, fn: func(ctx context.Context) (string, error) {
			var err error
			resp, err = p.api.GetConversationHistoryContext(ctx, &params)
			return "", err
		}})
		if err != nil {
			return nil, false, fmt.Errorf("slack: ticket parents in %s, page %d: %w", channel, page, channelErr(err, channel))
		}
		parents = appendParents(parents, seen, resp.Messages)
		next := resp.ResponseMetaData.NextCursor
		if next == "" {
			// has_more without a cursor cannot be followed; say so
			// rather than claim the list is whole.
			return parents, !resp.HasMore, nil
		}
		if page >= maxPages {
			return parents, false, nil
		}
		params.Cursor = next
	}
}

// appendParents adds the ticket parents among msgs whose ticket is not in
// seen yet, and marks them seen.
func appendParents(parents []Parent, seen map[string]bool, msgs []slackapi.Message) []Parent {
	for _, m := range msgs {
		if m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp {
			continue // a reply also sent to the channel
		}
		uuid, ours := TicketUUIDFromMetadata(m.Metadata)
		if !ours || uuid == "" || seen[uuid] {
			continue
		}
		seen[uuid] = true
		parents = append(parents, Parent{TS: m.Timestamp, TicketUUID: uuid})
	}
	return parents
}

// slackTS writes t as a Slack ts, whole microseconds. Times before 1970
// become "0", Slack's own lower bound, rather than a negative ts Slack
// would refuse.
func slackTS(t time.Time) string {
	if t.Unix() < 0 {
		return "0"
	}
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
