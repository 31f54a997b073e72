package bridge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const digestChannel = "C0DIGEST"

// digestEnv is a Digest speaking HTTP to taskipfake and slackfake, both on
// loopback, with the clock the caller gives.
type digestEnv struct {
	fake  *taskipfake.Server
	slack *slackfake.Server
	cfg   DigestConfig
}

func newDigestEnv(t *testing.T, now func() time.Time) *digestEnv {
	t.Helper()
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey, Now: now})
	client, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey})
	require.NoError(t, err)
	sf := slackfake.New(t)
	poster, err := slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: sf.URL(), PerChannelInterval: -1})
	require.NoError(t, err)
	return &digestEnv{fake: fake, slack: sf, cfg: DigestConfig{
		Analytics: client, Chat: poster, Channel: digestChannel, Schedule: "0 9 * * 1-5",
		Logger: testLogger(t), Now: now,
	}}
}

// seedWeek creates tickets around Tuesday 2024-01-16 whose figures over
// the seven days to that date are easy to count by hand.
func (e *digestEnv) seedWeek() {
	sarah := e.fake.SeedTeamMember(taskipfake.TeamMember{Name: "Sarah Johnson", Email: "sarah@company.com"})
	david := e.fake.SeedTeamMember(taskipfake.TeamMember{Name: "David Chen", Email: "david@company.com"})
	at := func(day, hour int) time.Time { return time.Date(2024, 1, day, hour, 0, 0, 0, time.UTC) }
	seed := func(subject string, status, priority, assignee int, created, resolved time.Time) {
		e.fake.SeedTicket(taskipfake.Ticket{Subject: subject, Status: status, Priority: priority, AssignedTo: assignee,
			CreatedAt: created, ResolvedAt: resolved, User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	}
	// Before the range: counted in the total only.
	seed("Invoice copy", taskipfake.StatusClosed, taskipfake.PriorityLow, 0,
		time.Date(2023, 12, 1, 9, 0, 0, 0, time.UTC), time.Date(2023, 12, 2, 9, 0, 0, 0, time.UTC))
	seed("Printer on fire", taskipfake.StatusOpen, taskipfake.PriorityNormal, 0, at(15, 9), time.Time{})
	seed("Login loop", taskipfake.StatusOpen, taskipfake.PriorityHigh, sarah.ID, at(16, 8), time.Time{})
	seed("Checkout down", taskipfake.StatusInProgress, taskipfake.PriorityUrgent, david.ID, at(14, 9), time.Time{})
	seed("Wrong VAT rate", taskipfake.StatusResolved, taskipfake.PriorityMedium, sarah.ID, at(12, 10), at(13, 10)) // 24 h
	seed("Export timeout", taskipfake.StatusClosed, taskipfake.PriorityLow, david.ID, at(11, 10), at(14, 10))      // 72 h
	seed("Waiting on logs", taskipfake.StatusPending, taskipfake.PriorityNormal, sarah.ID, at(15, 11), time.Time{})
}

func TestDigestPostsTheWeeksFigures(t *testing.T) {
	now := time.Date(2024, 1, 16, 10, 0, 0, 0, time.UTC)
	e := newDigestEnv(t, func() time.Time { return now })
	e.seedWeek()
	reg := prometheus.NewRegistry()
	e.cfg.Registerer = reg
	d, err := NewDigest(e.cfg)
	require.NoError(t, err)

	require.NoError(t, d.Post(context.Background()))

	msgs := e.slack.Messages(digestChannel)
	require.Len(t, msgs, 1)
	assert.Equal(t, "Support digest, 2024-01-10 to 2024-01-16. "+
		"Tickets: 7 in total, 6 new, 1 resolved, 1 closed. Average resolution: 2.0 days.", msgs[0].Text)
	blocks := string(msgs[0].Blocks) // JSON: a newline reads \n
	for _, want := range []string{
		"Support digest · 2024-01-10 to 2024-01-16",
		"*Tickets:* 7 in total · 6 new · 1 resolved · 1 closed",
		"*Resolution time:* 2.0 days on average · by week: 2024-W02 48 h",
		`*By status*\nOpen: 2\nIn Progress: 1\nResolved: 1\nClosed: 2\nPending: 1`,
		`*By priority*\nLow: 2\nNormal: 2\nMedium: 1\nHigh: 1\nUrgent: 1`,
		`*Top assignees*\n1. Sarah Johnson: 3 tickets, 1.0 days on average\n2. David Chen: 2 tickets, 3.0 days on average`,
	} {
		assert.Contains(t, blocks, want)
	}
	assert.Contains(t, string(msgs[0].Metadata), slack.MetadataEventType, "marked as ours like every message we post")
	assert.Equal(t, map[string]float64{"posted": 1}, digestCounts(t, reg))

	// A second digest in the same process registers nothing twice.
	_, err = NewDigest(e.cfg)
	require.NoError(t, err)
}

func TestDigestPostErrorsSayWhatFailed(t *testing.T) {
	now := time.Date(2024, 1, 16, 10, 0, 0, 0, time.UTC)
	e := newDigestEnv(t, func() time.Time { return now })
	d, err := NewDigest(e.cfg)
	require.NoError(t, err)

	e.slack.FailNext(1, "channel_not_found")
	err = d.Post(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "digest: post to "+digestChannel)
	assert.ErrorIs(t, err, slack.ErrPermanent)

	e.fake.FailNext(1, 401)
	err = d.Post(context.Background())
	require.Error(t, err)
	assert.ErrorContains(t, err, "digest: analytics 2024-01-10 to 2024-01-16")
	assert.ErrorIs(t, err, taskip.ErrUnauthorized)
	assert.Len(t, e.slack.Messages(digestChannel), 0, "nothing is posted without figures")
}

func TestNewDigestRejectsABadSchedule(t *testing.T) {
	e := newDigestEnv(t, time.Now)
	tests := []struct {
		name, schedule, want string
	}{
		{"not cron", "9am weekdays", `digest: schedule "9am weekdays" is not a cron spec such as "0 9 * * 1-5"`},
		{"six fields", "0 0 9 * * 1-5", `digest: schedule "0 0 9 * * 1-5" is not a cron spec`},
		{"out of range", "0 25 * * *", `digest: schedule "0 25 * * *" is not a cron spec`},
		{"never fires", "0 9 30 2 *", `digest: schedule "0 9 30 2 *" never fires`},
		{"empty", "", "digest: no schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.Schedule = tt.schedule
			_, err := NewDigest(cfg)
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	cfg := e.cfg
	cfg.Channel = ""
	_, err := NewDigest(cfg)
	assert.ErrorContains(t, err, "channel")
	for _, ok := range []string{"0 9 * * 1-5", "@daily", "@every 1h", "30 8 * * MON"} {
		cfg := e.cfg
		cfg.Schedule = ok
		_, err := NewDigest(cfg)
		assert.NoError(t, err, ok)
	}
}

// TestDigestRunPostsAtTheScheduledTime runs on the real clock, shifted to
// just before 09:00, over real HTTP.
func TestDigestRunPostsAtTheScheduledTime(t *testing.T) {
	nine := time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC) // a Tuesday
	started := time.Now()
	now := func() time.Time { return nine.Add(-200 * time.Millisecond).Add(time.Since(started)) }
	e := newDigestEnv(t, now)
	e.seedWeek()
	e.cfg.Schedule = "0 9 * * *"
	d, err := NewDigest(e.cfg)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "Run ends quietly on cancel")
	})

	require.Eventually(t, func() bool { return len(e.slack.Messages(digestChannel)) == 1 }, 10*time.Second, 10*time.Millisecond)
	msg := e.slack.Messages(digestChannel)[0]
	assert.Contains(t, msg.Text, "Tickets: 7 in total")
	assert.False(t, msg.At.Before(started.Add(200*time.Millisecond)), "not before 09:00 on the shifted clock")
}

