package bridge

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// intakeEnv is one intake wired to real servers on loopback.
type intakeEnv struct {
	t       *testing.T
	fake    *taskipfake.Server
	client  *taskip.Client
	imap    mailServer
	store   *state.Store
	inbox   *imap.Inbox
	intake  *Intake
	cfg     IntakeConfig
	dataDir string
	// failCommits makes every state commit fail as on a full disk.
	failCommits atomic.Bool
}

type envOption func(*IntakeConfig, *imap.Config)

func newIntakeEnv(t *testing.T, srv mailServer, opts ...envOption) *intakeEnv {
	t.Helper()
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	fake.SeedExamples()
	client, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	require.NoError(t, err)
	if srv == nil {
		srv = mailtest.StartMemServer(t, mailtest.MemOptions{})
	}
	dir := t.TempDir()
	e := &intakeEnv{t: t, fake: fake, client: client, imap: srv, dataDir: dir}
	e.openStore()
	imapCfg := imap.Config{Addr: srv.Addr(), TLS: mail.TLSNone, Username: srv.Username(), Password: srv.Password(),
		Mailbox: "INBOX", IDLE: true}
	e.cfg = IntakeConfig{
		Tickets: client, Store: e.store, Logger: testLogger(t),
		Address: supportAddr, PollSchedule: "@every 1m", IDLE: true,
		MaxMessageBytes: 1 << 20, SpoolDir: filepath.Join(dir, "spool"),
		LookupContacts: true, AgentID: 1,
	}
	for _, o := range opts {
		o(&e.cfg, &imapCfg)
	}
	require.NoError(t, os.MkdirAll(e.cfg.SpoolDir, 0o700))
	e.inbox = imap.NewInbox(imapCfg)
	e.cfg.Inbox = e.inbox
	e.intake, err = NewIntake(e.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.inbox.Close() })
	_, err = e.inbox.Connect(context.Background())
	require.NoError(t, err)
	return e
}

func (e *intakeEnv) openStore() {
	st, err := state.Open(state.Config{Path: filepath.Join(e.dataDir, "state.db"), NoSync: true, BeforeCommit: func() error {
		if e.failCommits.Load() {
			return syscall.ENOSPC
		}
		return nil
	}})
	require.NoError(e.t, err)
	e.store = st
	e.t.Cleanup(func() { _ = st.Close() })
}

// cycle runs one synchronous pass over the mailbox.
func (e *intakeEnv) cycle() {
	e.t.Helper()
	require.NoError(e.t, e.intake.Cycle(context.Background()))
}

func (e *intakeEnv) deliver(raw []byte) uint32 {
	return e.imap.Append(e.t, "INBOX", raw)
}

// newTickets returns the tickets created since SeedExamples, oldest first.
func (e *intakeEnv) newTickets() []taskipfake.Ticket {
	var out []taskipfake.Ticket
	for _, t := range e.fake.Tickets() {
		if t.ID > 45 {
			out = append(out, t)
		}
	}
	return out
}

// countRequests counts the TaskIP requests since the last reset that keep
// accepts.
func (e *intakeEnv) countRequests(keep func(taskipfake.Request) bool) int {
	n := 0
	for _, r := range e.fake.Requests() {
		if keep(r) {
			n++
		}
	}
	return n
}

// assertAllSeen checks that every message in the inbox was marked processed.
func (e *intakeEnv) assertAllSeen() []mailtest.MemMessage {
	e.t.Helper()
	msgs := e.imap.Messages(e.t, "INBOX")
	for _, m := range msgs {
		assert.True(e.t, slices.Contains(m.Flags, `\Seen`), "uid %d", m.UID)
	}
	return msgs
}

func (e *intakeEnv) cursor() state.Cursor {
	c, err := e.store.Cursor("INBOX")
	require.NoError(e.t, err)
	return c
}
