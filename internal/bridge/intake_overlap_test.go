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

// closedAtOnce closes every ticket the moment it is made, as an agent
// quicker than any could be.
type closedAtOnce struct {
	Tickets
	fake func() *taskipfake.Server
}

func (c closedAtOnce) CreateTicket(ctx context.Context, f taskip.TicketFields) (taskip.Ticket, error) {
	t, err := c.Tickets.CreateTicket(ctx, f)
	if err == nil {
		err = c.fake().Mutate(int(t.ID), func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusClosed })
	}
	return t, err
}

// A reply decided on the answer to its ticket's create, to a ticket closed
// since, is refused by TaskIP: it is retried after a real read (which
// reopens the ticket), never quarantined.
func TestIntakeReplyToATicketClosedSinceItsCreateIsRetried(t *testing.T) {
	var e *intakeEnv
	e = newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) {
		c.Tickets = closedAtOnce{Tickets: c.Tickets, fake: func() *taskipfake.Server { return e.fake }}
		c.BatchSize = 1 // the reply comes in the batch after its ticket's
	})
	e.deliver(mailMsg("quick-1@acme.com", "john@acme.com", "Printer", "It is on fire."))
	e.deliver(mailMsg("quick-2@acme.com", "john@acme.com", "Re: Printer", "Still on fire.", "In-Reply-To: <quick-1@acme.com>"))
	require.Error(t, e.intake.Cycle(context.Background()), "the refused reply stops the cycle")
	e.cycle()

	tickets := e.newTickets()
	require.Len(t, tickets, 1)
	replies := e.fake.Replies(tickets[0].ID)
	require.Len(t, replies, 1)
	assert.Equal(t, "Still on fire.", replies[0].Message)
	after, _ := e.fake.Ticket(tickets[0].ID)
	assert.Equal(t, taskipfake.StatusOpen, after.Status, "the customer's reply reopened it")
	e.assertAllSeen()
}
