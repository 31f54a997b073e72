package slack

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
)

// fastClock is the real clock run speed times faster: Now moves speed
// times as fast as real time and Sleep waits 1/speed of what it is asked.
// Slack's Retry-After is whole seconds; with this clock the Poster's one
// second meets a slackfake bucket refilling every 1/speed s in real time,
// and a test of 60 posts at "one a second" takes a second or two.
type fastClock struct {
	start time.Time
	speed time.Duration
}

func newFastClock(speed int) *fastClock {
	return &fastClock{start: time.Now(), speed: time.Duration(speed)}
}

func (c *fastClock) Now() time.Time { return c.start.Add(time.Since(c.start) * c.speed) }

// Sleep rounds up, so that Now has passed the end of a wait when it returns.
func (c *fastClock) Sleep(ctx context.Context, d time.Duration) error {
	return retry.Sleep(ctx, (d+c.speed-1)/c.speed)
}

func TestPostsGoOutAtOnceWhileSlackAccepts(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake)
	parent, err := p.Post(ctx, "C1", Message{Text: "p"})
	require.NoError(t, err)
	for i := range 50 {
		_, err := p.PostInThread(ctx, "C1", parent, Message{Text: fmt.Sprint("r", i)})
		require.NoError(t, err)
		require.NoError(t, p.Update(ctx, "C1", parent, Message{Text: fmt.Sprint("p", i)}))
	}
	assert.Empty(t, clock.Sleeps(), "no wait Slack did not ask for")
	assert.Len(t, fake.Thread("C1", parent), 50)
}

// TestRateLimitHoldsOnlyThatMethodAndChannel: while a post to C1 waits out
// its 429, a post to C2 and an update in C1 go out at once, and a later
// post to C1 waits behind the held one without a request of its own.
func TestRateLimitHoldsOnlyThatMethodAndChannel(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	fake.SetRateLimit("chat.postMessage", 1, time.Hour)
	clock := newClock()
	held := make(chan time.Duration, 1)
	release := make(chan struct{})
	p, _ := newPoster(t, fake, func(c *PosterConfig) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			held <- d
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return clock.Sleep(ctx, d)
		}
		c.Now = clock.Now
	})

	first, err := p.Post(ctx, "C1", Message{Text: "first"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := p.Post(ctx, "C1", Message{Text: "second"})
		assert.NoError(t, err)
	})
	assert.Equal(t, maxHold, <-held, "Retry-After: 3600 is cut to the longest hold believed")

	wg.Go(func() {
		_, err := p.Post(ctx, "C1", Message{Text: "third"})
		assert.NoError(t, err)
	})
	waitQueued(t, p.lanes.get(laneKey{"chat.postMessage", "C1"}), 1)

	_, err = p.Post(ctx, "C2", Message{Text: "other channel"})
	require.NoError(t, err, "C2 is not held")
	require.NoError(t, p.Update(ctx, "C1", first, Message{Text: "first, updated"}), "chat.update is not held")

	fake.SetRateLimit("chat.postMessage", 0, 0) // the limit refills
	close(release)
	wg.Wait()

	var posts []string
	for _, c := range methodCalls(fake, "chat.postMessage") {
		if c.Channel == "C1" {
			posts = append(posts, c.Text+" "+c.Error)
		}
	}
	assert.Equal(t, []string{"first ", "second http_429", "second ", "third "}, posts,
		"third was not sent while C1 was held, and was sent after second")
	assert.Equal(t, 1, fake.RateLimited())
	var texts []string
	for _, m := range fake.Messages("C1") {
		texts = append(texts, m.Text)
	}
	assert.Equal(t, []string{"first, updated", "second", "third"}, texts)
}

// TestHoldOutlivesTheCallThatGaveUp: the hold is the method and channel's,
// so the next call waits out what is left of it rather than collect a 429.
func TestHoldOutlivesTheCallThatGaveUp(t *testing.T) {
	ctx := context.Background()
	fake := slackfake.New(t)
	p, clock := newPoster(t, fake, func(c *PosterConfig) { c.MaxRetries = -1 })
	fake.RateLimitNext(1, 5*time.Second)
	_, err := p.Post(ctx, "C1", Message{Text: "refused"})
	require.ErrorIs(t, err, ErrTransient)
	assert.Empty(t, clock.Sleeps(), "no retries: nothing waited")

	_, err = p.Post(ctx, "C1", Message{Text: "next"})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{5 * time.Second}, clock.Sleeps())
	assert.Equal(t, 1, fake.RateLimited(), "the next call was not refused")

	t.Run("updates are held under their own key", func(t *testing.T) {
		parent, err := p.Post(ctx, "C3", Message{Text: "parent"})
		require.NoError(t, err)
		fake.RateLimitNext(1, 3*time.Second)
		require.ErrorIs(t, p.Update(ctx, "C3", parent, Message{Text: "refused"}), ErrTransient)
		_, err = p.PostInThread(ctx, "C3", parent, Message{Text: "a reply is not held by an update's 429"})
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{5 * time.Second}, clock.Sleeps())
		require.NoError(t, p.Update(ctx, "C3", parent, Message{Text: "updated"}))
		assert.Equal(t, []time.Duration{5 * time.Second, 3 * time.Second}, clock.Sleeps())
	})
	t.Run("reads share their method's hold", func(t *testing.T) {
		fake.RateLimitNext(1, 2*time.Second)
		_, _, err := p.ParentsSince(ctx, "C1", time.Time{}, 1)
		require.ErrorIs(t, err, ErrTransient)
		_, _, err = p.ParentsSince(ctx, "C2", time.Time{}, 1)
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{5 * time.Second, 3 * time.Second, 2 * time.Second}, clock.Sleeps())
	})
}

