package slack

import (
	"context"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
)

// UserEmail returns a workspace member's email and real name (users.info;
// the email needs the users:read.email scope). An unknown user matches
// ErrPermanent, and so does a user without an email: a bot, or an app that
// lacks the scope, which only an operator can fix.
func (p *Poster) UserEmail(ctx context.Context, userID string) (email, realName string, err error) {
	var u *slackapi.User
	_, err = p.do(ctx, call{method: "users.info", idempotent: true, fn: func(ctx context.Context) (string, error) {
		var err error
		u, err = p.api.GetUserInfoContext(ctx, userID)
		return "", err
	}})
	if err != nil {
		return "", "", fmt.Errorf("slack: user %s: %w", userID, err)
	}
	realName = u.RealName
	if realName == "" {
		realName = u.Profile.RealName
	}
	if u.Profile.Email == "" {
		return "", realName, fmt.Errorf("slack: users.info %s: no email (a bot, or the app lacks users:read.email): %w", userID, ErrPermanent)
	}
	return u.Profile.Email, realName, nil
}

// PostEphemeral shows m to user in channel only (chat.postEphemeral). It is
// not paced with the channel's thread writes, so a refusal reaches the agent
// at once, and it is retried after a 5xx: a duplicate ephemeral notice is
// seen by one person and vanishes, a lost one leaves them guessing. Slack
// does not deliver it when the user is not in the channel
// (user_not_in_channel, ErrPermanent).
func (p *Poster) PostEphemeral(ctx context.Context, channel, user string, m Message) error {
	const method = "chat.postEphemeral"
	if len(m.Blocks) > MaxBlocks {
		return fmt.Errorf("slack: %s in %s: %d blocks, Slack allows %d: %w", method, channel, len(m.Blocks), MaxBlocks, ErrPermanent)
	}
	limit := MaxMessageText
	if len(m.Blocks) > 0 {
		limit = MaxFallbackText
	}
	// No metadata: ephemeral messages raise no events, so there is no
	// echo to mark.
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(mrkdwn.CutText(m.Text, limit, ""), false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(m.Blocks...))
	}
	_, err := p.do(ctx, call{method: method, idempotent: true, fn: func(ctx context.Context) (string, error) {
		return p.api.PostEphemeralContext(ctx, channel, user, opts...)
	}})
	if err != nil {
		return fmt.Errorf("slack: ephemeral to %s in %s: %w", user, channel, err)
	}
	return nil
}
