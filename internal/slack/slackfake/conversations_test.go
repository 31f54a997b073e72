package slackfake

import (
	"context"
	"fmt"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConversationsInfo(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	s.SetChannels("C1", "C2", "G1")
	s.NameChannel("C1", "support")
	info := func(id string) (*slackapi.Channel, error) {
		return client(s, DefaultToken).GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: id})
	}

	ch, err := info("C1")
	require.NoError(t, err)
	assert.Equal(t, "support", ch.Name)
	assert.True(t, ch.IsMember, "without SetMemberOf the bot is everywhere")
	assert.False(t, ch.IsPrivate)

	s.SetMemberOf("C2")
	ch, err = info("C1")
	require.NoError(t, err)
	assert.False(t, ch.IsMember)
	ch, err = info("G1")
	require.NoError(t, err)
	assert.True(t, ch.IsPrivate)
	assert.Equal(t, "g1", ch.Name)

	_, err = info("C9")
	var se slackapi.SlackErrorResponse
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "channel_not_found", se.Err)

	s.SetMissingScopes("channels:read")
	_, err = info("C1")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "missing_scope", se.Err)
	assert.Equal(t, "channels:read", se.Needed)
	assert.NotContains(t, se.Provided, "channels:read")
	_, err = info("G1")
	require.NoError(t, err, "a private channel needs groups:read, which is there")

	s.SetMissingScopes()
	_, err = info("C1")
	require.NoError(t, err)
}

func TestConversationsHistory(t *testing.T) {
	ctx := context.Background()
	s := New(t)
	api := client(s, DefaultToken)
	meta := slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventType: "ticketsync_ticket", EventPayload: map[string]any{"uuid": "u-1"}})
	var parents []string // post order
	for i := range 5 {
		_, ts, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText(fmt.Sprint("parent ", i), false), meta)
		require.NoError(t, err)
		parents = append(parents, ts)
		_, _, err = api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("reply", false), slackapi.MsgOptionTS(ts))
		require.NoError(t, err)
	}
	_, _, err := api.PostMessageContext(ctx, "C2", slackapi.MsgOptionText("elsewhere", false))
	require.NoError(t, err)
	history := func(p slackapi.GetConversationHistoryParameters) (*slackapi.GetConversationHistoryResponse, error) {
		if p.ChannelID == "" {
			p.ChannelID = "C1"
		}
		return api.GetConversationHistoryContext(ctx, &p)
	}
	tss := func(r *slackapi.GetConversationHistoryResponse) []string {
		var out []string
		for _, m := range r.Messages {
			out = append(out, m.Timestamp)
		}
		return out
	}

	t.Run("parents only, newest first, metadata on request", func(t *testing.T) {
		r, err := history(slackapi.GetConversationHistoryParameters{})
		require.NoError(t, err)
		assert.Equal(t, []string{parents[4], parents[3], parents[2], parents[1], parents[0]}, tss(r))
		assert.False(t, r.HasMore)
		assert.Empty(t, r.ResponseMetaData.NextCursor)
		assert.Empty(t, r.Messages[0].Metadata.EventType)

		r, err = history(slackapi.GetConversationHistoryParameters{IncludeAllMetadata: true})
		require.NoError(t, err)
		assert.Equal(t, "ticketsync_ticket", r.Messages[0].Metadata.EventType)
		assert.Equal(t, "u-1", r.Messages[0].Metadata.EventPayload["uuid"])
	})
	t.Run("oldest and latest are exclusive unless inclusive", func(t *testing.T) {
		r, err := history(slackapi.GetConversationHistoryParameters{Oldest: parents[1], Latest: parents[3]})
		require.NoError(t, err)
		assert.Equal(t, []string{parents[2]}, tss(r))
		r, err = history(slackapi.GetConversationHistoryParameters{Oldest: parents[1], Latest: parents[3], Inclusive: true})
		require.NoError(t, err)
		assert.Equal(t, []string{parents[3], parents[2], parents[1]}, tss(r))
		r, err = history(slackapi.GetConversationHistoryParameters{Oldest: "1700000000"})
		require.NoError(t, err)
		assert.Len(t, r.Messages, 5, "whole seconds are a ts too")
		_, err = history(slackapi.GetConversationHistoryParameters{Oldest: "yesterday"})
		assert.EqualError(t, err, "invalid_ts_oldest")
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		p := slackapi.GetConversationHistoryParameters{Limit: 2}
		for {
			r, err := history(p)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(r.Messages), 2)
			got = append(got, tss(r)...)
			assert.Equal(t, r.HasMore, r.ResponseMetaData.NextCursor != "")
			if !r.HasMore {
				break
			}
			if p.Cursor == "" {
				// A message posted meanwhile does not move the pages.
				_, _, err := api.PostMessageContext(ctx, "C1", slackapi.MsgOptionText("late", false))
				require.NoError(t, err)
			}
			p.Cursor = r.ResponseMetaData.NextCursor
		}
		assert.Equal(t, []string{parents[4], parents[3], parents[2], parents[1], parents[0]}, got)

		_, err := history(slackapi.GetConversationHistoryParameters{Cursor: "not-ours"})
		assert.EqualError(t, err, "invalid_cursor")
	})
	t.Run("errors", func(t *testing.T) {
		s.SetChannels("C1", "C2")
		defer s.locked(func() { s.channels = nil })
		_, err := history(slackapi.GetConversationHistoryParameters{ChannelID: "C9"})
		assert.EqualError(t, err, "channel_not_found")

		s.SetMissingScopes("channels:history")
		_, err = history(slackapi.GetConversationHistoryParameters{})
		var se slackapi.SlackErrorResponse
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "missing_scope", se.Err)
		assert.Equal(t, "channels:history", se.Needed)
		s.SetMissingScopes()

		s.SetMemberOf("C2")
		_, err = history(slackapi.GetConversationHistoryParameters{})
		assert.EqualError(t, err, "not_in_channel")
		s.locked(func() { s.members = nil })

		s.RateLimitNext(1, time.Second)
		_, err = history(slackapi.GetConversationHistoryParameters{})
		var rl *slackapi.RateLimitedError
		require.ErrorAs(t, err, &rl)
		s.FailNext(1, "internal_error")
		_, err = history(slackapi.GetConversationHistoryParameters{})
		assert.EqualError(t, err, "internal_error")
		_, err = history(slackapi.GetConversationHistoryParameters{})
		require.NoError(t, err)
	})
}