// TestDigestRunFollowsTheSchedule drives Run on a fake clock: the wait
// advances the clock instead of sleeping.
func TestDigestRunFollowsTheSchedule(t *testing.T) {
	clock := time.Date(2024, 1, 12, 8, 0, 0, 0, time.UTC) // Friday
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &scriptedAnalytics{now: func() time.Time { return clock }, fail: map[int]error{0: errors.New("taskip: 503")}}
	chat := &recordingChat{now: func() time.Time { return clock }, fail: map[int]error{0: errors.New("slack: ratelimited")},
		afterPosts: 2, done: cancel}
	reg := prometheus.NewRegistry()
	d, err := NewDigest(DigestConfig{Analytics: src, Chat: chat, Channel: digestChannel, Schedule: "0 9 * * 1-5",
		Registerer: reg, Logger: testLogger(t), Now: func() time.Time { return clock }})
	require.NoError(t, err)
	d.sleep = func(ctx context.Context, dur time.Duration) error {
		if dur <= 0 || dur > digestRecheck {
			return errors.New("waits are positive and at most one recheck interval")
		}
		clock = clock.Add(dur)
		if clock.After(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) {
			return errors.New("schedule ran away")
		}
		return ctx.Err()
	}

	require.NoError(t, d.Run(ctx))

	day := func(d, h int) time.Time { return time.Date(2024, 1, d, h, 0, 0, 0, time.UTC) }
	// Friday's analytics failed and Monday's post failed: each was left to
	// the next weekday, and the weekend was skipped.
	assert.Equal(t, []time.Time{day(12, 9), day(15, 9), day(16, 9), day(17, 9)}, src.calls)
	assert.Equal(t, []time.Time{day(16, 9), day(17, 9)}, chat.posted)
	assert.Equal(t, []taskip.AnalyticsParams{
		{StartDate: "2024-01-06", EndDate: "2024-01-12"},
		{StartDate: "2024-01-09", EndDate: "2024-01-15"},
		{StartDate: "2024-01-10", EndDate: "2024-01-16"},
		{StartDate: "2024-01-11", EndDate: "2024-01-17"},
	}, src.params, "a rolling week ending on the day of the digest")
	assert.Equal(t, map[string]float64{"failed": 2, "posted": 2}, digestCounts(t, reg))
}

