package bridge

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// contactDirectory is a short-lived copy of TaskIP's contact list. New
// tickets need the sender's contact, and one search per sender is the
// right price for a trickle of mail; for a batch with many unknown senders
// (a backlog after downtime, the answers to a newsletter) reading the whole
// list can take fewer requests, which also spares the vendor's rate limit.
//
// The copy only ever answers "this address is contact N". A sender missing
// from it is still searched, so a contact made a second ago is found. What
// the copy can get wrong is a contact deleted or re-addressed while it is
// fresh; the learned senders share that risk, and a user id TaskIP refuses
// falls back to the default user instead of failing the mail (execute).
//
// A copy is only read when its pages are fewer than the unknown senders
// expected in the backlog, and never past maxPages, so it holds at most
// 50,000 contacts (a few MiB) by default.
type contactDirectory struct {
	mu       sync.Mutex // one load at a time
	snap     atomic.Pointer[contactSnapshot]
	maxPages int // 0: directoryMaxPages
}

type contactSnapshot struct {
	byEmail map[string]int64 // lower-case email -> contact id; nil: too large to be worth loading
	pages   int
	at      time.Time
}

const (
	directoryPageSize = 100
	// directoryTTL bounds how stale a match can be; a backlog of thousands
	// of mails is read well within it.
	directoryTTL = 5 * time.Minute
	// directoryMinSenders is where a load can start to pay: below it the
	// searches are a handful of requests anyway.
	directoryMinSenders = 10
	// directoryMaxPages bounds the copy's memory and the time a batch
	// waits for it; past it every sender is searched.
	directoryMaxPages = 500
)

// contactLister is the part of the TaskIP client the directory reads.
type contactLister interface {
	SearchContacts(ctx context.Context, p taskip.SearchParams) (taskip.ContactPage, error)
}

// find returns the contact id for email when a fresh copy holds it.
func (d *contactDirectory) find(email string, now time.Time) (int64, bool) {
	s := d.snap.Load()
	if s == nil || s.byEmail == nil || now.Sub(s.at) >= directoryTTL {
		return 0, false
	}
	id, ok := s.byEmail[strings.ToLower(email)]
	return id, ok
}

// prime loads the list when senders addresses are expected to need a
// lookup and reading it pays. It returns the number of contacts loaded (0
// when nothing was read); a failed load leaves the previous state and the
// caller searches as usual.
func (d *contactDirectory) prime(ctx context.Context, src contactLister, senders int, now time.Time) (int, error) {
	if senders < directoryMinSenders {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.snap.Load(); s != nil && now.Sub(s.at) < directoryTTL {
		if s.byEmail != nil || !d.pays(s.pages, senders) {
			return 0, nil // fresh, or known to cost more than it saves
		}
	}
	params := taskip.SearchParams{Page: 1, Limit: directoryPageSize, Sort: "created_at", Order: "asc"}
	first, err := src.SearchContacts(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("contact directory: %w", err)
	}
	pages := 1
	if first.Meta != nil && first.Meta.TotalPages > 1 {
		pages = first.Meta.TotalPages
	}
	if !d.pays(pages, senders) {
		d.snap.Store(&contactSnapshot{pages: pages, at: now})
		return 0, nil
	}
	// The pages are read as wide as the searches they replace would run,
	// so the copy never takes longer than those searches.
	all := make([][]taskip.Contact, pages)
	all[0] = first.Contacts
	errs := eachWide(pages-1, lookupConcurrency, func(i int) error {
		q := params
		q.Page = i + 2
		page, err := src.SearchContacts(ctx, q)
		if err != nil {
			return fmt.Errorf("contact directory page %d of %d: %w", q.Page, pages, err)
		}
		all[i+1] = page.Contacts
		return nil
	})
	for _, err := range errs {
		if err != nil {
			return 0, err // the first is enough to say why
		}
	}
	byEmail := make(map[string]int64, pages*len(first.Contacts))
	for _, cs := range all {
		for _, c := range cs {
			k := strings.ToLower(c.Email)
			if _, dup := byEmail[k]; !dup && k != "" {
				byEmail[k] = int64(c.ID) // the first, as a search lists them
			}
		}
	}
	d.snap.Store(&contactSnapshot{byEmail: byEmail, pages: pages, at: now})
	return len(byEmail), nil
}

// pays reports whether a list of pages takes fewer reads than senders
// searches (the first page is read anyway, to learn the size) and is
// within the bound.
func (d *contactDirectory) pays(pages, senders int) bool {
	return pages-1 <= senders && pages <= cmp.Or(d.maxPages, directoryMaxPages)
}

// drop forgets the copy, after TaskIP refused an id it may have given.
func (d *contactDirectory) drop() { d.snap.Store(nil) }
