package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// lookup finds the ticket the message belongs to and who sent it, leaving
// the decision itself to writeIntents (the rate window is counted there).
func (in *Intake) lookup(ctx context.Context, it *item) error {
	t, replies, proof, err := in.resolveThread(ctx, it.email)
	if err != nil {
		return err
	}
	it.ictx = mapping.IntakeContext{
		Ticket:            t,
		MaxTicketsPerHour: in.cfg.MaxTicketsPerHour,
		CreatedBy:         in.cfg.AgentID,
		MaxMessageBytes:   in.cfg.MaxMessageBytes,
		Auth:              in.authenticate(ctx, it),
		AuthOn:            in.cfg.Authentication.on(),
		ThreadProof:       proof,
	}
	it.replyCountBefore = replies
	if t != nil {
		_, it.freshView = in.fresh.get(t.ID, in.cfg.Now())
	}
	if t == nil && it.ictx.Auth.Verdict == mapping.AuthFail {
		// A forged From must not file the ticket under the contact it
		// names (nor teach the intake that sender).
		it.ictx.UserID = in.cfg.DefaultUserID
		return nil
	}
	if t == nil {
		uid, err := in.userFor(ctx, it.email.FromEmail)
		if err != nil {
			return err
		}
		it.ictx.UserID = uid
		return nil
	}
	if !t.IsCustomer(it.email.FromEmail) {
		agent, err := in.isAgent(ctx, it.email.FromEmail)
		if err != nil {
			return err
		}
		it.ictx.SenderIsAgent = agent
	}
	return nil
}

// resolveThread tries the thread keys in order; the first naming a ticket
// that still exists wins. It returns the ticket, its reply count, and
// whether the link proves the mail answers one of ours: our reply token,
// or one of the Message-IDs we sent (a Message-ID of mail we received, a
// bare uuid or a subject tag may be known to anyone the customer copied).
func (in *Intake) resolveThread(ctx context.Context, e mapping.Email) (*mapping.Ticket, int, bool, error) {
	for _, k := range in.threading.Keys(e) {
		var id int64
		proof := false
		switch k.Kind {
		case mapping.KeyMessageID:
			if rec, ok, err := in.cfg.Store.MessageTicket(k.Value); err != nil {
				return nil, 0, false, err
			} else if ok && rec.TicketID != 0 {
				id = rec.TicketID
			} else if _, oid, ok, err := in.cfg.Store.OutboundTicket(k.Value); err != nil {
				return nil, 0, false, err
			} else if ok {
				id, proof = oid, true
			}
		default:
			var err error
			if id, err = in.ticketIDForUUID(ctx, k.Value); err != nil {
				return nil, 0, false, err
			}
			proof = k.Kind == mapping.KeyReplyToken
		}
		if id == 0 {
			continue
		}
		t, ok := in.fresh.get(id, in.cfg.Now())
		var err error
		if !ok {
			t, err = in.cfg.Tickets.GetTicket(ctx, taskip.ID(id))
		}
		if errors.Is(err, taskip.ErrNotFound) {
			continue // deleted: the mail starts a new conversation
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("thread to ticket %d: %w", id, err)
		}
		c, _, err := storedConversation(in.cfg.Store, t.UUID)
		if err != nil {
			return nil, 0, false, err
		}
		_, requester := c.Requester()
		return &mapping.Ticket{ID: int64(t.ID), UUID: t.UUID, Status: t.Status, CustomerEmail: t.User.Email, Requester: requester},
			t.ReplyCount, proof, nil
	}
	return nil, 0, false, nil
}

// ticketIDForUUID maps a uuid from a plus address or subject tag to the
// ticket id the API needs, from state or, for tickets made elsewhere, by
// searching TaskIP once and remembering the answer.
func (in *Intake) ticketIDForUUID(ctx context.Context, uuid string) (int64, error) {
	var id int64
	var ok bool
	if err := in.cfg.Store.View(func(tx *state.Tx) (err error) { id, ok, err = tx.TicketID(uuid); return err }); err != nil || ok {
		return id, err
	}
	finder, ok := in.cfg.Tickets.(interface {
		FindByUUID(ctx context.Context, uuid string) (taskip.Ticket, error)
	})
	if !ok {
		return 0, nil
	}
	t, err := finder.FindByUUID(ctx, uuid)
	if errors.Is(err, taskip.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find ticket %s: %w", uuid, err)
	}
	return int64(t.ID), in.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetTicketID(uuid, int64(t.ID)) })
}

// userFor finds the TaskIP user of a new ticket: the static
// senders map, then what was learned, then the contact with that email, then
// (when allowed) a new contact, else the default.
func (in *Intake) userFor(ctx context.Context, email string) (int64, error) {
	if id, ok, err := in.knownUser(email); err != nil || ok {
		return id, err
	}
	if in.cfg.LookupContacts {
		id, err := in.findContact(ctx, email)
		if err != nil || id != 0 {
			return id, err
		}
	}
	if in.cfg.CreateContacts {
		c, err := in.cfg.Tickets.CreateContact(ctx, taskip.ContactFields{Name: email, Email: email})
		if errors.Is(err, taskip.ErrConflict) {
			return in.findContact(ctx, email)
		}
		if err != nil {
			return 0, fmt.Errorf("create contact %s: %w", email, err)
		}
		return int64(c.ID), nil // learned by complete(), in the batch transaction
	}
	return in.cfg.DefaultUserID, nil
}

