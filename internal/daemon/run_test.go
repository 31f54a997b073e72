package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stages stop one after the other, each once the one before has
// returned: what takes work in stops before what acts on it, and the
// outbox last.
func TestGroupStopsStagesInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := newGroup(ctx)
	var mu sync.Mutex
	var order []string
	part := func(name string, linger time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(linger) // finishing the item in flight
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	inbound, flows, outbound := g.stage("inbound"), g.stage("flows"), g.stage("outbound")
	outbound.run("outbox", part("outbox", 0))
	flows.run("watch", part("watch", 30*time.Millisecond))
	inbound.run("intake", part("intake", 60*time.Millisecond))
	cancel()
	<-g.stopping.Done()
	deadline, stop := g.startDrain(5 * time.Second)
	defer stop()
	require.True(t, g.stopInOrder(deadline))
	assert.Equal(t, []string{"intake", "watch", "outbox"}, order)
	assert.NoError(t, g.err())
}

// A part that fails stops the group; its error, and a late one from a part
// that was already stopping, are both returned, and nothing panics on a
// closed channel.
func TestGroupFailureStopsAllAndCollectsErrors(t *testing.T) {
	g := newGroup(context.Background())
	s := g.stage("flows")
	boom := errors.New("boom")
	s.run("watch", func(context.Context) error { return boom })
	s.run("digest", func(ctx context.Context) error { <-ctx.Done(); return nil })
	select {
	case <-g.stopping.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a failing part did not stop the group")
	}
	deadline, stop := g.startDrain(5 * time.Second)
	defer stop()
	require.True(t, g.stopInOrder(deadline))
	g.fail("late", errors.New("after the stop"))
	err := g.err()
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "watch: boom")
	assert.ErrorContains(t, err, "late: after the stop")
}

// A part that does not return by the deadline is left behind and reported.
func TestGroupDeadline(t *testing.T) {
	g := newGroup(context.Background())
	release := make(chan struct{})
	defer close(release)
	g.stage("inbound").run("stuck", func(context.Context) error { <-release; return nil })
	g.stop()
	deadline, stop := g.startDrain(50 * time.Millisecond)
	defer stop()
	assert.False(t, g.stopInOrder(deadline))
}