func TestDigestRunDoesNotFireTwiceWhenTheClockLags(t *testing.T) {
	nine := time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC)
	clock := nine.Add(-time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &scriptedAnalytics{now: func() time.Time { return clock }}
	chat := &recordingChat{now: func() time.Time { return clock }, afterPosts: 2, done: cancel}
	// Right after the first digest the wall clock reads a little before
	// 09:00 again, as it can when it is corrected backwards.
	lagged := false
	now := func() time.Time {
		if len(chat.posted) == 1 && !lagged {
			lagged = true
			return nine.Add(-100 * time.Millisecond)
		}
		return clock
	}
	d, err := NewDigest(DigestConfig{Analytics: src, Chat: chat, Channel: digestChannel, Schedule: "0 9 * * *",
		Logger: testLogger(t), Now: now})
	require.NoError(t, err)
	d.sleep = func(ctx context.Context, dur time.Duration) error {
		clock = clock.Add(dur)
		return ctx.Err()
	}
	require.NoError(t, d.Run(ctx))
	assert.True(t, lagged)
	assert.Equal(t, []time.Time{nine, nine.AddDate(0, 0, 1)}, chat.posted)
}

// digestCounts reads ticketsync_digests_total by outcome.
func digestCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ticketsync_digests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// scriptedAnalytics answers with an empty report, or the error scripted
// for the n-th call, and records when and for which range it was asked.
type scriptedAnalytics struct {
	mu     sync.Mutex
	now    func() time.Time
	fail   map[int]error
	calls  []time.Time
	params []taskip.AnalyticsParams
}

var _ AnalyticsSource = (*scriptedAnalytics)(nil)

func (s *scriptedAnalytics) Analytics(_ context.Context, p taskip.AnalyticsParams) (taskip.Analytics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.calls)
	s.calls, s.params = append(s.calls, s.now()), append(s.params, p)
	if err := s.fail[n]; err != nil {
		return taskip.Analytics{}, err
	}
	return taskip.Analytics{StartDate: p.StartDate, EndDate: p.EndDate}, nil
}

// recordingChat records when each digest was accepted, fails the n-th
// post as scripted, and calls done after afterPosts accepted posts.
type recordingChat struct {
	mu         sync.Mutex
	now        func() time.Time
	fail       map[int]error
	attempts   int
	posted     []time.Time
	afterPosts int
	done       func()
}

var _ Chat = (*recordingChat)(nil)

func (c *recordingChat) Post(_ context.Context, _ string, _ slack.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.attempts
	c.attempts++
	if err := c.fail[n]; err != nil {
		return "", err
	}
	c.posted = append(c.posted, c.now())
	if len(c.posted) == c.afterPosts {
		c.done()
	}
	return "1700000000.000100", nil
}

func (c *recordingChat) PostInThread(context.Context, string, string, slack.Message) (string, error) {
	return "", errors.New("the digest never posts in a thread")
}

func (c *recordingChat) Update(context.Context, string, string, slack.Message) error {
	return errors.New("the digest never edits a message")
}
