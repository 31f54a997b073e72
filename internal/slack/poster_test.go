package slack

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// fakeClock is Now and Sleep for a Poster: sleeping advances the clock at
// once and records the duration, so retry and pacing waits can be asserted
// without waiting.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newPoster builds a Poster on a fake clock, without jitter, so that the
// waits it records are exactly the policy's.
func newPoster(t *testing.T, fake *slackfake.Server, mod ...func(*PosterConfig)) (*Poster, *fakeClock) {
	t.Helper()
	clock := newClock()
	cfg := PosterConfig{Token: slackfake.DefaultToken, Sleep: clock.Sleep, Now: clock.Now}
	if fake != nil {
		cfg.APIURL = fake.URL()
	}
	for _, m := range mod {
		m(&cfg)
	}
	p, err := NewPoster(cfg)
	require.NoError(t, err)
	p.jitter = func() float64 { return 0 }
	return p, clock
}

// fixedPacing restores the fixed pacing of old: burst 1, then 1 post/s.
func fixedPacing(c *PosterConfig) { c.PerChannelInterval, c.PerChannelBurst = time.Second, 1 }

func methodCalls(fake *slackfake.Server, method string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range fake.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func ticketBlocks(subject string) []slackapi.Block {
	return []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject("plain_text", subject, false, false)),
		slackapi.NewActionBlock(BlockID("actions"),
			slackapi.NewButtonBlockElement("resolve", "42", slackapi.NewTextBlockObject("plain_text", "Resolve", false, false))),
	}
}

func TestPostThreadUpdate(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, _ := newPoster(t, fake)

	bot, err := p.AuthTest(ctx)
	require.NoError(t, err)
	assert.Equal(t, slackfake.BotUserID, bot)

	parent, err := p.Post(ctx, "C1", Message{Text: "New ticket: Printer", Blocks: ticketBlocks("Printer"), TicketUUID: "uuid-1"})
	require.NoError(t, err)
	reply, err := p.PostInThread(ctx, "C1", parent, Message{Text: "Status: resolved", TicketUUID: "uuid-1"})
	require.NoError(t, err)
	require.NoError(t, p.Update(ctx, "C1", parent, Message{Text: "Printer (resolved)", Blocks: ticketBlocks("Printer (resolved)"), TicketUUID: "uuid-1"}))

	top := fake.Messages("C1")
	require.Len(t, top, 1)
	assert.Equal(t, parent, top[0].TS)
	assert.Equal(t, "Printer (resolved)", top[0].Text)
	assert.Contains(t, string(top[0].Blocks), `"Printer (resolved)"`)
	assert.Contains(t, string(top[0].Blocks), `"block_id":"tsync:actions"`)
	assert.JSONEq(t, `{"event_type":"ticketsync_ticket","event_payload":{"uuid":"uuid-1"}}`, string(top[0].Metadata))

	thread := fake.Thread("C1", parent)
	require.Len(t, thread, 1)
	assert.Equal(t, reply, thread[0].TS)
	assert.Equal(t, "Status: resolved", thread[0].Text)
	assert.Nil(t, thread[0].Blocks)
	var md slackapi.SlackMetadata
	require.NoError(t, json.Unmarshal(thread[0].Metadata, &md))
	uuid, ours := TicketUUIDFromMetadata(md)
	assert.True(t, ours)
	assert.Equal(t, "uuid-1", uuid)

	t.Run("update without blocks clears them", func(t *testing.T) {
		require.NoError(t, p.Update(ctx, "C1", parent, Message{Text: "plain"}))
		m, _ := fake.Message("C1", parent)
		assert.Equal(t, "plain", m.Text)
		assert.Nil(t, m.Blocks)
	})
	t.Run("fallback text is cut when blocks carry the content", func(t *testing.T) {
		_, err := p.Post(ctx, "C1", Message{Text: strings.Repeat("ü", 5000), Blocks: ticketBlocks("x")})
		require.NoError(t, err)
		last := fake.Messages("C1")[1]
		assert.Len(t, []rune(last.Text), MaxFallbackText)
	})
	t.Run("no metadata marker confusion", func(t *testing.T) {
		_, ours := TicketUUIDFromMetadata(slackapi.SlackMetadata{EventType: "other"})
		assert.False(t, ours)
	})
}

func TestFixedPacingWithFakeClock(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake, fixedPacing)

	parent, err := p.Post(ctx, "C1", Message{Text: "p"})
	require.NoError(t, err)
	for range 3 {
		_, err := p.PostInThread(ctx, "C1", parent, Message{Text: "r"})
		require.NoError(t, err)
	}
	_, err = p.Post(ctx, "C2", Message{Text: "other channel"})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, clock.Sleeps(),
		"one wait per follow-up write to C1, none for the first write to C2")
}

