package bridge

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// historyServer is an IMAP server the first-start tests can fill with old
// mail.
type historyServer interface {
	mailServer
	AppendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32
}

var historyServers = map[string]func(t *testing.T) historyServer{
	"mem":     func(t *testing.T) historyServer { return mailtest.StartMemServer(t, mailtest.MemOptions{}) },
	"dovecot": func(t *testing.T) historyServer { return mailtest.StartDovecot(t) },
}

// supportMailbox fills INBOX as a support mailbox looks on the day
// ticketsync is installed: 30 answered mails from a year ago, read, and 2
// new questions from the last hour, unread. It returns the listing before
// the daemon saw it.
func supportMailbox(t *testing.T, imap historyServer) []mailtest.MemMessage {
	yearAgo := time.Now().AddDate(-1, 0, 0)
	for i := range 30 {
		imap.AppendAt(t, "INBOX", mailMsg(fmt.Sprintf("old-%d@customers.test", i), fmt.Sprintf("Old Customer %d <old%d@customers.test>", i, i),
			fmt.Sprintf("Question from last year %d", i), "Long answered.\n"), yearAgo.Add(time.Duration(i)*time.Hour), `\Seen`)
	}
	for i := range 2 {
		imap.AppendAt(t, "INBOX", mailMsg(fmt.Sprintf("new-%d@customers.test", i), fmt.Sprintf("New Customer %d <new%d@customers.test>", i, i),
			fmt.Sprintf("Question from today %d", i), "Please help.\n"), time.Now().Add(-30*time.Minute))
	}
	return imap.Messages(t, "INBOX")
}

// waitFor waits until n tickets were created since the seed and n mails
// were sent, and returns the tickets.
func waitFor(t *testing.T, tf *taskipfake.Server, smtp *mailtest.SMTPServer, tickets, mails int) []taskipfake.Ticket {
	t.Helper()
	var got []taskipfake.Ticket
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, tk := range tf.Tickets() {
			if tk.ID > 45 {
				got = append(got, tk)
			}
		}
		return len(got) >= tickets && len(smtp.Messages()) >= mails
	}, 20*time.Second, 20*time.Millisecond, "want %d tickets and %d mails", tickets, mails)
	return got
}

// storedFlags leaves out \Recent, which only says which session saw the
// mail first and is no one's to keep.
func storedFlags(flags []string) []string {
	return slices.DeleteFunc(slices.Clone(flags), func(f string) bool { return f == `\Recent` })
}

func subjects(tks []taskipfake.Ticket) []string {
	var out []string
	for _, tk := range tks {
		out = append(out, tk.Subject)
	}
	slices.Sort(out)
	return out
}

// A first start on a mailbox that already holds last year's mail imports
// the two unread mails of today, acknowledges them, and leaves the 30 old
// ones exactly as they were. Losing the state file later imports nothing
// twice.
func TestFirstStartImportsOnlyRecentUnreadMail(t *testing.T) {
	for _, server := range []string{"mem", "dovecot"} {
		t.Run(server, func(t *testing.T) {
			tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
			tf.SeedExamples()
			imap := historyServers[server](t)
			smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
			before := supportMailbox(t, imap)
			statePath := filepath.Join(t.TempDir(), "state.db")
			sections := mailSection(imap, smtp, "  send_agent_replies: false\n")

			_, stop := startDaemonAt(t, base, statePath, sections, DaemonOptions{})
			t.Cleanup(stop)
			tickets := waitFor(t, tf, smtp, 2, 2)
			// The two new mails are marked once handled; history is not.
			require.Eventually(t, func() bool {
				msgs := imap.Messages(t, "INBOX")
				return hasFlag(msgs[30].Flags, `\Seen`) && hasFlag(msgs[31].Flags, `\Seen`)
			}, 10*time.Second, 20*time.Millisecond)
			stop()

			assert.Equal(t, []string{"Question from today 0", "Question from today 1"}, subjects(tickets))
			var acked []string
			for _, m := range smtp.Messages() {
				acked = append(acked, m.To...)
			}
			slices.Sort(acked)
			assert.Equal(t, []string{"new0@customers.test", "new1@customers.test"}, acked, "only today's senders are acknowledged")
			after := imap.Messages(t, "INBOX")
			require.Len(t, after, 32, "nothing was moved")
			for i := range 30 {
				assert.Equal(t, before[i].UID, after[i].UID)
				assert.Equal(t, storedFlags(before[i].Flags), storedFlags(after[i].Flags), "uid %d: history keeps its flags", before[i].UID)
			}

			// The state file is lost. The restart surveys again: today's
			// two are read now, the rest is history, so nothing repeats.
			// A mail that arrives afterwards is imported, which shows the
			// survey is over.
			require.NoError(t, os.Remove(statePath))
			_, stop = startDaemonAt(t, base, statePath, sections, DaemonOptions{})
			t.Cleanup(stop)
			imap.Append(t, "INBOX", mailMsg("after-restart@customers.test", "Late Customer <late@customers.test>", "Question after the restart", "Hello?\n"))
			tickets = waitFor(t, tf, smtp, 3, 3)
			stop()
			assert.Equal(t, []string{"Question after the restart", "Question from today 0", "Question from today 1"}, subjects(tickets),
				"no mail imported twice")
			assert.Len(t, smtp.Messages(), 3)
		})
	}
}

