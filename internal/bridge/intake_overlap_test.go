package bridge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// inFlight counts the TaskIP writes under way at once.
type inFlight struct {
	Tickets
	now, max atomic.Int32
}

func (f *inFlight) enter() {
	n := f.now.Add(1)
	for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
	}
}

func (f *inFlight) CreateTicket(ctx context.Context, fields taskip.TicketFields) (taskip.Ticket, error) {
	f.enter()
	defer f.now.Add(-1)
	return f.Tickets.CreateTicket(ctx, fields)
}

func (f *inFlight) AddReply(ctx context.Context, id taskip.ID, fields taskip.AddReplyFields) (taskip.Reply, error) {
	f.enter()
	defer f.now.Add(-1)
	return f.Tickets.AddReply(ctx, id, fields)
}

// A backlog after an outage, with TaskIP 100 ms away: 200 new
// conversations and 100 replies to them, each reply a little after the
// mail it answers. Conversations are written side by side, yet every reply
// lands on its own ticket, after the mail that opened it, and nothing is
// written twice.
func TestIntakeOverlapsConversationsKeepingEachInOrder(t *testing.T) {
	var counter *inFlight
	e := newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) {
		counter = &inFlight{Tickets: c.Tickets}
		c.Tickets = counter
		c.WriteConcurrency = 8
	})
	e.fake.SetLatency(100 * time.Millisecond)
	const conversations, replies = 200, 100
	for i := range conversations {
		e.deliver(mailMsg(fmt.Sprintf("open-%d@customers.test", i), fmt.Sprintf("Customer %d <c%d@customers.test>", i, i),
			fmt.Sprintf("Problem %d", i), fmt.Sprintf("First mail of conversation %d.", i)))
		if j := i - 7; j >= 0 && j < replies {
			e.deliver(mailMsg(fmt.Sprintf("reply-%d@customers.test", j), fmt.Sprintf("Customer %d <c%d@customers.test>", j, j),
				fmt.Sprintf("Re: Problem %d", j), fmt.Sprintf("More about conversation %d.", j),
				fmt.Sprintf("In-Reply-To: <open-%d@customers.test>", j)))
		}
	}
	e.cycle()

	tickets := e.newTickets()
	require.Len(t, tickets, conversations, "one ticket per conversation, none twice")
	bySubject := map[string]int{}
	for _, tk := range tickets {
		bySubject[tk.Subject]++
	}
	for i := range conversations {
		subject := fmt.Sprintf("Problem %d", i)
		require.Equal(t, 1, bySubject[subject], subject)
	}
	for _, tk := range tickets {
		var i int
		_, err := fmt.Sscanf(tk.Subject, "Problem %d", &i)
		require.NoError(t, err)
		rs := e.fake.Replies(tk.ID)
		if i >= replies {
			assert.Empty(t, rs, "ticket of conversation %d", i)
			continue
		}
		require.Len(t, rs, 1, "the reply of conversation %d is on its own ticket", i)
		assert.Equal(t, fmt.Sprintf("More about conversation %d.", i), rs[0].Message)
	}
	e.assertAllSeen()
	// A reply to a ticket this intake has just made needs no read of it:
	// the create's answer said all a read would.
	ticketReads := e.countRequests(func(r taskipfake.Request) bool {
		return r.Method == http.MethodGet && strings.HasPrefix(r.Path, taskipfake.BasePath+"/support-ticket/")
	})
	assert.Zero(t, ticketReads, "reads of tickets made moments ago")
	assert.Greater(t, counter.max.Load(), int32(1), "conversations were written side by side")
	assert.LessOrEqual(t, counter.max.Load(), int32(8), "never more than write_concurrency at once")
}

func TestFreshTicketsForgetWhatMayHaveChanged(t *testing.T) {
	var f freshTickets
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.created(taskip.Ticket{ID: 7, UUID: "u-7"}, now)
	got, ok := f.get(7, now.Add(time.Second))
	require.True(t, ok)
	assert.Equal(t, "u-7", got.UUID)
	_, ok = f.get(7, now.Add(freshTTL+time.Second))
	assert.False(t, ok, "past its time an agent may have changed it")
	f.created(taskip.Ticket{ID: 8}, now)
	f.touched(8)
	_, ok = f.get(8, now)
	assert.False(t, ok, "written to since its create")
	_, ok = f.get(9, now)
	assert.False(t, ok)
}
