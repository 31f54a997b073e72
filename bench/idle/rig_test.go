package idle_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// rig is everything the daemon talks to, on 127.0.0.1, and the
// configuration pointing it there.
type rig struct {
	tk      *taskipfake.Server
	sf      *slackfake.Server
	imap    *mailtest.MemServer
	smtp    *mailtest.SMTPServer
	config  string // path of the configuration file
	listen  string // http.listen
	tickets int    // seeded in TaskIP
}

// newRig starts the fakes with tickets seeded in TaskIP and contacts
// customers known to it (the senders of the burst), and writes the
// configuration.
func newRig(t testing.TB, tickets, contacts int) *rig {
	t.Helper()
	r := &rig{tickets: tickets}
	r.tk = taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(r.tk, tickets)
	for i := range contacts {
		name, email := customer(i)
		r.tk.SeedContact(taskipfake.Contact{Name: name, Email: email})
	}
	tsrv := httptest.NewServer(r.tk.Handler())
	t.Cleanup(tsrv.Close)
	r.sf = slackfake.New(t)
	r.sf.SetChannels(channel)
	r.imap = mailtest.StartMemServer(t, mailtest.MemOptions{})
	r.smtp = mailtest.StartSMTP(t, mailtest.SMTPOptions{})

	dir := t.TempDir()
	r.listen = benchkit.FreeAddr(t)
	r.config = benchkit.WriteConfig(t, dir, fmt.Sprintf(config, tsrv.URL+taskipfake.BasePath, secretKey, filepath.Join(dir, "state.db"), r.listen,
		supportAddr, r.imap.Addr(), r.imap.Username(), r.imap.Password(), r.smtp.Addr(),
		slackfake.DefaultToken, r.sf.URL(), channel))
	return r
}

func (r *rig) readyURL() string   { return "http://" + r.listen + "/readyz" }
func (r *rig) metricsURL() string { return "http://" + r.listen + "/metrics" }

// created is the number of tickets the daemon created.
func (r *rig) created() int { return len(r.tk.Tickets()) - r.tickets }

func seedTickets(s *taskipfake.Server, n int) {
	base := time.Now().Add(-30 * 24 * time.Hour)
	for i := 1; i <= n; i++ {
		s.SeedTicket(taskipfake.Ticket{
			ID:        i,
			UUID:      fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Subject:   fmt.Sprintf("Cannot export invoice batch %d to PDF", i),
			User:      &taskipfake.Person{ID: 1000 + i, Name: fmt.Sprintf("Customer %d", i), Email: fmt.Sprintf("customer%d@acme.example", i)},
			Priority:  i % 5,
			Status:    i % 5,
			CreatedAt: base.Add(time.Duration(i) * time.Hour),
			UpdatedAt: base.Add(time.Duration(i) * time.Hour),
		})
	}
}