// knownUser returns the user id the senders map or what was learned gives,
// without asking TaskIP.
func (in *Intake) knownUser(email string) (int64, bool, error) {
	if id, ok := in.cfg.Senders[email]; ok {
		return id, true, nil
	}
	return in.cfg.Store.SenderUser(email)
}

// primeContacts loads the contact directory when the batch has enough
// senders who will need a contact search: new conversations from addresses
// neither configured nor learned. The later messages of a backlog are
// expected to bring unknown senders in the batch's proportion, so a list
// too long for one batch can still pay over the whole backlog.
func (in *Intake) primeContacts(ctx context.Context, items []*item, idx []int, later int) {
	// The whole backlog counts, not this batch alone: a backlog read in
	// small batches (cut where a mail answers another of the same batch)
	// would otherwise search each sender one by one.
	if !in.cfg.LookupContacts || len(idx) == 0 {
		return
	}
	unknown := map[string]bool{}
	for _, i := range idx {
		e := items[i].email
		addr := strings.ToLower(e.FromEmail)
		if addr == "" || unknown[addr] || len(in.threading.Keys(e)) > 0 {
			continue
		}
		if _, ok, err := in.knownUser(e.FromEmail); err != nil || ok {
			continue
		}
		unknown[addr] = true
	}
	expected := len(unknown) + len(unknown)*later/len(items)
	n, err := in.contacts.prime(ctx, in.cfg.Tickets, expected, in.cfg.Now())
	switch {
	case err != nil:
		in.log.Warn("contact directory not read; searching each sender", "err", err)
	case n > 0:
		in.log.Info("contact directory read", "contacts", n, "senders", len(unknown), "expected_in_backlog", expected)
	}
}

func (in *Intake) findContact(ctx context.Context, email string) (int64, error) {
	if id, ok := in.contacts.find(email, in.cfg.Now()); ok {
		return id, nil // learned by complete(), in the batch transaction
	}
	id, err := searchExact(ctx, email, func(p taskip.SearchParams) ([]taskip.Contact, *taskip.PageInfo, error) {
		page, err := in.cfg.Tickets.SearchContacts(ctx, p)
		return page.Contacts, page.Meta, err
	}, func(c taskip.Contact) (string, taskip.ID) { return c.Email, c.ID })
	if err != nil {
		return 0, fmt.Errorf("look up contact %s: %w", email, err)
	}
	return int64(id), nil // learned by complete(), in the batch transaction
}

// searchPageSize and maxSearchPages bound searchExact: 500 near misses
// before the address itself is more than any directory has.
const (
	searchPageSize = 100
	maxSearchPages = 5
)

// searchExact searches for an email and returns the id of the entry with
// exactly that address (the first, as the search lists them), or 0. A
// search matches parts of addresses, so a short one ("li@corp.example")
// can come after many longer ones ("ali@…", "anna.li@…"): the pages are
// read until it is found or the results end.
func searchExact[T any](ctx context.Context, email string,
	search func(taskip.SearchParams) ([]T, *taskip.PageInfo, error), entry func(T) (string, taskip.ID)) (taskip.ID, error) {
	for page := 1; page <= maxSearchPages && ctx.Err() == nil; page++ {
		items, meta, err := search(taskip.SearchParams{Search: email, Page: page, Limit: searchPageSize})
		if err != nil {
			return 0, err
		}
		for _, it := range items {
			if addr, id := entry(it); strings.EqualFold(addr, email) {
				return id, nil
			}
		}
		if len(items) < searchPageSize || (meta != nil && meta.TotalPages <= page) {
			break
		}
	}
	return 0, ctx.Err()
}

// An agent stays one for a day; "not an agent" is asked again sooner, so
// a colleague added to the team today answers as an agent within minutes.
const (
	agentCacheTTL    = 24 * time.Hour
	nonAgentCacheTTL = 10 * time.Minute
)

func (in *Intake) isAgent(ctx context.Context, email string) (bool, error) {
	var e state.MemberCache
	var ok bool
	if err := in.cfg.Store.View(func(tx *state.Tx) (err error) { e, ok, err = tx.TeamMemberByEmail(email); return err }); err != nil {
		return false, err
	} else if ok {
		ttl := nonAgentCacheTTL
		if e.MemberID != 0 {
			ttl = agentCacheTTL
		}
		if in.cfg.Now().Sub(e.At) < ttl {
			return e.MemberID != 0, nil
		}
	}
	id, err := searchExact(ctx, email, func(p taskip.SearchParams) ([]taskip.TeamMember, *taskip.PageInfo, error) {
		page, err := in.cfg.Tickets.SearchTeamMembers(ctx, p)
		return page.Members, page.Meta, err
	}, func(m taskip.TeamMember) (string, taskip.ID) { return m.Email, m.ID })
	if err != nil {
		return false, fmt.Errorf("look up team member %s: %w", email, err)
	}
	e = state.MemberCache{MemberID: int64(id), At: in.cfg.Now()}
	return e.MemberID != 0, in.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetTeamMemberByEmail(email, e) })
}
