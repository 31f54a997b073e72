package slack

import (
	"context"
	"sync"
	"time"
)

// lane serialises the writes to one channel. It is a FIFO lock rather than a
// sync.Mutex because a Mutex does not promise order: under contention a
// newly arriving goroutine can overtake one that has been waiting, and a
// thread reply overtaking the parent update, or one change overtaking an
// earlier one, would show the ticket's history out of order. Ownership is
// handed directly to the longest waiter on release.
//
// last is guarded by ownership of the lane, not by mu: only the goroutine
// holding the lane reads or writes it.
type lane struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}

	last   time.Time // when the previous paced write to this channel finished
	tokens float64   // pacing credit left: a short burst passes unpaced
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

// lanes hands out one lane per channel. Lanes are never removed: the daemon
// writes to a handful of channels, and dropping an idle lane would forget
// when its channel was last written and so break the pacing.
type lanes struct {
	mu sync.Mutex
	m  map[string]*lane
}

func (ls *lanes) get(channel string) *lane {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = make(map[string]*lane)
	}
	l, ok := ls.m[channel]
	if !ok {
		l = &lane{}
		ls.m[channel] = l
	}
	return l
}