// `run --import-existing all` on a fresh state imports every message,
// oldest first, and acknowledges only the mail received recently: last
// year's customers hear nothing.
func TestImportExistingAllAcknowledgesOnlyRecentMail(t *testing.T) {
	for _, server := range []string{"mem", "dovecot"} {
		t.Run(server, func(t *testing.T) {
			tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
			tf.SeedExamples()
			imap := historyServers[server](t)
			smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
			supportMailbox(t, imap)
			sections := mailSection(imap, smtp, "  send_agent_replies: false\n")
			_, stop := startDaemonAt(t, base, filepath.Join(t.TempDir(), "state.db"), sections, DaemonOptions{ImportExisting: ImportAll})
			t.Cleanup(stop)
			tickets := waitFor(t, tf, smtp, 32, 2)
			require.Eventually(t, func() bool {
				for _, m := range imap.Messages(t, "INBOX") {
					if !hasFlag(m.Flags, `\Seen`) {
						return false
					}
				}
				return true
			}, 10*time.Second, 20*time.Millisecond)
			stop()

			require.Len(t, tickets, 32)
			for i, tk := range tickets[:30] {
				assert.Equal(t, fmt.Sprintf("Question from last year %d", i), tk.Subject, "oldest first")
			}
			var acked []string
			for _, m := range smtp.Messages() {
				acked = append(acked, m.To...)
			}
			slices.Sort(acked)
			assert.Equal(t, []string{"new0@customers.test", "new1@customers.test"}, acked)
		})
	}
}

// `--import-existing none` starts after the last message: only what
// arrives later becomes a ticket.
func TestImportExistingNoneStartsAtTheTop(t *testing.T) {
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	supportMailbox(t, imap)
	sections := mailSection(imap, smtp, "  send_agent_replies: false\n")
	d, stop := startDaemonAt(t, base, filepath.Join(t.TempDir(), "state.db"), sections, DaemonOptions{ImportExisting: ImportNone})
	t.Cleanup(stop)
	// Mail that arrives before the first start's survey is existing mail;
	// wait for the survey (the cursor it records) before the new one.
	require.Eventually(t, func() bool {
		cur, err := d.store.Cursor("INBOX")
		return err == nil && cur.UIDValidity != 0
	}, 10*time.Second, 10*time.Millisecond)
	imap.Append(t, "INBOX", mailMsg("later@customers.test", "Later <later@customers.test>", "Question that came later", "Hi\n"))
	tickets := waitFor(t, tf, smtp, 1, 1)
	stop()
	assert.Equal(t, []string{"Question that came later"}, subjects(tickets))
	assert.Len(t, smtp.Messages(), 1)
}

// The survey's summary is one line an operator can read.
func TestFirstStartLogsWhatItImported(t *testing.T) {
	e := newIntakeEnv(t, nil)
	srv := e.imap.(historyServer)
	supportMailbox(t, srv)
	var logged logtest.Buffer
	e.intake.log = slog.New(slog.NewTextHandler(&logged, nil))
	e.cycle()
	assert.Contains(t, logged.String(), "INBOX: 32 messages; 2 unread in the last 7 days imported; the rest left as history")
	assert.Len(t, e.newTickets(), 2)
}

// A changed UIDVALIDITY (a rebuilt or restored server mailbox) looks at
// recent mail again, read or not, with Message-ID dedupe; older mail stays
// history, so a rebuilt mailbox does not import last year again.
func TestUIDValidityChangeRescansOnlyTheWindow(t *testing.T) {
	onEachServer(t, func(t *testing.T, mk envMaker) {
		e := mk(t)
		srv := e.imap.(historyServer)
		srv.AppendAt(t, "INBOX", mailMsg("ancient@acme.com", "john@acme.com", "Ancient", "old\n"), time.Now().AddDate(-1, 0, 0), `\Seen`)
		e.deliver(mailMsg("v1@acme.com", "john@acme.com", "One", "1"))
		e.cycle()
		require.Len(t, e.newTickets(), 1)
		cur := e.cursor()
		// The server renumbered the mailbox: our cursor's validity is stale.
		require.NoError(t, e.store.SetCursor("INBOX", state.Cursor{UIDValidity: cur.UIDValidity + 1000, LastUID: 99}))
		// Read in a mail client before the daemon saw it: still imported,
		// since it is recent.
		srv.AppendAt(t, "INBOX", mailMsg("v2@acme.com", "john@acme.com", "Two", "2"), time.Now(), `\Seen`)
		e.cycle()
		assert.Equal(t, []string{"One", "Two"}, subjects(e.newTickets()), "One is recognised, Two imported, Ancient left alone")
		assert.Equal(t, cur.UIDValidity, e.cursor().UIDValidity)
		msgs := e.imap.Messages(t, "INBOX")
		assert.Equal(t, []string{`\Seen`}, storedFlags(msgs[0].Flags))
	})
}

// Every handled mail leaves one info line with its UID, what became of it
// and its ticket, so the log alone tells an operator what happened.
func TestEveryHandledMailIsLoggedAtInfo(t *testing.T) {
	e := newIntakeEnv(t, nil)
	var logged logtest.Buffer
	e.intake.log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ok := e.deliver(mailMsg("ok@acme.com", "john@acme.com", "Help", "Please."))
	auto := e.deliver(mailMsg("ooo@acme.com", "john@acme.com", "Out of office", "Away.", "Auto-Submitted: auto-replied"))
	e.cycle()
	tk := scenarioOnlyTicket(t, e)
	out := logged.String()
	assert.Contains(t, out, fmt.Sprintf(`msg="email handled" uid=%d outcome=create ticket=%d`, ok, tk.ID))
	assert.Contains(t, out, fmt.Sprintf(`msg="email handled" uid=%d outcome=skipped:auto_submitted`, auto))
}
