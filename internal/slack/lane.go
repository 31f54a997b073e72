package slack

import (
	"context"
	"sync"
	"time"
)

// laneKey is what Slack rate-limits separately: a method, and for writes
// the channel (chat.postMessage is limited per channel).
type laneKey struct{ method, channel string }

// lane serialises the writes of one method to one channel, and remembers
// how long Slack asked that method and channel to wait. It is a FIFO lock
// rather than a sync.Mutex because a Mutex does not promise order: under
// contention a newly arriving goroutine can overtake one that has been
// waiting, and one thread reply overtaking another, or a reply overtaking
// its parent, would show the ticket's history out of order. Ownership is
// handed directly to the longest waiter on release.
//
// last and tokens are guarded by ownership of the lane, not by mu: only the
// goroutine holding the lane reads or writes them. until is guarded by mu,
// because reads, which take no lane, share it.
type lane struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
	until   time.Time // Slack's 429: no request for this key before then

	last   time.Time // when the previous paced write to this channel finished
	tokens float64   // pacing credit left: a short burst passes unpaced
}

// hold keeps requests for this key back until t; a shorter hold never cuts
// a longer one that is still running.
func (l *lane) hold(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.until) {
		l.until = t
	}
}

// heldFor is how much longer, seen at now, the key is held.
func (l *lane) heldFor(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until.Sub(now)
}

// acquire blocks until the caller owns the lane or ctx ends.
func (l *lane) acquire(ctx context.Context) error {
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		l.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	l.waiters = append(l.waiters, turn)
	l.mu.Unlock()

	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		for i, w := range l.waiters {
			if w == turn {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				l.mu.Unlock()
				return ctx.Err()
			}
		}
		l.mu.Unlock()
		// release already handed us the lane; pass it on.
		l.release()
		return ctx.Err()
	}
}

func (l *lane) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.busy = false
		return
	}
	next := l.waiters[0]
	l.waiters[0] = nil
	l.waiters = l.waiters[1:]
	close(next)
}

// lanes hands out one lane per method and channel. Lanes are never
// removed: the daemon calls a handful of methods on a handful of channels,
// and dropping an idle lane would forget a hold Slack asked for, or when the
// channel was last written.
type lanes struct {
	mu sync.Mutex
	m  map[laneKey]*lane
}

func (ls *lanes) get(k laneKey) *lane {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = make(map[laneKey]*lane)
	}
	l, ok := ls.m[k]
	if !ok {
		l = &lane{}
		ls.m[k] = l
	}
	return l
}
