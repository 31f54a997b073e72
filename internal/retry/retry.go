// Package retry spaces repeated attempts: the one backoff policy and the
// one context-aware wait every flow and client uses.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry n (1 for the first): base doubled n-1
// times, capped at ceiling, then jittered to between half and all of that
// step by jitter in [0,1). Half at least keeps a retry storm from
// collapsing to zero waits; the random rest keeps many callers that
// failed together from returning in step.
func Delay(base, ceiling time.Duration, n int, jitter float64) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	ceiling = max(ceiling, base)
	step := base
	for i := 1; i < n && step < ceiling; i++ {
		if step > ceiling/2 {
			step = ceiling
			break
		}
		step *= 2
	}
	step = min(step, ceiling)
	jitter = min(max(jitter, 0), 1)
	return step/2 + time.Duration(jitter*float64(step/2))
}

// Backoff counts consecutive failures and says how long to wait after
// each (Delay with a random jitter). The zero value waits from 1s up to
// 5m. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration

	attempt int
}

// Next counts a failure and returns the wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	b.attempt++
	return Delay(lo, hi, b.attempt, rand.Float64())
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts is the number of failures since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Sleep waits d, or less if ctx ends first; it returns ctx's error then,
// else nil. A wait of zero or less only checks ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
