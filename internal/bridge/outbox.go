package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Mailer delivers one message to the submission server; beforeEnd runs
// after the data and before the dot that commits it (mail.Sender.Deliver).
// The error matches one of mail.ErrPermanent, mail.ErrTransient and
// mail.ErrOutcomeUnknown.
type Mailer interface {
	Deliver(ctx context.Context, m mime.Outgoing, beforeEnd func() error) error
}

// ThreadPoster tells agents in a ticket's Slack thread what became of a
// mail: nobody else would see it fail. Optional.
type ThreadPoster interface {
	PostInThread(ctx context.Context, channel, threadTS string, m slack.Message) (string, error)
}

// SharedFiles opens a file an agent shared in Slack, to attach it to the
// mail when it is sent. Optional.
type SharedFiles interface {
	OpenFile(ctx context.Context, url string) (io.ReadCloser, error)
}

// OutboxConfig configures the outbound mail flow.
type OutboxConfig struct {
	Mailer  Mailer
	Store   *state.Store
	Threads ThreadPoster
	Files   SharedFiles
	Logger  *slog.Logger
	Metrics *OutboxMetrics

	From       mime.Address // mail.smtp.from
	Address    string       // support address: Reply-To is address+<uuid>@domain
	SubjectTag string

	AcknowledgeNew   bool
	SendAgentReplies bool
	// MaxAcknowledgementsPerHour caps acknowledgements to all senders
	// together (default 60): forged senders by the hundred cannot turn the
	// support address into a spam source. Beyond it none are sent, and
	// Alerts tells the channel once an hour.
	MaxAcknowledgementsPerHour int
	Alerts                     *Alerts
	// ReplyKey signs the Reply-To addresses (address+<uuid>.<token>@).
	ReplyKey []byte

	// MinBackoff and MaxBackoff bound the wait between attempts after a
	// temporary failure (default 2s and 10m); after GiveUpAfter (default
	// 48h, well inside what submission servers queue for) the message is
	// failed and the agents are told.
	MinBackoff, MaxBackoff time.Duration
	GiveUpAfter            time.Duration
	// AckInterval: a sender gets at most one acknowledgement per interval
	// (default 1h), so two mail robots cannot keep each other busy.
	AckInterval time.Duration
	// AttemptTimeout bounds one delivery (default 30s). A delivery runs on
	// when shutdown begins, for at most DrainTimeout more (default 6s, inside
	// the daemon's shutdown budget).
	AttemptTimeout time.Duration
	DrainTimeout   time.Duration
	Now            func() time.Time
}

// Outbox sends customers the mail that tickets cause: acknowledgements and
// agents' replies (README "Outbound mail"). What to send is written to the
// state file in the same transaction as the action that causes it; a
// worker sends it, so nothing is lost across restarts, and an entry is
// closed in state as soon as the server took it, so nothing goes twice.
type Outbox struct {
	cfg       OutboxConfig
	log       *slog.Logger
	threading *mapping.Threading
	metrics   *OutboxMetrics
	wake      chan struct{}
	// sentUnrecorded are mails the server took whose closing commit
	// failed; Run records them again. Owned by Run's goroutine.
	sentUnrecorded []state.OutboxEntry
	// commitFailing is set when this round could not record "sending":
	// Run then waits commitRetry instead of retrying the due mail at once.
	commitFailing bool
}

// NewOutbox validates the configuration.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	if cfg.Mailer == nil || cfg.Store == nil {
		return nil, errors.New("outbox: mailer and store are required")
	}
	if cfg.From.Email == "" {
		return nil, errors.New("outbox: a from address is required")
	}
	if cfg.SubjectTag == "" {
		cfg.SubjectTag = mapping.DefaultSubjectTag
	}
	th, err := mapping.NewThreading(cfg.Address, cfg.SubjectTag)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if cfg.ReplyKey != nil {
		th = th.WithReplyKey(cfg.ReplyKey)
	}
	if cfg.MaxAcknowledgementsPerHour <= 0 {
		cfg.MaxAcknowledgementsPerHour = 60
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 48 * time.Hour
	}
	if cfg.AckInterval <= 0 {
		cfg.AckInterval = time.Hour
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 30 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 6 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = NewOutboxMetrics(nil)
	}
	return &Outbox{cfg: cfg, log: log.With("flow", "outbox"), threading: th, metrics: m, wake: make(chan struct{}, 1)}, nil
}

