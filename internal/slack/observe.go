package slack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	slackapi "github.com/slack-go/slack"
)

// methodFileDownload is the method label of OpenFile's request. It is not a
// Web API method: the file is fetched from its url_private_download.
const methodFileDownload = "url_private_download"

// knownCodes are the Slack error codes that keep their own outcome label.
// Slack has hundreds of codes and adds more; any other becomes "error", so
// a new code cannot grow the metrics without bound. These are the ones an
// operator acts on differently, plus those the retry policy knows.
var knownCodes = map[string]bool{
	"account_inactive": true, "channel_not_found": true, "not_in_channel": true, "is_archived": true,
	"invalid_auth": true, "not_authed": true, "token_revoked": true, "token_expired": true,
	"missing_scope": true, "no_permission": true, "restricted_action": true,
	"invalid_blocks": true, "msg_too_long": true, "no_text": true, "invalid_metadata_format": true,
	"message_not_found": true, "thread_not_found": true, "cant_update_message": true, "edit_window_closed": true,
	"user_not_found": true, "user_not_in_channel": true,
	"service_unavailable": true, "team_added_to_org": true, "request_timeout": true,
	"internal_error": true, "fatal_error": true,
}

// requestOutcome labels how one request to Slack went: "ok", "ratelimited",
// a known Slack error code, "http_<status>", "timeout", "canceled",
// "network", or "error" for anything else. The set is bounded by design.
func requestOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	if _, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
		return "ratelimited"
	}
	if sc, ok := errors.AsType[slackapi.StatusCodeError](err); ok {
		return statusOutcome(sc.Code)
	}
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); ok {
		switch {
		case rateLimitCodes[se.Err]:
			return "ratelimited"
		case knownCodes[se.Err]:
			return se.Err
		default:
			return "error"
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "error"
}

// statusOutcome labels a non-200 answer. Only registered statuses keep
// their number, so a misbehaving proxy cannot invent new series.
func statusOutcome(code int) string {
	switch {
	case code == http.StatusOK:
		return "ok"
	case code == http.StatusTooManyRequests:
		return "ratelimited"
	case http.StatusText(code) != "":
		return "http_" + strconv.Itoa(code)
	default:
		return "error"
	}
}

// callOutcome labels a whole call after its retries by what the caller has
// to do about it, mirroring the three error classes.
func callOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil:
		return "canceled"
	case errors.Is(err, ErrPermanent):
		return "permanent"
	case errors.Is(err, ErrOutcomeUnknown):
		return "unknown"
	default:
		return "transient"
	}
}

func (p *Poster) observe(method, outcome string, start time.Time) {
	if p.observeFn != nil {
		p.observeFn(method, outcome, time.Since(start))
	}
}
