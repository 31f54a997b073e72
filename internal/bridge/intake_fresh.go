package bridge

import (
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// freshTickets remembers the tickets this intake has just created, exactly
// as TaskIP answered the create, so that a reply to one of them in the
// same backlog needs no GET to learn what the create already said. While a
// backlog drains this takes a TaskIP round trip off the path of every
// batch that answers the one before. An entry lives a few seconds and is
// dropped at the first other write to its ticket; after that, or for any
// ticket made elsewhere, the ticket is read from TaskIP as before.
type freshTickets struct {
	mu sync.Mutex
	m  map[int64]freshTicket
}

type freshTicket struct {
	t  taskip.Ticket
	at time.Time
}

// freshTTL is short: a ticket an agent could already have changed is read
// again. The memory is also cleared at the start of every cycle, so it
// only ever serves the batches of one backlog drain.
const freshTTL = 5 * time.Second

// freshMax bounds the memory: a backlog larger than this in ten seconds
// reads the rest, as before.
const freshMax = 4096

func (f *freshTickets) created(t taskip.Ticket, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[int64]freshTicket{}
	}
	if len(f.m) >= freshMax {
		for id, e := range f.m {
			if now.Sub(e.at) > freshTTL {
				delete(f.m, id)
			}
		}
		if len(f.m) >= freshMax {
			return
		}
	}
	f.m[int64(t.ID)] = freshTicket{t: t, at: now}
}

// reset forgets every ticket.
func (f *freshTickets) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.m)
}

// touched forgets a ticket written to since its create.
func (f *freshTickets) touched(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, id)
}

// get returns the ticket as created, while it is fresh.
func (f *freshTickets) get(id int64, now time.Time) (taskip.Ticket, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[id]
	if !ok || now.Sub(e.at) > freshTTL || now.Before(e.at) {
		return taskip.Ticket{}, false
	}
	return e.t, true
}
