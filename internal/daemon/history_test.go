package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

var historyServers = map[string]func(t *testing.T) historyServer{
	"mem":     func(t *testing.T) historyServer { return mailtest.StartMemServer(t, mailtest.MemOptions{}) },
	"dovecot": func(t *testing.T) historyServer { return mailtest.StartDovecot(t) },
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

			_, stop := startDaemonAt(t, base, statePath, sections, Options{})
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
			_, stop = startDaemonAt(t, base, statePath, sections, Options{})
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
			_, stop := startDaemonAt(t, base, filepath.Join(t.TempDir(), "state.db"), sections, Options{ImportExisting: bridge.ImportAll})
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

			// Every old mail, once. Different senders are written side by
			// side (mail.write_concurrency), so ticket numbers need not
			// follow the mail's order.
			require.Len(t, tickets, 32)
			var got, want []string
			for i, tk := range tickets {
				got = append(got, tk.Subject)
				if i < 30 {
					want = append(want, fmt.Sprintf("Question from last year %d", i))
				}
			}
			for _, w := range want {
				assert.Contains(t, got, w)
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
	d, stop := startDaemonAt(t, base, filepath.Join(t.TempDir(), "state.db"), sections, Options{ImportExisting: bridge.ImportNone})
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
