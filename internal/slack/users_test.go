package slack

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

func TestUserEmail(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	fake.AddUser(slackfake.User{ID: "U1", Name: "ann", RealName: "Ann Agent", Email: "ann@example.com"})
	fake.AddUser(slackfake.User{ID: "UB", Name: "bot", RealName: "Some Bot", IsBot: true})
	p, _ := newPoster(t, fake)

	email, name, err := p.UserEmail(ctx, "U1")
	require.NoError(t, err)
	assert.Equal(t, "ann@example.com", email)
	assert.Equal(t, "Ann Agent", name)

	_, _, err = p.UserEmail(ctx, "U404")
	assert.ErrorIs(t, err, ErrPermanent)
	assert.Contains(t, err.Error(), "user_not_found")

	_, name, err = p.UserEmail(ctx, "UB")
	assert.ErrorIs(t, err, ErrPermanent, "no email: bot or missing users:read.email")
	assert.Equal(t, "Some Bot", name)

	fake.EchoAuthNext(1)
	_, _, err = p.UserEmail(ctx, "U1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), slackfake.DefaultToken)
}

func TestPostEphemeral(t *testing.T) {
	ctx := context.Background()
	web := slackfake.New(t)
	web.SetChannels("C1")
	fake := slackfake.NewInbound(t, web)
	p, _ := newPoster(t, nil, func(c *PosterConfig) { c.APIURL = fake.URL() })

	require.NoError(t, p.PostEphemeral(ctx, "C1", "U1", Message{Text: "You are not a TaskIP team member; nothing changed."}))
	got := fake.Ephemerals()
	require.Len(t, got, 1)
	assert.Equal(t, slackfake.Ephemeral{Channel: "C1", User: "U1", Text: "You are not a TaskIP team member; nothing changed."}, got[0])
	assert.Empty(t, web.Messages("C1"), "ephemeral is not a channel message")

	err := p.PostEphemeral(ctx, "C404", "U1", Message{Text: "x"})
	assert.ErrorIs(t, err, ErrPermanent)

	// Other methods still reach the Web API fake behind the Inbound one.
	_, err = p.Post(ctx, "C1", Message{Text: "hello"})
	require.NoError(t, err)
	assert.Len(t, web.Messages("C1"), 1)

	bad, _ := newPoster(t, nil, func(c *PosterConfig) { c.APIURL = fake.URL(); c.Token = "xoxb-wrong-token" })
	err = bad.PostEphemeral(ctx, "C1", "U1", Message{Text: "x"})
	assert.ErrorIs(t, err, ErrPermanent)
	assert.NotContains(t, err.Error(), "xoxb-wrong-token")
}
