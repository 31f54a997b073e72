package mail

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces reconnect attempts: capped exponential growth with full
// jitter, so many daemons that lost the same server do not return in step.
// The zero value uses 1s and 5m. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration

	attempt int
}

// Next returns the wait before the next attempt: a random duration between
// Min and min(Max, Min*2^attempts). The floor of Min keeps a flapping
// server from being hammered by near-zero waits.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	hi = max(hi, lo)
	ceiling := lo
	for i := 0; i < b.attempt && ceiling < hi; i++ {
		if ceiling > hi/2 {
			ceiling = hi
			break
		}
		ceiling *= 2
	}
	b.attempt++
	if ceiling <= lo {
		return lo
	}
	return lo + rand.N(ceiling-lo+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts is the number of Next calls since the last Reset, for metrics
// and /readyz ("disconnected beyond backoff").
func (b *Backoff) Attempts() int { return b.attempt }
