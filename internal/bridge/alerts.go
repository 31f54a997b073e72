package bridge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
)

// AlertPoster posts one top-level message to a channel.
type AlertPoster interface {
	Post(ctx context.Context, channel string, m slack.Message) (string, error)
}

// AlertsConfig configures the alerts flow.
type AlertsConfig struct {
	Chat    AlertPoster
	Channel string
	Store   *state.Store
	Logger  *slog.Logger
}

// Alerts posts to the ticket channel what agents would otherwise never see:
// a mail that could not be imported, a limit that stopped mail going out.
// Flows queue an alert in the transaction that records its cause
// (state.Tx.QueueAlert), so an alert is neither lost in a crash nor queued
// again when its cause is seen again after a restart. Posting is at most
// once: the claim is committed before the post and settled after it.
type Alerts struct {
	cfg  AlertsConfig
	log  *slog.Logger
	wake chan struct{}
}

// NewAlerts validates the configuration.
func NewAlerts(cfg AlertsConfig) (*Alerts, error) {
	if cfg.Chat == nil || cfg.Channel == "" || cfg.Store == nil {
		return nil, errors.New("alerts: chat, channel and store are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Alerts{cfg: cfg, log: log.With("flow", "alerts"), wake: make(chan struct{}, 1)}, nil
}

// Queue adds an alert to tx; it is posted once tx commits and Wake is
// called. A nil Alerts (no Slack) queues nothing: the log line that goes
// with every alert is then all there is.
func (a *Alerts) Queue(tx *state.Tx, key, text string) error {
	if a == nil {
		return nil
	}
	_, err := tx.QueueAlert(key, text)
	return err
}

// Wake makes Run look at the queue now. Safe on a nil Alerts.
func (a *Alerts) Wake() {
	if a == nil {
		return
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// alertsPerDrain bounds one pass; the next pass follows at once.
const alertsPerDrain = 50

// Run posts queued alerts until ctx ends. Claims a crash left behind are
// dropped first: their post may have gone out.
func (a *Alerts) Run(ctx context.Context) error {
	if err := a.dropClaims(); err != nil {
		a.log.Warn("alerts: leftover claims not settled", "err", err)
	}
	backoff := retry.Backoff{Min: 5 * time.Second, Max: 10 * time.Minute}
	for {
		wait := time.Duration(0)
		more, err := a.Drain(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			wait = backoff.Next()
			a.log.Warn("alert not posted; retrying", "err", err, "retry_in", wait)
		case more:
			backoff.Reset()
			continue
		default:
			backoff.Reset()
			wait = time.Hour // nothing queued: Wake says when there is
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Drain posts the alerts queued now, oldest first. It reports whether more
// may be waiting, and stops at a failure that a retry may cure.
func (a *Alerts) Drain(ctx context.Context) (more bool, err error) {
	var queued []state.Alert
	if err := a.cfg.Store.View(func(tx *state.Tx) (err error) {
		queued, err = tx.Alerts(alertsPerDrain)
		return err
	}); err != nil {
		return false, err
	}
	for _, al := range queued {
		if al.Posting {
			continue
		}
		if ctx.Err() != nil {
			return false, nil
		}
		if err := a.post(ctx, al); err != nil {
			return false, err
		}
	}
	return len(queued) == alertsPerDrain, nil
}

func (a *Alerts) post(ctx context.Context, al state.Alert) error {
	// The claim is committed before the post: if the process dies during
	// it, the restart drops the claim rather than post a second time.
	if err := a.cfg.Store.Update(func(tx *state.Tx) error { return tx.ClaimAlert(al.Key) }); err != nil {
		return err
	}
	_, postErr := a.cfg.Chat.Post(ctx, a.cfg.Channel, slack.Message{Text: al.Text})
	settle := func(tx *state.Tx) error { return tx.SettleAlert(al.Key) }
	switch {
	case postErr == nil:
		a.log.Debug("alert posted", "key", al.Key)
	case errors.Is(postErr, slack.ErrTransient) && ctx.Err() == nil:
		// Slack did not take it: lift the claim and try again later.
		if err := a.cfg.Store.Update(func(tx *state.Tx) error { return tx.ReleaseAlert(al.Key) }); err != nil {
			return errors.Join(postErr, err)
		}
		return postErr
	case errors.Is(postErr, slack.ErrPermanent):
		a.log.Error("alert refused by Slack; dropped", "key", al.Key, "err", postErr)
	default:
		// Cut off mid-way or answered ambiguously: it may be in the
		// channel already, and once is the promise.
		a.log.Warn("alert may not have been posted; not repeated", "key", al.Key, "err", postErr)
	}
	return a.cfg.Store.Update(settle)
}

// dropClaims settles the claims a crash left: those posts may have gone
// out, so they are not repeated.
func (a *Alerts) dropClaims() error {
	return a.cfg.Store.Update(func(tx *state.Tx) error {
		queued, err := tx.Alerts(0)
		if err != nil {
			return err
		}
		for _, al := range queued {
			if !al.Posting {
				continue
			}
			a.log.Warn("alert interrupted by a restart; not repeated", "key", al.Key)
			if err := tx.SettleAlert(al.Key); err != nil {
				return err
			}
		}
		return nil
	})
}
