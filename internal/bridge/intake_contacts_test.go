package bridge

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// contactReads splits the GET /contact requests into searches for one
// sender and reads of the whole list.
func (e *intakeEnv) contactReads() (searches, listPages int) {
	for _, r := range e.fake.Requests() {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, "/contact") {
			continue
		}
		if r.Query.Get("search") != "" {
			searches++
		} else {
			listPages++
		}
	}
	return searches, listPages
}

// seedCustomers stores n contacts named prefix-i@customers.test and returns
// their ids by email.
func seedCustomers(fake *taskipfake.Server, prefix string, n int) map[string]int {
	ids := make(map[string]int, n)
	for i := range n {
		email := fmt.Sprintf("%s-%d@customers.test", prefix, i)
		ids[email] = fake.SeedContact(taskipfake.Contact{Name: fmt.Sprintf("Customer %s %d", prefix, i), Email: email}).ID
	}
	return ids
}

// withClockOffset runs the intake's clock ahead of the real one by what
// offset holds; the read-ahead reads it from its own goroutine.
func withClockOffset(offset *atomic.Int64) envOption {
	return func(cfg *IntakeConfig, _ *imap.Config) {
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}
}

// deliverFrom appends one new-conversation mail per address, in order.
func (e *intakeEnv) deliverFrom(tag string, addrs ...string) {
	for i, a := range addrs {
		e.deliver(mailMsg(fmt.Sprintf("%s-%d@customers.test", tag, i), "Customer <"+a+">", "Question "+tag, "Hello.\n"))
	}
}

// assertTicketUsers checks that each new ticket belongs to the contact of
// its sender.
func (e *intakeEnv) assertTicketUsers(want map[string]int) {
	e.t.Helper()
	for _, tk := range e.newTickets() {
		require.NotNil(e.t, tk.User, "ticket %d", tk.ID)
		if id, ok := want[tk.User.Email]; ok {
			assert.Equal(e.t, id, tk.User.ID, "ticket %d of %s", tk.ID, tk.User.Email)
		}
	}
}

func TestContactDirectoryServesABacklog(t *testing.T) {
	var offset atomic.Int64
	e := newIntakeEnv(t, nil, withClockOffset(&offset))
	ids := seedCustomers(e.fake, "backlog", 60)
	var addrs []string
	for i := range 30 {
		addrs = append(addrs, fmt.Sprintf("backlog-%d@customers.test", i))
	}
	e.deliverFrom("first", addrs...)
	e.fake.ResetRequests()
	e.cycle()

	require.Len(t, e.newTickets(), 30)
	e.assertTicketUsers(ids)
	searches, pages := e.contactReads()
	assert.Equal(t, 0, searches, "every sender is in the list")
	assert.Equal(t, 1, pages, "the seeded contacts fit one page of 100")
	assert.Equal(t, 30, e.countRequests(func(r taskipfake.Request) bool { return r.Method == http.MethodPost }),
		"one write per email")
	e.assertAllSeen()

	// While the copy is fresh, a contact made after it is still found, by
	// a search of its own; the others cost nothing. (Senders seen before
	// are learned and need no lookup; these are new ones.)
	late := seedCustomers(e.fake, "late", 1)
	var more []string
	for i := 30; i < 60; i++ {
		more = append(more, fmt.Sprintf("backlog-%d@customers.test", i))
	}
	e.fake.ResetRequests()
	e.deliverFrom("second", append(more[:11:11], "late-0@customers.test")...)
	e.cycle()
	searches, pages = e.contactReads()
	assert.Equal(t, 1, searches, "only the contact the copy lacks is searched")
	assert.Equal(t, 0, pages, "the copy is still fresh")
	require.Len(t, e.newTickets(), 42)
	e.assertTicketUsers(ids)
	e.assertTicketUsers(late)

	// Once stale, the copy is read again for the next backlog.
	offset.Add(int64(directoryTTL))
	e.fake.ResetRequests()
	e.deliverFrom("third", more[11:23]...)
	e.cycle()
	searches, pages = e.contactReads()
	assert.Equal(t, 0, searches)
	assert.Equal(t, 1, pages)
	require.Len(t, e.newTickets(), 54)
}

func TestContactDirectoryReadsEveryPage(t *testing.T) {
	e := newIntakeEnv(t, nil)
	// With the seeded examples, 350 more contacts make 4 pages; the
	// senders are spread over all of them, the last ones on the last page.
	ids := seedCustomers(e.fake, "paged", 350)
	var addrs []string
	for i := 0; i < 350; i += 29 {
		addrs = append(addrs, fmt.Sprintf("paged-%d@customers.test", i))
	}
	addrs = append(addrs, "paged-349@customers.test")
	e.fake.ResetRequests()
	e.deliverFrom("paged", addrs...)
	e.cycle()

	searches, pages := e.contactReads()
	assert.Equal(t, 0, searches)
	assert.Equal(t, 4, pages)
	require.Len(t, e.newTickets(), len(addrs))
	e.assertTicketUsers(ids)
	for _, tk := range e.newTickets() {
		assert.Contains(t, addrs, tk.User.Email, "ticket %d went to its sender's contact", tk.ID)
	}
}

func TestContactDirectoryNotReadForAFewSenders(t *testing.T) {
	e := newIntakeEnv(t, nil)
	ids := seedCustomers(e.fake, "few", directoryMinSenders-1)
	var addrs []string
	for a := range ids {
		addrs = append(addrs, a)
	}
	e.fake.ResetRequests()
	e.deliverFrom("few", addrs...)
	e.cycle()
	searches, pages := e.contactReads()
	assert.Equal(t, len(ids), searches)
	assert.Equal(t, 0, pages)
	e.assertTicketUsers(ids)
}