func TestHoldIsRetryAfterPlusSmallJitter(t *testing.T) {
	p, _ := newPoster(t, nil)
	for _, j := range []float64{0, 0.5, 0.999} {
		p.jitter = func() float64 { return j }
		for _, tc := range []struct{ retryAfter, least time.Duration }{
			{time.Second, time.Second},
			{0, defaultRetryAfter},
			{30 * time.Second, 30 * time.Second},
			{2 * time.Hour, maxHold},
		} {
			got := p.holdFor(tc.retryAfter)
			assert.GreaterOrEqual(t, got, tc.least, "never less than asked (jitter %v)", j)
			assert.LessOrEqual(t, got, tc.least+tc.least/20, "at most 5 %% more (jitter %v)", j)
		}
	}
}

// TestLimitedSlackGetsEveryPostOnceInOrder runs tickets against slackfake's
// limiter as one writer (the watch) does, with a second writer on another
// channel: every parent and reply arrives once, in order, replies after
// their parent, and no request is refused twice, so the 429s are at most
// the waits the limit makes necessary. The limit refills every 25 ms and
// the Poster's clock runs 40 times fast, so "one a second" takes 25 ms.
func TestLimitedSlackGetsEveryPostOnceInOrder(t *testing.T) {
	const (
		tickets = 60
		replies = 3 // to every fifth ticket, then an update of its parent
		others  = 20
		speed   = 40
		every   = time.Second / speed
	)
	for _, mode := range []struct {
		name  string
		burst int
	}{{"generous", 50}, {"strict", 1}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			fake := slackfake.New(t)
			fake.SetRateLimit("chat.postMessage", mode.burst, every)
			fake.SetRateLimit("chat.update", mode.burst, every)
			clock := newFastClock(speed)
			var mu sync.Mutex
			observed429 := 0
			p, err := NewPoster(PosterConfig{Token: slackfake.DefaultToken, APIURL: fake.URL(), Now: clock.Now, Sleep: clock.Sleep,
				Observe: func(_, outcome string, _ time.Duration) {
					if outcome == "ratelimited" {
						mu.Lock()
						observed429++
						mu.Unlock()
					}
				}})
			require.NoError(t, err)

			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range others {
					_, err := p.Post(ctx, "C2", Message{Text: fmt.Sprintf("other %02d", i)})
					assert.NoError(t, err)
				}
			})
			parents := make([]string, tickets)
			var posts, updates int
			for i := range tickets {
				ts, err := p.Post(ctx, "C1", Message{Text: fmt.Sprintf("ticket %02d", i)})
				require.NoError(t, err, "ticket %d", i)
				parents[i] = ts
				posts++
				if i%5 != 0 {
					continue
				}
				for r := range replies {
					_, err := p.PostInThread(ctx, "C1", ts, Message{Text: fmt.Sprintf("ticket %02d change %d", i, r)})
					require.NoError(t, err)
					posts++
				}
				require.NoError(t, p.Update(ctx, "C1", ts, Message{Text: fmt.Sprintf("ticket %02d (3 changes)", i)}))
				updates++
			}
			wg.Wait()

			top := fake.Messages("C1")
			require.Len(t, top, tickets, "exactly one parent per ticket")
			for i, m := range top {
				want := fmt.Sprintf("ticket %02d", i)
				if i%5 == 0 {
					want += " (3 changes)"
				}
				assert.Equal(t, want, m.Text, "parents in submission order")
				assert.Equal(t, parents[i], m.TS)
				thread := fake.Thread("C1", m.TS)
				if i%5 != 0 {
					assert.Empty(t, thread)
					continue
				}
				require.Len(t, thread, replies)
				for r, reply := range thread {
					assert.Equal(t, fmt.Sprintf("ticket %02d change %d", i, r), reply.Text, "replies in order")
					assert.Greater(t, reply.TS, m.TS, "reply after its parent")
				}
			}
			other := fake.Messages("C2")
			require.Len(t, other, others)
			for i, m := range other {
				assert.Equal(t, fmt.Sprintf("other %02d", i), m.Text)
			}

			refusedPerRequest := map[string]int{}
			for _, c := range fake.Calls() {
				if c.Error == "http_429" {
					refusedPerRequest[c.Method+" "+c.Channel+" "+c.Text]++
				}
			}
			for req, n := range refusedPerRequest {
				assert.Equal(t, 1, n, "%s was refused again after waiting what Slack asked", req)
			}
			needed := max(0, posts-mode.burst) + max(0, others-mode.burst) + max(0, updates-mode.burst)
			assert.LessOrEqual(t, fake.RateLimited(), needed, "429s beyond the waits the limit needs")
			if mode.burst == 1 {
				assert.Positive(t, fake.RateLimited(), "the strict limit was met")
			}
			mu.Lock()
			assert.Equal(t, fake.RateLimited(), observed429, "every 429 reaches the metrics hook")
			mu.Unlock()
			t.Logf("%s: %d posts, %d updates, %d other posts; %d 429s (at most %d)", mode.name, posts, updates, others, fake.RateLimited(), needed)
		})
	}
}