// Kinds of outbound mail.
const (
	kindAcknowledgement = "acknowledgement"
	kindReply           = "reply"
)

// conversation is the mail side of a ticket (state.Conversation).
type conversation = state.Conversation

// requesterOf is whose mail opened the ticket, as TaskIP names a person.
func requesterOf(c conversation) taskip.Person {
	name, email := c.Requester()
	return taskip.Person{Name: name, Email: email}
}

// conversationOf reads a ticket's conversation; ok is false for a ticket
// that never had mail.
func conversationOf(tx *state.Tx, uuid string) (conversation, bool, error) {
	return tx.Conversation(uuid)
}

// storedConversation reads a ticket's conversation in a transaction of
// its own.
func storedConversation(st *state.Store, uuid string) (c conversation, ok bool, err error) {
	err = st.View(func(tx *state.Tx) error {
		c, ok, err = tx.Conversation(uuid)
		return err
	})
	return c, ok, err
}

// noteCustomerMail records the customer's latest mail on a ticket, keeping
// who opened it.
func noteCustomerMail(tx *state.Tx, uuid string, c conversation) error {
	return tx.NoteCustomerMail(uuid, c)
}

// outboxMessage is a queued mail exactly as it will be written, so every
// attempt, before and after a restart, sends the same message.
type outboxMessage struct {
	From       mime.Address `json:"from"`
	To         mime.Address `json:"to"`
	ReplyTo    string       `json:"reply_to,omitempty"`
	Subject    string       `json:"subject"`
	InReplyTo  string       `json:"in_reply_to,omitempty"`
	References []string     `json:"references,omitempty"`
	Text       string       `json:"text"`
	AutoReply  bool         `json:"auto_reply,omitempty"`
	Date       time.Time    `json:"date"`
	Files      []ReplyFile  `json:"files,omitempty"`
}

// ReplyFile is a Slack file attached to a reply, fetched when sent.
type ReplyFile struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	URL         string `json:"url"`
}

// enqueue writes m to the outbox inside the caller's transaction.
func (o *Outbox) enqueue(tx *state.Tx, kind string, t mapping.Ticket, m outboxMessage) error {
	m.From = o.cfg.From
	m.ReplyTo = o.threading.ReplyAddress(t.UUID)
	m.Subject = o.threading.Tag(m.Subject, t.ID, t.UUID)
	m.Date = o.cfg.Now().UTC().Truncate(time.Second)
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("outbox: encode %s for ticket %d: %w", kind, t.ID, err)
	}
	e := state.OutboxEntry{
		MessageID: mime.NewMessageID(domainOf(o.cfg.From.Email)), Kind: kind,
		TicketUUID: t.UUID, TicketID: t.ID, Message: raw,
	}
	if _, err := tx.Enqueue(e); err != nil {
		return fmt.Errorf("outbox: queue %s for ticket %d: %w", kind, t.ID, err)
	}
	return nil
}

func domainOf(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	return domain
}

