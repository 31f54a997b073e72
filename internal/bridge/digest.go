package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// AnalyticsSource is where the digest's figures come from (taskip.Client).
type AnalyticsSource interface {
	// Analytics returns the ticket statistics of the range in p. It only
	// reads, so calling it again is harmless.
	Analytics(ctx context.Context, p taskip.AnalyticsParams) (taskip.Analytics, error)
}

// DigestConfig configures the daily digest.
type DigestConfig struct {
	Analytics AnalyticsSource
	// Chat is the same Slack side the watch posts threads with; the digest
	// only starts new messages.
	Chat     Chat
	Channel  string
	Schedule string // cron spec, e.g. "0 9 * * 1-5"
	// Days is the length of the reported range, which ends today; default
	// 7. A rolling range is the same length whichever days the schedule
	// skips: Monday's digest still shows the weekend.
	Days int
	// Registerer takes the digest's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Digest posts a summary of the TaskIP analytics to the channel on a
// schedule (config slack.digest_schedule).
type Digest struct {
	cfg      DigestConfig
	log      *slog.Logger
	schedule cron.Schedule
	posted   *prometheus.CounterVec
	// sleep waits for d or until ctx ends; tests replace it to drive the
	// schedule without waiting.
	sleep func(ctx context.Context, d time.Duration) error
}

// digestRecheck bounds one wait. Timers run on the monotonic clock, which
// stands still while a host is suspended and ignores clock corrections;
// reading the wall clock again every minute keeps a 09:00 digest at 09:00.
const digestRecheck = time.Minute

// NewDigest validates the configuration and the schedule.
func NewDigest(cfg DigestConfig) (*Digest, error) {
	if cfg.Analytics == nil || cfg.Chat == nil || cfg.Channel == "" {
		return nil, errors.New("digest: analytics, chat and channel are required")
	}
	if cfg.Schedule == "" {
		return nil, errors.New(`digest: no schedule (a cron spec such as "0 9 * * 1-5")`)
	}
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf(`digest: schedule %q is not a cron spec such as "0 9 * * 1-5": %w`, cfg.Schedule, err)
	}
	if cfg.Days <= 0 {
		cfg.Days = 7
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// cron gives up after five years without a match ("0 9 30 2 *").
	if sched.Next(cfg.Now()).IsZero() {
		return nil, fmt.Errorf("digest: schedule %q never fires", cfg.Schedule)
	}
	posted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ticketsync_digests_total", Help: "Analytics digests, by outcome: posted or failed.",
	}, []string{"outcome"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(posted); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, fmt.Errorf("digest: metrics: %w", err)
			}
			existing, ok := already.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("digest: metrics: %w", err)
			}
			posted = existing
		}
	}
	return &Digest{cfg: cfg, log: cfg.Logger.With("flow", "digest"), schedule: sched, posted: posted, sleep: retry.Sleep}, nil
}

// Run posts a digest at every scheduled time until ctx ends. A failed
// digest is logged and not retried before the next scheduled time: a late
// summary is worth less than a quiet channel. A time missed while the
// daemon was down is skipped, as cron does.
func (d *Digest) Run(ctx context.Context) error {
	var last time.Time
	for {
		from := d.cfg.Now()
		// A wall clock read just after waking can still be a hair before
		// the time that fired; never fire the same time twice.
		if from.Before(last) {
			from = last
		}
		next := d.schedule.Next(from)
		if next.IsZero() {
			d.log.Error("digest schedule has no further time; no more digests will be posted", "schedule", d.cfg.Schedule)
			<-ctx.Done()
			return nil
		}
		if err := d.waitUntil(ctx, next); err != nil {
			return nil // cancelled: shutting down is not a failure
		}
		last = next
		if err := d.Post(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Warn("digest failed; the next scheduled time tries again", "err", err, "next", d.schedule.Next(next))
		}
	}
}

func (d *Digest) waitUntil(ctx context.Context, at time.Time) error {
	for {
		left := at.Sub(d.cfg.Now())
		if left <= 0 {
			return ctx.Err()
		}
		if err := d.sleep(ctx, min(left, digestRecheck)); err != nil {
			return err
		}
	}
}

// Post fetches the analytics of the last Days days and posts one digest.
func (d *Digest) Post(ctx context.Context) error {
	end := d.cfg.Now()
	start := end.AddDate(0, 0, 1-d.cfg.Days)
	p := taskip.AnalyticsParams{StartDate: start.Format(time.DateOnly), EndDate: end.Format(time.DateOnly)}
	a, err := d.cfg.Analytics.Analytics(ctx, p)
	if err != nil {
		d.posted.WithLabelValues("failed").Inc()
		return fmt.Errorf("digest: analytics %s to %s: %w", p.StartDate, p.EndDate, err)
	}
	text, blocks := mapping.DigestMessage(a)
	if _, err := d.cfg.Chat.Post(ctx, d.cfg.Channel, slack.Message{Text: text, Blocks: blocks}); err != nil {
		d.posted.WithLabelValues("failed").Inc()
		return fmt.Errorf("digest: post to %s: %w", d.cfg.Channel, err)
	}
	d.posted.WithLabelValues("posted").Inc()
	d.log.Debug("digest posted", "channel", d.cfg.Channel, "from", p.StartDate, "to", p.EndDate)
	return nil
}
