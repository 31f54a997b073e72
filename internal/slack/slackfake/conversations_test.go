package slackfake

import (
	"context"
	"testing"

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