// Acknowledge queues the acknowledgement of a ticket made from mail, unless
// acknowledgements are off or the sender had one within AckInterval. Call
// it in the transaction that records the ticket; a nil Outbox does nothing.
func (o *Outbox) Acknowledge(tx *state.Tx, t mapping.Ticket, c state.Conversation) error {
	if o == nil || !o.cfg.AcknowledgeNew || c.Email == "" {
		return nil
	}
	last, _, err := tx.LastAcknowledged(c.Email)
	if err != nil {
		return err
	}
	now := o.cfg.Now()
	if !last.IsZero() && now.Sub(last) < o.cfg.AckInterval {
		o.metrics.acksSuppressed.Inc()
		return nil
	}
	if err := tx.SetAcknowledged(c.Email, now); err != nil {
		return err
	}
	n, err := tx.CountAcknowledgement(now)
	if err != nil {
		return err
	}
	if n > o.cfg.MaxAcknowledgementsPerHour {
		o.metrics.acksSuppressed.Inc()
		hour := now.UTC().Truncate(time.Hour)
		o.log.Warn("acknowledgement not sent: the hourly cap is reached", "ticket", t.ID, "cap", o.cfg.MaxAcknowledgementsPerHour)
		return o.cfg.Alerts.Queue(tx, "acknowledgement-cap:"+hour.Format(time.RFC3339), fmt.Sprintf(
			":warning: More than %d acknowledgements within an hour: no more are sent until the rate drops (mail.max_acknowledgements_per_hour). "+
				"A flood of new senders, often with forged From lines, causes this; tickets are still made.", o.cfg.MaxAcknowledgementsPerHour))
	}
	subject, text := mapping.Acknowledgement(t.ID, c.Subject)
	in, refs := c.Thread()
	// No display name: a forged From's name would be the first thing the
	// person it names reads from us.
	return o.enqueue(tx, kindAcknowledgement, t, outboxMessage{
		To: mime.Address{Email: c.Email}, Subject: subject, Text: text,
		InReplyTo: in, References: refs, AutoReply: true,
	})
}

// AgentReply is a reply an agent wrote, to be mailed to the customer.
type AgentReply struct {
	Ticket  mapping.Ticket
	ReplyID int64  // TaskIP's id of the reply, 0 when unknown
	Origin  string // slack or taskip
	Text    string
	Files   []ReplyFile
	// Customer and Subject stand in when the ticket never had mail.
	Customer mime.Address
	Subject  string
}

// Reply queues an agent's reply for the customer, once per TaskIP reply,
// in the caller's transaction. It reports whether a mail was queued (not
// when agent replies are not mailed, the reply was mailed before, or
// nobody is known to mail it to). A nil Outbox does nothing.
func (o *Outbox) Reply(tx *state.Tx, r AgentReply) (bool, error) {
	if o == nil || !o.cfg.SendAgentReplies || strings.TrimSpace(r.Text) == "" {
		return false, nil
	}
	if r.ReplyID > 0 {
		done, err := tx.ReplyMailed(r.Ticket.ID, r.ReplyID)
		if err != nil || done {
			return false, err
		}
	}
	c, known, err := conversationOf(tx, r.Ticket.UUID)
	if err != nil {
		return false, err
	}
	if !known || c.Email == "" {
		c = conversation{Name: r.Customer.Name, Email: r.Customer.Email, Subject: r.Subject}
	}
	if c.Email == "" {
		// Not marked as mailed: whoever finds the reply with an address
		// later (the watch, after a failed lookup here) may still mail it.
		o.log.Warn("reply not mailed: the ticket has no customer address", "ticket", r.Ticket.ID)
		return false, nil
	}
	if r.ReplyID > 0 {
		if err := tx.MarkReplyMailed(r.Ticket.ID, r.ReplyID, r.Origin); err != nil {
			return false, err
		}
	}
	if c.Subject == "" {
		c.Subject = r.Subject
	}
	in, refs := c.Thread()
	err = o.enqueue(tx, kindReply, r.Ticket, outboxMessage{
		To: mime.Address{Name: c.Name, Email: c.Email}, Subject: mapping.ReplySubject(c.Subject),
		Text: r.Text, InReplyTo: in, References: refs, Files: r.Files,
	})
	return err == nil, err
}

// Wake makes the worker look at the queue now. It never blocks.
func (o *Outbox) Wake() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
