package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/slack"
)

// defaultSlackAPI is where slack-go sends calls when slack.api_url is empty.
const defaultSlackAPI = "https://slack.com/api/"

// Slack error codes meaning the token itself is not accepted.
var refusedTokenCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "not_allowed_token_type": true,
}

func (c *checker) slack(ctx context.Context) []Result {
	s := c.cfg.Slack
	if s == nil {
		return []Result{skipped(ServiceSlack, "no slack section: Slack threads and commands are off")}
	}
	api := s.APIURL
	apiKey := "slack.api_url"
	if api == "" {
		api, apiKey = defaultSlackAPI, "network access to slack.com (slack.api_url is empty)"
	}
	where, hostPort := showURL(api)
	target := slackTarget{where: where, hostPort: hostPort, key: apiKey, timeout: c.opts.Timeout}

	results := []Result{c.timed(ctx, ServiceSlack, func(ctx context.Context) (string, error) {
		return c.slackBot(ctx, s, target)
	})}
	if s.SocketMode() {
		results = append(results, c.timed(ctx, ServiceSlack, func(ctx context.Context) (string, error) {
			err := slack.CheckSocketMode(ctx, slack.SocketConfig{AppToken: s.AppToken.Reveal(), BotToken: s.BotToken.Reveal(), APIURL: s.APIURL})
			if err != nil {
				return "", target.problem(err, "apps.connections.open", "slack.app_token",
					"must be an app-level token (xapp-) with the connections:write scope")
			}
			return "Socket Mode: apps.connections.open accepted slack.app_token (no connection opened)", nil
		}))
	}
	return results
}

// slackBot checks the bot token (auth.test) and that the bot is in its
// channel (conversations.info).
func (c *checker) slackBot(ctx context.Context, s *config.Slack, target slackTarget) (string, error) {
	poster, err := slack.NewPoster(slack.PosterConfig{
		Token: s.BotToken.Reveal(), APIURL: s.APIURL, HTTPClient: &http.Client{Timeout: c.opts.Timeout},
		// One request per call: a retried failure would spend the whole
		// timeout and still be the answer.
		MaxRetries: -1,
	})
	if err != nil {
		return "", failf("%v: check slack.bot_token", err)
	}
	id, err := poster.Identity(ctx)
	if err != nil {
		return "", target.problem(err, "auth.test", "slack.bot_token", "")
	}
	bot := "@" + id.User
	if id.User == "" {
		bot = id.UserID
	}
	ch, err := poster.ChannelInfo(ctx, s.Channel)
	if err != nil {
		return "", channelProblem(err, s.Channel, target)
	}
	name := s.Channel
	if ch.Name != "" {
		name = "#" + ch.Name + " (" + s.Channel + ")"
	}
	switch {
	case ch.IsArchived:
		return "", failf("channel %s is archived: check slack.channel", name)
	case !ch.IsMember:
		return "", failf("bot %s is not a member of %s: invite the bot: /invite %s in the channel", bot, name, bot)
	}
	team := id.Team
	if team == "" {
		team = id.TeamID
	}
	return fmt.Sprintf("auth.test: %s (%s) in %s; member of %s", bot, id.UserID, team, name), nil
}

func channelProblem(err error, channel string, target slackTarget) error {
	var apiErr *slack.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case "missing_scope":
			// Slack's own "needed" lists every conversation type's scope;
			// the channel's type is what decides.
			scope, other := "channels:read", " (groups:read for a private channel)"
			if strings.HasPrefix(channel, "G") {
				scope, other = "groups:read", ""
			}
			return failf("conversations.info answered missing_scope: add the %s bot scope%s to the Slack app and reinstall it; check-config --connect uses it to see the bot's channels", scope, other)
		case "channel_not_found":
			return failf("channel %s not found: check slack.channel (a channel id such as C0123ABC, not a name; a private channel is visible only once the bot is invited)", channel)
		}
	}
	return target.problem(err, "conversations.info", "slack.channel", "")
}

// slackTarget is the Web API a check talked to, for messages.
type slackTarget struct {
	where, hostPort, key string
	timeout              time.Duration
}

// problem phrases a failed Slack call. tokenKey is the key of the token the
// call used; tokenHint, when set, says more about a refused token.
func (t slackTarget) problem(err error, method, tokenKey, tokenHint string) error {
	var apiErr *slack.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.Code
		switch {
		case refusedTokenCodes[code]:
			if tokenHint != "" {
				return failf("Slack refused the token (%s): check %s: it %s", code, tokenKey, tokenHint)
			}
			return failf("Slack refused the token (%s): check %s", code, tokenKey)
		case code == "missing_scope":
			return failf("%s answered missing_scope: add the scope it needs to the Slack app and reinstall it (check %s)", method, tokenKey)
		case code == "ratelimited" || code == "rate_limited":
			return failf("Slack rate limited %s: try again in a minute", method)
		case apiErr.Status != http.StatusOK:
			return failf("%s%s answered HTTP %d: check %s", t.where, method, apiErr.Status, t.key)
		}
		return failf("%s answered %s: check %s", method, code, tokenKey)
	}
	if s := unreachable(err, t.hostPort, t.key, t.timeout); s != "" {
		return failf("%s", s)
	}
	if s := tlsFailure(err, t.hostPort, t.key, t.key, "https is usually port 443"); s != "" {
		return failf("%s", s)
	}
	return failf("%s failed (%s): check %s", method, cause(err), t.key)
}
