// Package slack is ticketsync's Slack adapter: it posts ticket threads
// (Poster) and will handle Slack's commands, events and actions.
//
// Poster delivery guarantee: writes of one method to one channel are
// serialised, new messages (Post, PostInThread) in one lane and updates
// (Update) in another. Calls made sequentially by one goroutine reach Slack
// in that order, whatever their method, which is how the bridge uses it;
// calls that wait concurrently for the same method and channel are served
// first come, first served.
//
// Pacing follows Slack's answers: a write goes out at once unless Slack has
// asked to wait. A 429 holds that method and channel for the Retry-After
// Slack gave; the refused call keeps its place and is retried when the hold
// ends (a 429 means Slack did not take it, so it is never posted twice),
// later calls for that method and channel wait behind it, and other
// channels and methods go on.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"github.com/ticketsync/ticketsync/internal/retry"
)

// MetadataEventType marks every message ticketsync posts, so the inbound side
// can drop its own echoes and find a ticket's thread again.
const MetadataEventType = "ticketsync_ticket"

// Message is one Slack message as ticketsync sends it.
type Message struct {
	// Text is the notification and fallback text, already mrkdwn-escaped
	// (see Escape). The Poster cuts it to MaxFallbackText when Blocks are
	// set and to MaxMessageText otherwise.
	Text string
	// Blocks is the Block Kit layout; nil posts Text alone. At most MaxBlocks.
	Blocks []slackapi.Block
	// TicketUUID goes into the message metadata
	// {event_type: MetadataEventType, event_payload: {"uuid": ...}}.
	TicketUUID string
}

// PosterConfig configures a Poster. Zero values pick the documented defaults.
type PosterConfig struct {
	Token      string // bot token (xoxb-...); never logged or put in an error
	APIURL     string // slack-go OptionAPIURL; "" is Slack itself
	HTTPClient *http.Client
	// PerChannelInterval, when positive, adds pacing of our own to new
	// messages (chat.postMessage) in one channel: PerChannelBurst at once,
	// then one per interval, whether or not Slack would have taken more.
	// 0 (the default) and negative leave the pacing to Slack: posts go
	// out at once and wait only when a 429 asked them to. Kept as a
	// safety should a workspace or proxy limit posts without answering
	// 429, and as the old fixed pacing to compare against (1s with the
	// default burst).
	PerChannelInterval time.Duration
	// PerChannelBurst is the burst of PerChannelInterval's pacing. 0
	// means 3.
	PerChannelBurst int
	// MaxRetries bounds the retries of one call, 429s included: with
	// each method and channel held for the Retry-After Slack asked for,
	// a call normally meets one 429 at most. 0 means 5; negative none.
	MaxRetries int
	// Sleep waits for d or until ctx ends; tests inject it with Now.
	Sleep  func(ctx context.Context, d time.Duration) error
	Now    func() time.Time
	Logger *slog.Logger
	// Observe, when set, is called after every HTTP request to Slack, each
	// retry included, with the Web API method (or "url_private_download"
	// for OpenFile), a bounded outcome label ("ok", "ratelimited", a known
	// Slack error code, "http_<status>", "timeout", "canceled", "network",
	// "error") and the time the request took. Waits for pacing and
	// Retry-After are not in it: they are Slack's limits, not its latency.
	// The count of "ratelimited" is the count of 429s (and of
	// {"error":"ratelimited"} answers) Slack sent.
	// Like Finished, it is called from the callers' goroutines, so
	// possibly from several at once.
	Observe func(method, outcome string, d time.Duration)
	// Finished, when set, is called once per Web API call after its
	// retries, with the method and "ok", "permanent", "transient",
	// "unknown" (see the errors of the same names) or "canceled". Retries
	// are in Observe; this counts what the caller was left with.
	Finished func(method, outcome string)

	// MaxFileBytes bounds one OpenFile download; a larger file fails with
	// ErrFileTooLarge. 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
}

const (
	defaultBurst      = 3
	defaultMaxRetries = 5
	defaultRetryAfter = time.Second // 429 without a usable Retry-After
	maxHold           = time.Minute // longest hold believed from one Retry-After
	defaultTimeout    = 30 * time.Second
	backoffBase       = 500 * time.Millisecond
	backoffCap        = 30 * time.Second
)

// Poster writes ticket threads to Slack. It is safe for concurrent use.
type Poster struct {
	api        *slackapi.Client
	interval   time.Duration
	maxRetries int
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
	log        *slog.Logger
	redact     redactor
	lanes      lanes
	token      string
	burst      float64
	jitter     func() float64 // [0, 1) for holdFor; tests fix it
	observeFn  func(method, outcome string, d time.Duration)
	finishedFn func(method, outcome string)

	// OpenFile's own client and limits (see files.go).
	files        *http.Client
	apiOrigin    *url.URL // nil when APIURL does not parse
	maxFileBytes int64
}