func TestRateLimitHonoured(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake)

	parent, err := p.Post(ctx, "C1", Message{Text: "p"})
	require.NoError(t, err)
	fake.RateLimitNext(2, 3*time.Second)
	_, err = p.PostInThread(ctx, "C1", parent, Message{Text: "one"})
	require.NoError(t, err)
	_, err = p.PostInThread(ctx, "C1", parent, Message{Text: "two"})
	require.NoError(t, err)

	// Retry-After twice for "one"; nothing before "two": Slack took
	// "one" and has not asked for more.
	assert.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, clock.Sleeps())
	posts := methodCalls(fake, "chat.postMessage")
	require.Len(t, posts, 5)
	assert.Equal(t, []string{"", "http_429", "http_429", "", ""}, []string{posts[0].Error, posts[1].Error, posts[2].Error, posts[3].Error, posts[4].Error})
	thread := fake.Thread("C1", parent)
	require.Len(t, thread, 2)
	assert.Equal(t, "one", thread[0].Text)
	assert.Equal(t, "two", thread[1].Text)

	t.Run("exhausted", func(t *testing.T) {
		p, _ := newPoster(t, fake, func(c *PosterConfig) { c.MaxRetries = 2 })
		fake.Reset()
		fake.RateLimitNext(10, time.Second)
		_, err := p.Post(ctx, "C1", Message{Text: "x"})
		require.ErrorIs(t, err, ErrTransient)
		assert.NotErrorIs(t, err, ErrOutcomeUnknown)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "ratelimited", apiErr.Code)
		assert.Len(t, fake.Calls(), 3, "first try and two retries")
	})
	t.Run("fixed pacing adds nothing after a longer Retry-After", func(t *testing.T) {
		fake.Reset()
		p, clock := newPoster(t, fake, fixedPacing)
		parent, err := p.Post(ctx, "C1", Message{Text: "p"})
		require.NoError(t, err)
		fake.RateLimitNext(1, 3*time.Second)
		_, err = p.PostInThread(ctx, "C1", parent, Message{Text: "one"})
		require.NoError(t, err)
		// pacing 1s before "one", then Retry-After, which already
		// outlasted the interval.
		assert.Equal(t, []time.Duration{time.Second, 3 * time.Second}, clock.Sleeps())
	})
}

// TestFixedPacingOrderAndSpacing drives a real clock, sped up: 200 thread
// replies from one goroutine must all arrive, in order, at least the
// fixed interval apart, also when Slack rate-limits in the middle.
func TestFixedPacingOrderAndSpacing(t *testing.T) {
	const speed = 40
	const interval = 80 * time.Millisecond // 2 ms of real time
	ctx := context.Background()
	fake := slackfake.New(t)
	clock := newFastClock(speed)
	var mu sync.Mutex
	var waits []time.Duration
	p, err := NewPoster(PosterConfig{
		Token: slackfake.DefaultToken, APIURL: fake.URL(), PerChannelInterval: interval, PerChannelBurst: 1,
		Now: clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if d > interval { // a Retry-After's hold, not the pacing
				mu.Lock()
				waits = append(waits, d)
				mu.Unlock()
			}
			return clock.Sleep(ctx, d)
		},
	})
	require.NoError(t, err)
	p.jitter = func() float64 { return 0 }

	parent, err := p.Post(ctx, "C1", Message{Text: "parent"})
	require.NoError(t, err)
	for i := range 200 {
		if i == 100 {
			fake.RateLimitNext(3, time.Second)
		}
		_, err := p.PostInThread(ctx, "C1", parent, Message{Text: "change " + strconv.Itoa(i)})
		require.NoError(t, err, "reply %d", i)
	}

	thread := fake.Thread("C1", parent)
	require.Len(t, thread, 200)
	for i, m := range thread {
		require.Equal(t, "change "+strconv.Itoa(i), m.Text, "order")
	}
	calls := fake.Calls()
	assert.Len(t, calls, 201+3, "every rate-limited attempt was repeated once")
	for i := 1; i < len(calls); i++ {
		gap := calls[i].At.Sub(calls[i-1].At)
		require.GreaterOrEqual(t, gap, interval/speed, "calls %d and %d arrived %s apart", i-1, i, gap)
	}
	require.Len(t, waits, 3, "one hold per 429")
	for _, d := range waits {
		// The hold is set when the 429 is read and waited out a moment
		// later on a running clock.
		assert.InDelta(t, time.Second, d, float64(50*time.Millisecond))
	}
}

func TestFixedPacingConcurrentCallersAllDelivered(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, err := NewPoster(PosterConfig{Token: slackfake.DefaultToken, APIURL: fake.URL(), PerChannelInterval: time.Millisecond, PerChannelBurst: 1})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, ch := range []string{"C1", "C2", "C3"} {
		for i := range 20 {
			wg.Go(func() {
				_, err := p.Post(ctx, ch, Message{Text: ch + " " + strconv.Itoa(i)})
				assert.NoError(t, err)
			})
		}
	}
	wg.Wait()
	for _, ch := range []string{"C1", "C2", "C3"} {
		msgs := fake.Messages(ch)
		assert.Len(t, msgs, 20)
		for i := 1; i < len(msgs); i++ {
			assert.GreaterOrEqual(t, msgs[i].At.Sub(msgs[i-1].At), time.Millisecond, "%s paced", ch)
		}
	}
}

func TestFixedPacingAllowsABurstAndLeavesUpdatesUnpaced(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake, func(c *PosterConfig) { c.PerChannelInterval = time.Second })
	parent, err := p.Post(ctx, "C1", Message{Text: "p"})
	require.NoError(t, err)
	for range 2 {
		_, err := p.PostInThread(ctx, "C1", parent, Message{Text: "r"})
		require.NoError(t, err)
	}
	for range 5 {
		require.NoError(t, p.Update(ctx, "C1", parent, Message{Text: "p2"}))
	}
	assert.Empty(t, clock.Sleeps(), "three new messages pass at once; updates are not paced")
	_, err = p.PostInThread(ctx, "C1", parent, Message{Text: "fourth"})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Second}, clock.Sleeps(), "the fourth waits for the refill")
	var texts []string
	for _, c := range fake.Calls() {
		texts = append(texts, c.Method)
	}
	assert.Equal(t, "chat.postMessage", texts[len(texts)-1], "order kept")
}
