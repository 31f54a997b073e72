// Package bridge holds the flows that join TaskIP, the mailbox and Slack.
// It is the only package that knows all sides; each side is reached through
// a small interface declared next to the flow that uses it, so a flow reads
// top to bottom in one file and runs in tests against in-process servers.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Inbox is the support mailbox as the intake sees it. It is used by one
// goroutine at a time (the cycle, or the read-ahead it waits for);
// Connected and Close may be called from others.
type Inbox interface {
	// Connect (re)establishes the session and selects the mailbox.
	Connect(ctx context.Context) (imap.MailboxStatus, error)
	// List returns messages with a UID above afterUID in UID order, at most
	// limit, and the mailbox status seen while doing so. ListSet does the
	// same for the given UIDs (ascending), skipping those that are gone.
	List(ctx context.Context, afterUID uint32, limit int) ([]imap.Envelope, imap.MailboxStatus, error)
	ListSet(ctx context.Context, uids []uint32) ([]imap.Envelope, imap.MailboxStatus, error)
	// Survey finds the mail already in the mailbox that matches opts and
	// where new mail starts, changing nothing.
	Survey(ctx context.Context, opts imap.SurveyOptions) (imap.History, error)
	// Fetch streams the whole message to w; FetchHeader only its header.
	// FetchMany streams several whole messages in one command and returns
	// the UIDs that no longer exist; FetchHeader reads one message's header.
	FetchMany(ctx context.Context, uids []uint32, w func(uid uint32, r io.Reader) error) ([]uint32, error)
	FetchHeader(ctx context.Context, uid uint32, w func(io.Reader) error) error
	// MarkProcessedSet, MarkProcessed and Quarantine are idempotent: a UID
	// already gone is done.
	MarkProcessedSet(ctx context.Context, uids []uint32) error
	MarkProcessed(ctx context.Context, uid uint32) error
	Quarantine(ctx context.Context, uid uint32) error
	// WaitForMail returns when new mail may have arrived (true) or after
	// maxWait (false).
	WaitForMail(ctx context.Context, maxWait time.Duration) (bool, error)
	Connected() bool
	Close() error
}

// Tickets is what the intake asks of TaskIP. Non-idempotent writes return an
// error matching taskip.ErrOutcomeUnknown when they may have been applied.
type Tickets interface {
	CreateTicket(ctx context.Context, f taskip.TicketFields) (taskip.Ticket, error)
	GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error)
	ListTickets(ctx context.Context, p taskip.ListParams) (taskip.TicketPage, error)
	AddReply(ctx context.Context, id taskip.ID, f taskip.AddReplyFields) (taskip.Reply, error)
	AddNote(ctx context.Context, uuid, text string) (taskip.Note, error)
	SetStatus(ctx context.Context, uuid string, s taskip.Status, notes string) (*taskip.Ticket, error)
	UploadAttachments(ctx context.Context, id taskip.ID, files []taskip.File, description string) (taskip.UploadResult, error)
	ListAttachments(ctx context.Context, id taskip.ID) (taskip.AttachmentList, error)
	SearchContacts(ctx context.Context, p taskip.SearchParams) (taskip.ContactPage, error)
	CreateContact(ctx context.Context, f taskip.ContactFields) (taskip.Contact, error)
	SearchTeamMembers(ctx context.Context, p taskip.SearchParams) (taskip.TeamMemberPage, error)
}

// IntakeEvents receives what the intake did, e.g. to post it to Slack at
// once; it must not block. Optional.
type IntakeEvents interface {
	// TicketCreated hands over the mail's conversation too: the ticket's
	// user may be a catch-all, and the intake records the conversation
	// only with its whole batch.
	TicketCreated(t taskip.Ticket, c state.Conversation)
	TicketChanged(id taskip.ID)
}

