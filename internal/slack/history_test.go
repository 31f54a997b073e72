package slack

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// tsTime reads a ts the fake assigned back into the time it stands for.
func tsTime(t *testing.T, ts string) time.Time {
	t.Helper()
	sec, frac, found := strings.Cut(ts, ".")
	require.True(t, found, ts)
	s, err := strconv.ParseInt(sec, 10, 64)
	require.NoError(t, err)
	us, err := strconv.ParseInt(frac, 10, 64)
	require.NoError(t, err)
	return time.Unix(s, us*1000)
}

func historyPoster(t *testing.T, fake *slackfake.Server) *Poster {
	t.Helper()
	p, err := NewPoster(PosterConfig{Token: slackfake.DefaultToken, APIURL: fake.URL(), PerChannelInterval: -1})
	require.NoError(t, err)
	return p
}

func post(t *testing.T, p *Poster, m Message) string {
	t.Helper()
	ts, err := p.Post(context.Background(), "C1", m)
	require.NoError(t, err)
	return ts
}

func TestParentsSinceFindsTicketParents(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p := historyPoster(t, fake)

	before := post(t, p, Message{Text: "old ticket", TicketUUID: "u-old"})
	oldest := tsTime(t, before)
	a := post(t, p, Message{Text: "ticket a", TicketUUID: "u-a"})
	_, err := p.PostInThread(ctx, "C1", a, Message{Text: "reply", TicketUUID: "u-reply-only"})
	require.NoError(t, err)
	post(t, p, Message{Text: "marked, about no ticket"})
	_, _, err = p.api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("a person wrote this", false))
	require.NoError(t, err)
	b := post(t, p, Message{Text: "ticket b", TicketUUID: "u-b"})
	aAgain := post(t, p, Message{Text: "ticket a, posted again", TicketUUID: "u-a"})

	parents, complete, err := p.ParentsSince(ctx, "C1", oldest, 5)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, []Parent{{TS: aAgain, TicketUUID: "u-a"}, {TS: b, TicketUUID: "u-b"}}, parents,
		"newest first, the newest parent of a ticket, no replies, no message at or before oldest")

	all, complete, err := p.ParentsSince(ctx, "C1", time.Time{}, 1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, []Parent{{TS: aAgain, TicketUUID: "u-a"}, {TS: b, TicketUUID: "u-b"}, {TS: before, TicketUUID: "u-old"}}, all)

	none, complete, err := p.ParentsSince(ctx, "C1", tsTime(t, aAgain), 1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Empty(t, none)

	calls := methodCalls(fake, "conversations.history")
	assert.Len(t, calls, 3)
	for _, c := range calls {
		assert.Equal(t, "C1", c.Channel)
	}
}

func TestParentsSincePages(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p := historyPoster(t, fake)
	const n = 2*historyPageSize + 50
	var want []Parent
	for i := range n {
		uuid := fmt.Sprintf("u-%03d", i)
		want = append(want, Parent{TS: post(t, p, Message{Text: uuid, TicketUUID: uuid}), TicketUUID: uuid})
	}
	// Slack lists newest first.
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}

	got, complete, err := p.ParentsSince(ctx, "C1", time.Time{}, 2)
	require.NoError(t, err)
	assert.False(t, complete, "a third page is left")
	assert.Equal(t, want[:2*historyPageSize], got)
	assert.Len(t, methodCalls(fake, "conversations.history"), 2)

	got, complete, err = p.ParentsSince(ctx, "C1", time.Time{}, 3)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, want, got)

	got, complete, err = p.ParentsSince(ctx, "C1", time.Time{}, 0)
	require.NoError(t, err)
	assert.False(t, complete)
	assert.Len(t, got, historyPageSize, "fewer than one page reads one")
}