func TestContactDirectoryTooLargeToReadIsSearched(t *testing.T) {
	e := newIntakeEnv(t, nil)
	// 1,500 contacts are 16 pages: more reads than 12 searches.
	ids := seedCustomers(e.fake, "big", 1500)
	addrs := make([]string, 12)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("big-%d@customers.test", i*100)
	}
	e.fake.ResetRequests()
	e.deliverFrom("first", addrs...)
	e.cycle()
	searches, pages := e.contactReads()
	assert.Equal(t, 12, searches)
	assert.Equal(t, 1, pages, "one page tells the size")
	e.assertTicketUsers(ids)

	for i := range addrs {
		addrs[i] = fmt.Sprintf("big-%d@customers.test", i*100+1)
	}
	e.fake.ResetRequests()
	e.deliverFrom("second", addrs...)
	e.cycle()
	searches, pages = e.contactReads()
	assert.Equal(t, 12, searches)
	assert.Equal(t, 0, pages, "the size is remembered while fresh")
	require.Len(t, e.newTickets(), 24)
}

func TestContactDirectoryFailureFallsBackToSearches(t *testing.T) {
	e := newIntakeEnv(t, nil)
	ids := seedCustomers(e.fake, "flaky", 12)
	var addrs []string
	for a := range ids {
		addrs = append(addrs, a)
	}
	e.deliverFrom("flaky", addrs...)
	e.fake.ResetRequests()
	// The list read fails once; the searches that follow succeed.
	e.fake.FailNextOn(http.MethodGet, "/contact", 1, http.StatusBadRequest)
	e.cycle()
	require.Len(t, e.newTickets(), 12)
	e.assertTicketUsers(ids)
	searches, _ := e.contactReads()
	assert.Equal(t, 12, searches)
	e.assertAllSeen()
}

func TestRefusedCustomerIDFallsBackToDefaultUser(t *testing.T) {
	e := newIntakeEnv(t, nil, func(cfg *IntakeConfig, _ *imap.Config) { cfg.DefaultUserID = 15 })
	// What was learned about this sender outlived the contact.
	require.NoError(t, e.store.LearnSender("gone@customers.test", 999))
	e.fake.ResetRequests()
	e.deliver(mailMsg("gone-1@customers.test", "Gone <gone@customers.test>", "Still there?", "Hello.\n"))
	e.cycle()

	tickets := e.newTickets()
	require.Len(t, tickets, 1, "the mail is a ticket, not quarantined")
	require.NotNil(t, tickets[0].User)
	assert.Equal(t, 15, tickets[0].User.ID, "the default user")
	creates := e.countRequests(func(r taskipfake.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/support-ticket")
	})
	assert.Equal(t, 2, creates, "the refused create and the one for the default user")
	e.assertAllSeen()
	_, ok, err := e.store.SenderUser("gone@customers.test")
	require.NoError(t, err)
	assert.False(t, ok, "the refused id is forgotten")
}

// backlogOf delivers n new-conversation mails from the contacts prefix-0,
// prefix-step, prefix-2·step and so on, and returns their addresses.
func (e *intakeEnv) backlogOf(prefix string, n, step int) []string {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("%s-%d@customers.test", prefix, i*step)
	}
	e.deliverFrom(prefix, addrs...)
	return addrs
}

func TestContactDirectoryPaysOverTheBacklog(t *testing.T) {
	// A batch of 10 does not outweigh 16 pages, the 60 mails behind it do.
	e := newIntakeEnv(t, nil, func(cfg *IntakeConfig, _ *imap.Config) { cfg.BatchSize = 10 })
	ids := seedCustomers(e.fake, "wide", 1500)
	addrs := e.backlogOf("wide", 60, 25)
	e.fake.ResetRequests()
	e.cycle()

	searches, pages := e.contactReads()
	assert.Equal(t, 0, searches)
	assert.Equal(t, 16, pages)
	require.Len(t, e.newTickets(), len(addrs))
	e.assertTicketUsers(ids)
	e.assertAllSeen()
}

func TestContactDirectoryBoundedInSize(t *testing.T) {
	e := newIntakeEnv(t, nil, func(cfg *IntakeConfig, _ *imap.Config) { cfg.BatchSize = 10 })
	e.intake.contacts.maxPages = 10
	ids := seedCustomers(e.fake, "huge", 1500)
	addrs := e.backlogOf("huge", 60, 25)
	e.fake.ResetRequests()
	e.cycle()

	searches, pages := e.contactReads()
	assert.Equal(t, len(addrs), searches, "past the bound every sender is searched")
	assert.Equal(t, 1, pages, "one page tells the size, and it is remembered")
	require.Len(t, e.newTickets(), len(addrs))
	e.assertTicketUsers(ids)
}

func TestBehindCountsTheUIDsAfterTheBatch(t *testing.T) {
	envs := []imap.Envelope{{UID: 7}, {UID: 9}}
	for _, tc := range []struct {
		name    string
		uidNext uint32
		want    int
	}{
		{"server did not say", 0, 0},
		{"nothing after", 10, 0},
		{"three after", 13, 3},
		{"UIDNEXT below the batch (stale status)", 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, behind(imap.MailboxStatus{UIDNext: tc.uidNext}, envs))
		})
	}
	assert.Equal(t, 0, behind(imap.MailboxStatus{UIDNext: 100}, nil), "no batch")
}