// NewPoster checks cfg and builds a Poster. It makes no network call; use
// AuthTest to verify the token.
func NewPoster(cfg PosterConfig) (*Poster, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("slack: no bot token configured")
	}
	p := &Poster{
		burst:      float64(cfg.PerChannelBurst),
		interval:   cfg.PerChannelInterval,
		maxRetries: cfg.MaxRetries,
		sleep:      cfg.Sleep,
		now:        cfg.Now,
		log:        cfg.Logger,
		redact:     redactor(cfg.Token),
		jitter:     rand.Float64,
		observeFn:  cfg.Observe,
		finishedFn: cfg.Finished,
	}
	if p.interval < 0 {
		p.interval = 0
	}
	if p.burst <= 0 {
		p.burst = defaultBurst
	}
	switch {
	case p.maxRetries == 0:
		p.maxRetries = defaultMaxRetries
	case p.maxRetries < 0:
		p.maxRetries = 0
	}
	if p.sleep == nil {
		p.sleep = retry.Sleep
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	hc := &http.Client{Timeout: defaultTimeout}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient // the caller's client is not ours to change
		hc = &copied
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = retryAfterSeconds{next: next}
	opts := []slackapi.Option{slackapi.OptionHTTPClient(hc)}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/" // slack-go appends the method name directly
		}
		opts = append(opts, slackapi.OptionAPIURL(u))
	}
	// slack-go's own retries stay off: it would retry a postMessage after a
	// 5xx, and its sleeps could not be observed or ordered per channel.
	p.api = slackapi.New(cfg.Token, opts...)
	p.token = cfg.Token
	p.files, p.apiOrigin, p.maxFileBytes = fileClient(hc), apiOriginOf(cfg.APIURL), cfg.MaxFileBytes
	if p.maxFileBytes <= 0 {
		p.maxFileBytes = DefaultMaxFileBytes
	}
	return p, nil
}

// Post starts a ticket thread with chat.postMessage and returns the message
// ts, which is the thread's id. Not idempotent: see ErrOutcomeUnknown.
func (p *Poster) Post(ctx context.Context, channel string, m Message) (string, error) {
	return p.post(ctx, channel, "", m)
}

// PostInThread replies in the thread started by threadTS. Not idempotent.
func (p *Poster) PostInThread(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	if threadTS == "" {
		return "", fmt.Errorf("slack: chat.postMessage in %s: empty thread ts: %w", channel, ErrPermanent)
	}
	return p.post(ctx, channel, threadTS, m)
}

func (p *Poster) post(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	const method = "chat.postMessage"
	opts, err := p.options(method, channel, m)
	if err != nil {
		return "", err
	}
	// A ticket link in every thread reply would unfurl into a card each time.
	opts = append(opts, slackapi.MsgOptionDisableLinkUnfurl(), slackapi.MsgOptionDisableMediaUnfurl())
	if threadTS != "" {
		opts = append(opts, slackapi.MsgOptionTS(threadTS))
	}
	return p.do(ctx, call{method: method, channel: channel, fn: func(ctx context.Context) (string, error) {
		_, ts, err := p.api.PostMessageContext(ctx, channel, opts...)
		return ts, err
	}})
}

// Update replaces the message channel/ts with m (chat.update). Nil Blocks
// clears the blocks rather than keeping the old ones, so the message always
// shows exactly m. Idempotent, so it is retried on 5xx and network errors.
func (p *Poster) Update(ctx context.Context, channel, ts string, m Message) error {
	const method = "chat.update"
	opts, err := p.options(method, channel, m)
	if err != nil {
		return err
	}
	if len(m.Blocks) == 0 {
		opts = append(opts, slackapi.MsgOptionBlocks())
	}
	_, err = p.do(ctx, call{method: method, channel: channel, idempotent: true, fn: func(ctx context.Context) (string, error) {
		_, _, _, err := p.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return "", err
	}})
	return err
}

// AuthTest calls auth.test and returns the bot's own user id, which the
// inbound side needs to recognise its own messages.
func (p *Poster) AuthTest(ctx context.Context) (string, error) {
	return p.do(ctx, call{method: "auth.test", idempotent: true, fn: func(ctx context.Context) (string, error) {
		r, err := p.api.AuthTestContext(ctx)
		if err != nil {
			return "", err
		}
		return r.UserID, nil
	}})
}

func (p *Poster) options(method, channel string, m Message) ([]slackapi.MsgOption, error) {
	if len(m.Blocks) > MaxBlocks {
		return nil, fmt.Errorf("slack: %s in %s: %d blocks, Slack allows %d: %w",
			method, channel, len(m.Blocks), MaxBlocks, ErrPermanent)
	}
	limit := MaxMessageText
	if len(m.Blocks) > 0 {
		limit = MaxFallbackText
	}
	payload := map[string]any{}
	if m.TicketUUID != "" {
		payload["uuid"] = m.TicketUUID
	}
	opts := []slackapi.MsgOption{
		slackapi.MsgOptionText(mrkdwn.CutText(m.Text, limit, ""), false),
		slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventType: MetadataEventType, EventPayload: payload}),
	}
	if len(m.Blocks) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(m.Blocks...))
	}
	return opts, nil
}

// TicketUUIDFromMetadata reports whether md is ticketsync's marker and, if
// so, which ticket it names ("" for a marked message about no one ticket).
func TicketUUIDFromMetadata(md slackapi.SlackMetadata) (uuid string, ours bool) {
	if md.EventType != MetadataEventType {
		return "", false
	}
	uuid, _ = md.EventPayload["uuid"].(string)
	return uuid, true
}

// backoff is the wait after failed attempt number attempt (0 for the
// first).
func backoff(attempt int) time.Duration {
	return retry.Delay(backoffBase, backoffCap, attempt+1, rand.Float64())
}