// IntakeConfig configures the intake flow.
type IntakeConfig struct {
	Inbox   Inbox
	Tickets Tickets
	Store   *state.Store
	Events  IntakeEvents
	// Outbox queues acknowledgements of new tickets; nil sends none.
	Outbox *Outbox
	// Alerts tells the agents' channel about mail that could not be
	// imported; nil leaves it to the log.
	Alerts  *Alerts
	Logger  *slog.Logger
	Metrics *IntakeMetrics

	Mailbox       string // the cursor's name; default INBOX
	FailedMailbox string // where quarantined mail goes, for the alert's text; "" flags it in place
	Address       string // support address: replies come to address+<uuid>@
	SubjectTag    string
	PollSchedule  string // cron spec; the fallback poll and IDLE watchdog
	IDLE          bool

	MaxMessageBytes int64
	SpoolDir        string
	BatchSize       int // messages per IMAP listing; default 100
	// WriteConcurrency is how many conversations are written to TaskIP
	// at once (default 8; 1 writes in UID order, one at a time).
	WriteConcurrency int
	// BatchBytes bounds the mail one batch holds in memory (by RFC822.SIZE,
	// bodies over MaxMessageBytes counted at that); a batch has at least
	// one message. Default 8 MiB; two batches are in memory at once.
	BatchBytes        int64
	MaxTicketsPerHour int // per sender; default 20
	AllowedListIDs    []string

	// ImportExisting is what the first start for a mailbox (no cursor yet)
	// does with the mail already in it: ImportUnseen (the default),
	// ImportNone or ImportAll. A mailbox with a cursor ignores it.
	ImportExisting string
	// ImportWindow: with ImportUnseen, and after a UIDVALIDITY change, mail
	// the server received longer ago than this is history. Default 168h.
	ImportWindow time.Duration
	// Authentication decides whether a sender's From is believed; the
	// zero value believes it, as mail always did.
	Authentication SenderAuthentication
	// AcknowledgeUnauthenticated: with Authentication on, also acknowledge
	// senders it could not check. A failing sender never is.
	AcknowledgeUnauthenticated bool
	// ReplyKey signs reply addresses; mail that carries one answers ours.
	ReplyKey []byte
	// AcknowledgeMaxAge: a new ticket is acknowledged only when its mail
	// was received at most this long before the intake read it. Default 24h.
	AcknowledgeMaxAge time.Duration

	Senders        map[string]int64 // static email -> user id
	DefaultUserID  int64
	LookupContacts bool
	CreateContacts bool
	AgentID        int64 // created_by of new tickets

	// ItemTimeout bounds the work on one message, which runs to its end even
	// when shutdown begins: the item in flight is finished.
	ItemTimeout time.Duration // default 2m
	Now         func() time.Time
}

// Intake turns mail into tickets, replies and notes (README "Mail intake").
type Intake struct {
	cfg       IntakeConfig
	log       *slog.Logger
	threading *mapping.Threading
	screening mapping.Screening
	schedule  cron.Schedule
	metrics   *IntakeMetrics
	contacts  contactDirectory
	fresh     freshTickets
}

