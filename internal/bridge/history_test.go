package bridge

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/state"
)

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