func TestParentsSinceRetriesRateLimit(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, rec := newObservedPoster(t, fake)
	ts := post(t, p, Message{Text: "ticket", TicketUUID: "u-1"})

	fake.RateLimitNext(1, 2*time.Second)
	parents, complete, err := p.ParentsSince(ctx, "C1", time.Time{}, 1)
	require.NoError(t, err)
	assert.True(t, complete)
	assert.Equal(t, []Parent{{TS: ts, TicketUUID: "u-1"}}, parents)

	events, _, calls := rec.snapshot()
	// The only wait is Retry-After: a read is not paced like a post.
	assert.Equal(t, []string{"chat.postMessage ok", "conversations.history ratelimited", "sleep", "conversations.history ok"}, events)
	assert.Equal(t, []string{"chat.postMessage ok", "conversations.history ok"}, calls)

	t.Run("transient", func(t *testing.T) {
		fake.Fail5xxNext(1)
		parents, _, err := p.ParentsSince(ctx, "C1", time.Time{}, 1)
		require.NoError(t, err, "a read is repeated after a 5xx")
		assert.Len(t, parents, 1)
	})
}

func TestParentsSincePermanentErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, code string
		setup      func(*slackfake.Server)
	}{
		{"missing scope", "missing_scope", func(f *slackfake.Server) { f.SetMissingScopes("channels:history") }},
		{"not in channel", "not_in_channel", func(f *slackfake.Server) { f.SetMemberOf("C2") }},
		{"unknown channel", "channel_not_found", func(f *slackfake.Server) { f.SetChannels("C2") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := slackfake.New(t)
			p, clock := newPoster(t, fake)
			tc.setup(fake)
			parents, complete, err := p.ParentsSince(ctx, "C1", time.Time{}, 3)
			require.ErrorIs(t, err, ErrPermanent)
			assert.NotErrorIs(t, err, ErrTransient)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, APIError{Method: "conversations.history", Channel: "C1", Code: tc.code, Status: 200, kind: kindPermanent}, *apiErr)
			assert.Nil(t, parents)
			assert.False(t, complete)
			assert.Len(t, fake.Calls(), 1, "not retried")
			assert.Empty(t, clock.Sleeps())
		})
	}
	t.Run("on a later page nothing is returned", func(t *testing.T) {
		fake := slackfake.New(t)
		var failed bool
		p, _ := newPoster(t, fake, func(c *PosterConfig) {
			c.PerChannelInterval = -1
			c.Finished = func(method, _ string) {
				// The first page has just been answered: fail the second.
				if method == "conversations.history" && !failed {
					failed = true
					fake.FailNext(1, "not_in_channel")
				}
			}
		})
		for i := range historyPageSize + 1 {
			post(t, p, Message{Text: "t", TicketUUID: fmt.Sprint(i)})
		}
		parents, complete, err := p.ParentsSince(ctx, "C1", time.Time{}, 3)
		require.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "page 2")
		assert.Nil(t, parents)
		assert.False(t, complete)
	})
}

// The fake cannot post a reply to the channel as well, so what Slack lists
// then is built here.
func TestAppendParentsSkipsBroadcastReplies(t *testing.T) {
	msg := func(ts, threadTS, eventType, uuid string) slackapi.Message {
		var m slackapi.Message
		m.Timestamp, m.ThreadTimestamp = ts, threadTS
		m.Metadata = slackapi.SlackMetadata{EventType: eventType, EventPayload: map[string]any{"uuid": uuid}}
		return m
	}
	seen := map[string]bool{"u-seen": true}
	got := appendParents(nil, seen, []slackapi.Message{
		msg("5.0", "1.0", MetadataEventType, "u-broadcast"),
		msg("4.0", "4.0", MetadataEventType, "u-a"), // a parent with replies
		msg("3.0", "", "other_app_event", "u-other"),
		msg("2.0", "", MetadataEventType, "u-seen"),
		msg("1.5", "", MetadataEventType, ""),
		msg("1.0", "", MetadataEventType, "u-b"),
	})
	assert.Equal(t, []Parent{{TS: "4.0", TicketUUID: "u-a"}, {TS: "1.0", TicketUUID: "u-b"}}, got)
	assert.Equal(t, map[string]bool{"u-seen": true, "u-a": true, "u-b": true}, seen)
}

func TestSlackTS(t *testing.T) {
	assert.Equal(t, "1700000000.000100", slackTS(time.Unix(1700000000, 100_999)))
	assert.Equal(t, "0", slackTS(time.Time{}))
	assert.Equal(t, "0.000000", slackTS(time.Unix(0, 0)))
}
