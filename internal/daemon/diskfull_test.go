package daemon

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The state file stops taking writes (a full disk) right after the server
// took an acknowledgement and around the new ticket's Slack post, while a
// ticket made in the web app waits for its thread and a customer's mail
// waits for its ticket. Nothing
// is done twice and nothing is lost: the sent mail is not sent again, the
// posted parent is not posted again, the waiting mail stays in the inbox
// (not quarantined). /readyz says why; once the disk takes writes again,
// everything completes exactly once.
func TestScenarioStateWritesFailAfterOutsideEffects(t *testing.T) {
	var failing atomic.Bool
	e := startScenarioDaemonWith(t, nil, scenarioOptions{
		SMTP: mailtest.SMTPOptions{Deliver: func(r mailtest.Received) error {
			if strings.Contains(string(r.Data), "Printer on fire") {
				failing.Store(true) // the disk fills as the server takes the mail
			}
			return nil
		}},
		Daemon: Options{BeforeStateCommit: func() error {
			if failing.Load() {
				return syscall.ENOSPC
			}
			return nil
		}},
	})

	e.customerMails(mailMsg("ann-1@customers.test", "Ann Poe <ann@customers.test>", "Printer on fire", "Smoke everywhere.\n"))
	first := e.ticketBySubject("Printer on fire")
	require.Eventually(t, failing.Load, scWait, scTick, "the acknowledgement reached the server")

	web := e.taskip.SeedTicket(taskipfake.Ticket{Subject: "Made in the web app", Priority: taskipfake.PriorityNormal,
		Status: taskipfake.StatusOpen, User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	e.customerMails(mailMsg("bo-1@customers.test", "Bo Kay <bo@customers.test>", "Cannot log in", "Password reset mail never came.\n"))

	require.Eventually(t, func() bool { return parents(e, first.Subject) == 1 }, scWait, scTick, "the first ticket's parent is posted")
	require.Eventually(t, func() bool {
		code, body := getFrom(t, "http://"+e.d.Addr()+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "state: writes to the state file are failing")
	}, scWait, scTick, "/readyz names the failing writes")
	_, metrics := getFrom(t, "http://"+e.d.Addr()+"/metrics")
	assert.NotContains(t, metrics, "ticketsync_state_commit_failures_total 0\n")
	assert.Contains(t, metrics, "ticketsync_state_commit_failures_total ")

	// Several polls and intake cycles while nothing can be recorded.
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, 1, parents(e, first.Subject), "the parent is held, not posted again")
	assert.LessOrEqual(t, parents(e, web.Subject), 1)
	assert.Equal(t, 1, mailsContaining(e.smtp.Messages(), "Printer on fire"), "the sent acknowledgement is not sent again")
	assert.Equal(t, 1, countSubject(e.taskip.Tickets(), "Printer on fire"))
	assert.Zero(t, countSubject(e.taskip.Tickets(), "Cannot log in"), "no ticket is made that could not be recorded first")

	failing.Store(false)
	// Not quarantined: the waiting mail becomes its ticket.
	second := e.ticketBySubject("Cannot log in")
	e.threadTS(second.ID)
	e.threadTS(web.ID)
	require.Eventually(t, func() bool { return mailsContaining(e.smtp.Messages(), "Cannot log in") == 1 }, scWait, scTick)
	require.Eventually(t, func() bool {
		code, _ := getFrom(t, "http://"+e.d.Addr()+"/readyz")
		return code == http.StatusOK
	}, scWait, scTick, "ready again once a write succeeds")
	time.Sleep(1500 * time.Millisecond) // another poll and outbox round
	assert.Equal(t, 1, parents(e, web.Subject), "the held parent was recorded, not posted again")
	assert.Equal(t, 1, parents(e, first.Subject))
	assert.Equal(t, 1, parents(e, second.Subject))
	assert.Equal(t, 1, mailsContaining(e.smtp.Messages(), "Printer on fire"))
	assert.Equal(t, 1, mailsContaining(e.smtp.Messages(), "Cannot log in"))
	assert.Equal(t, 1, countSubject(e.taskip.Tickets(), "Cannot log in"))
	th, ok := storedThread(t, e.d.store, web.ID)
	require.True(t, ok)
	assert.Equal(t, e.threadTS(web.ID), th.TS)
}

// parents counts the top-level Slack messages naming subject.
func parents(e *scenarioDaemon, subject string) int {
	n := 0
	for _, c := range e.slack.Messages(testChannel) {
		if c.Method == "chat.postMessage" && c.ThreadTS == "" && c.Error == "" && strings.Contains(c.Text, subject) {
			n++
		}
	}
	return n
}

func countSubject(ts []taskipfake.Ticket, subject string) int {
	n := 0
	for _, t := range ts {
		if t.Subject == subject {
			n++
		}
	}
	return n
}

func getFrom(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