// NewIntake validates the configuration.
func NewIntake(cfg IntakeConfig) (*Intake, error) {
	if cfg.Inbox == nil || cfg.Tickets == nil || cfg.Store == nil {
		return nil, errors.New("intake: inbox, tickets and store are required")
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	if cfg.PollSchedule == "" {
		cfg.PollSchedule = "@every 1m"
	}
	if cfg.WriteConcurrency <= 0 {
		cfg.WriteConcurrency = 8
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 8 << 20
	}
	if cfg.MaxTicketsPerHour == 0 {
		cfg.MaxTicketsPerHour = 20
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 25 << 20
	}
	if cfg.ItemTimeout <= 0 {
		cfg.ItemTimeout = 2 * time.Minute
	}
	switch cfg.ImportExisting {
	case "", ImportUnseen, ImportNone, ImportAll:
	default:
		return nil, fmt.Errorf("intake: import of existing mail %q: want %s, %s or %s", cfg.ImportExisting, ImportUnseen, ImportNone, ImportAll)
	}
	if cfg.ImportWindow <= 0 {
		cfg.ImportWindow = 7 * 24 * time.Hour
	}
	if cfg.AcknowledgeMaxAge <= 0 {
		cfg.AcknowledgeMaxAge = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SubjectTag == "" {
		cfg.SubjectTag = mapping.DefaultSubjectTag
	}
	th, err := mapping.NewThreading(cfg.Address, cfg.SubjectTag)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	if cfg.ReplyKey != nil {
		th = th.WithReplyKey(cfg.ReplyKey)
	}
	sched, err := cron.ParseStandard(cfg.PollSchedule)
	if err != nil {
		return nil, fmt.Errorf("intake: poll schedule %q: %w", cfg.PollSchedule, err)
	}
	m := cfg.Metrics
	if m == nil {
		m = NewIntakeMetrics(nil)
	}
	return &Intake{
		cfg:       cfg,
		log:       cfg.Logger.With("flow", "intake"),
		threading: th,
		screening: mapping.Screening{OurAddresses: []string{cfg.Address}, AllowedListIDs: cfg.AllowedListIDs},
		schedule:  sched,
		metrics:   m,
	}, nil
}

// Run connects, processes the mailbox, and waits for new mail (IDLE, and a
// poll on the schedule as fallback and watchdog) until ctx ends. Connection
// failures are retried with capped backoff; Run returns nil on shutdown.
func (in *Intake) Run(ctx context.Context) error {
	defer in.cfg.Inbox.Close()
	if in.cfg.ImportExisting != "" {
		if cur, err := in.cfg.Store.Cursor(in.cfg.Mailbox); err == nil && cur.UIDValidity != 0 {
			in.log.Info("--import-existing applies to a first start only; this mailbox has been read before, so it is ignored",
				"mailbox", in.cfg.Mailbox, "import_existing", in.cfg.ImportExisting)
		}
	}
	backoff := retry.Backoff{Min: time.Second, Max: 2 * time.Minute}
	for ctx.Err() == nil {
		if !in.cfg.Inbox.Connected() {
			if _, err := in.cfg.Inbox.Connect(ctx); err != nil {
				in.metrics.connected.Set(0)
				if ctx.Err() != nil {
					return nil // shutting down is not a failure to connect
				}
				wait := backoff.Next()
				var tokenErr *mail.TokenError
				switch {
				case errors.As(err, &tokenErr):
					// The identity provider refused: its words and the key
					// to change are in err. A replaced secret file is read
					// at the next attempt.
					in.log.Error("imap sign-in: no OAuth token", "err", err, "retry_in", wait)
				case errors.Is(err, imap.ErrAuth):
					// Only a configuration change fixes this: a person must act.
					in.log.Error("imap login refused; check mail.imap.username and password (or, with OAuth, what the error says)", "err", err, "retry_in", wait)
				default:
					in.log.Warn("imap connect failed", "err", err, "retry_in", wait)
				}
				if retry.Sleep(ctx, wait) != nil {
					return nil
				}
				continue
			}
			in.log.Info("imap connected", "mailbox", in.cfg.Mailbox)
		}
		in.metrics.connected.Set(1)
		if err := in.Cycle(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := backoff.Next()
			if errors.Is(err, state.ErrCommit) {
				// A full disk costs nothing to retry (the write is small and
				// fails fast), and the mail waits until it is recorded:
				// keep the wait short so it flows again soon after.
				wait = min(wait, commitRetry)
			}
			in.log.Warn("intake cycle stopped; retrying", "err", err, "retry_in", wait)
			if !in.cfg.Inbox.Connected() {
				in.metrics.connected.Set(0)
			}
			if retry.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		backoff.Reset()
		in.wait(ctx)
	}
	return nil
}

// wait blocks until new mail, the next poll tick or shutdown. IDLE is
// re-issued at every tick and before 29 minutes (RFC 2177 servers drop idle
// clients after 30), which also serves as a watchdog of the connection.
func (in *Intake) wait(ctx context.Context) {
	now := in.cfg.Now()
	untilTick := in.schedule.Next(now).Sub(now)
	if untilTick > 29*time.Minute {
		untilTick = 29 * time.Minute
	}
	if untilTick < 0 {
		untilTick = 0
	}
	if !in.cfg.IDLE {
		_ = retry.Sleep(ctx, untilTick)
		return
	}
	if _, err := in.cfg.Inbox.WaitForMail(ctx, untilTick); err != nil && ctx.Err() == nil {
		in.log.Warn("imap wait failed", "err", err)
	}
}
