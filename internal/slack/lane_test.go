package slack

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitQueued blocks until n goroutines wait on l, so the test controls the
// order in which they queued.
func waitQueued(t *testing.T, l *lane, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.waiters) == n
	}, 5*time.Second, time.Millisecond)
}

func TestLaneIsFIFO(t *testing.T) {
	var l lane
	require.NoError(t, l.acquire(context.Background()))

	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			require.NoError(t, l.acquire(context.Background()))
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l.release()
		})
		waitQueued(t, &l, i+1)
	}
	l.release()
	wg.Wait()
	want := make([]int, 50)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, order)
	assert.False(t, l.busy)
}

func TestLaneCancelledWaiter(t *testing.T) {
	t.Run("leaves the queue", func(t *testing.T) {
		var l lane
		require.NoError(t, l.acquire(context.Background()))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.acquire(ctx) }()
		waitQueued(t, &l, 1)
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		waitQueued(t, &l, 0)
		l.release()
		assert.False(t, l.busy)
	})
	t.Run("cancel racing a handover never loses the lane", func(t *testing.T) {
		// Both select cases may be ready at once; whichever wins, the lane
		// must end up free.
		for i := range 300 {
			var l lane
			require.NoError(t, l.acquire(context.Background()))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() {
				err := l.acquire(ctx)
				if err == nil {
					l.release()
				}
				done <- err
			}()
			waitQueued(t, &l, 1)
			if i%2 == 0 {
				cancel() // the waiter wakes for ctx but release may get the lock first
				l.release()
			} else {
				l.release()
				cancel()
			}
			<-done
			ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
			require.NoError(t, l.acquire(ctx2), "lane leaked")
			cancel2()
			l.release()
		}
	})
}
