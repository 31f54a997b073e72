package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	slackapi "github.com/slack-go/slack"
)

// Identity is who a bot token belongs to, as auth.test reports it.
type Identity struct {
	UserID, User string // the bot user, e.g. UBOT0001 and "ticketsync"
	TeamID, Team string
	BotID        string
}

// Identity calls auth.test. It is AuthTest with the names an operator
// recognises, for checking a configuration.
func (p *Poster) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	_, err := p.do(ctx, call{method: "auth.test", idempotent: true, fn: func(ctx context.Context) (string, error) {
		r, err := p.api.AuthTestContext(ctx)
		if err != nil {
			return "", err
		}
		id = Identity{UserID: r.UserID, User: r.User, TeamID: r.TeamID, Team: r.Team, BotID: r.BotID}
		return r.UserID, nil
	}})
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// ChannelInfo is what conversations.info says about a channel.
type ChannelInfo struct {
	ID, Name   string
	IsPrivate  bool
	IsArchived bool
	// IsMember: the bot is in the channel. Without it chat.postMessage
	// answers not_in_channel.
	IsMember bool
}

// ChannelInfo calls conversations.info, which needs the channels:read scope
// (groups:read for a private channel): Slack answers missing_scope, an
// *APIError with that Code, without it.
func (p *Poster) ChannelInfo(ctx context.Context, channel string) (ChannelInfo, error) {
	var info ChannelInfo
	// No channel on the call: this read must not queue behind, or pace,
	// the channel's writes.
	_, err := p.do(ctx, call{method: "conversations.info", idempotent: true, fn: func(ctx context.Context) (string, error) {
		ch, err := p.api.GetConversationInfoContext(ctx, &slackapi.GetConversationInfoInput{ChannelID: channel})
		if err != nil {
			return "", err
		}
		info = ChannelInfo{ID: ch.ID, Name: ch.Name, IsPrivate: ch.IsPrivate, IsArchived: ch.IsArchived, IsMember: ch.IsMember}
		return ch.ID, nil
	}})
	if err != nil {
		return ChannelInfo{}, channelErr(err, channel)
	}
	return info, nil
}

// channelErr adds the channel to an APIError that lacks it: the call is
// made without one so that it stays out of the channel's write lane.
func channelErr(err error, channel string) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Channel == "" {
		e := *apiErr
		e.Channel = channel
		return &e
	}
	return err
}

// CheckSocketMode calls apps.connections.open with cfg.AppToken once and
// drops the WebSocket URL it returns: the token is valid and allowed to
// open Socket Mode connections, and no connection is made, so a daemon
// already connected with the same token is not disturbed. Slack's refusals
// are *APIError; Handler and Logger are not used.
func CheckSocketMode(ctx context.Context, cfg SocketConfig) error {
	const method = "apps.connections.open"
	if strings.TrimSpace(cfg.AppToken) == "" {
		return errors.New("slack: socket mode: no app token configured")
	}
	opts := []slackapi.Option{
		slackapi.OptionAppLevelToken(cfg.AppToken),
		slackapi.OptionHTTPClient(&http.Client{Timeout: defaultTimeout}),
	}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		opts = append(opts, slackapi.OptionAPIURL(u))
	}
	_, _, err := slackapi.New(cfg.BotToken, opts...).StartSocketModeContext(ctx)
	if err == nil {
		return nil
	}
	red := redactor(cfg.AppToken)
	f := classify(method, "", err)
	if f.apiErr != nil {
		e := *f.apiErr
		e.Code = red.string(e.Code)
		e.kind = kindTransient
		if f.permanent {
			e.kind = kindPermanent
		}
		return &e
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("slack: %s: %w", method, ctxErr)
	}
	return fmt.Errorf("slack: %s: %w: %w", method, ErrTransient, red.error(err))
}
