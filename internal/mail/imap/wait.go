package imap

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// pollStep bounds the NOOP interval without IDLE, so new mail is seen
// within 30 s even when the caller waits longer.
const pollStep = 30 * time.Second

// WaitForMail blocks until the server reports new mail (true), maxWait
// passes (false) or ctx ends (false and ctx's error). With IDLE (server
// capability and Config.IDLE) it idles, after a NOOP that collects
// what arrived since the last command; the caller passes at most 29
// minutes (RFC 2177) and re-lists after a true. Without IDLE it sends NOOP
// every min(maxWait, 30s). New mail reported during an earlier command
// returns true at once.
func (b *Inbox) WaitForMail(ctx context.Context, maxWait time.Duration) (bool, error) {
	s := b.current()
	if s == nil {
		return false, fmt.Errorf("imap: wait: %w", ErrNotConnected)
	}
	select {
	case <-b.newMail:
		return true, nil
	default:
	}
	if maxWait <= 0 {
		return false, nil
	}
	if b.cfg.IDLE && s.idle {
		return b.idle(ctx, s, maxWait)
	}
	return b.poll(ctx, maxWait)
}

func (b *Inbox) idle(ctx context.Context, s *imapSession, maxWait time.Duration) (bool, error) {
	// Some servers (go-imap's own among them) tell an idling client only
	// what happens after IDLE starts: mail that came since the last command
	// would wait for the next poll. A NOOP first collects it.
	if err := b.run(ctx, "noop", func(s *imapSession, _ *cmdGuard) error { return s.client.Noop().Wait() }); err != nil {
		return false, err
	}
	select {
	case <-b.newMail:
		return true, nil
	default:
	}
	var cmd *imapclient.IdleCommand
	err := b.run(ctx, "idle", func(s *imapSession, _ *cmdGuard) error {
		s.idling.Store(true)
		var err error
		cmd, err = s.client.Idle()
		return err
	})
	if err != nil {
		s.idling.Store(false)
		return false, err
	}

	// No deadline while idling: the server may rightly say nothing for
	// 29 minutes. Go's default TCP keepalive notices a dead peer, and
	// Closed() ends the wait.
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	got := false
	select {
	case <-b.newMail:
		got = true
	case <-timer.C:
	case <-ctx.Done():
	case <-s.client.Closed():
	}

	// DONE goes out under a deadline even when ctx has ended, so the
	// session is left usable rather than idling.
	err = b.run(context.WithoutCancel(ctx), "idle done", func(s *imapSession, _ *cmdGuard) error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
	s.idling.Store(false)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !got {
		select { // EXISTS that raced with DONE
		case <-b.newMail:
			got = true
		default:
		}
	}
	b.log.Debug("imap idle ended", "new_mail", got)
	return got, nil
}

func (b *Inbox) poll(ctx context.Context, maxWait time.Duration) (bool, error) {
	deadline := time.Now().Add(maxWait)
	for {
		timer := time.NewTimer(min(time.Until(deadline), pollStep))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, ctx.Err()
		case <-timer.C:
		}
		err := b.run(ctx, "noop", func(s *imapSession, _ *cmdGuard) error {
			return s.client.Noop().Wait()
		})
		if err != nil {
			return false, err
		}
		select {
		case <-b.newMail:
			return true, nil
		default:
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
	}
}
