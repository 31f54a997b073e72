package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// AgentTickets is what agents' Slack actions ask of TaskIP.
type AgentTickets interface {
	GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error)
	FindByUUID(ctx context.Context, uuid string) (taskip.Ticket, error)
	ListTickets(ctx context.Context, p taskip.ListParams) (taskip.TicketPage, error)
	SetStatus(ctx context.Context, uuid string, s taskip.Status, notes string) (*taskip.Ticket, error)
	SetPriority(ctx context.Context, uuid string, p taskip.Priority) (*taskip.Ticket, error)
	AddNote(ctx context.Context, uuid, text string) (taskip.Note, error)
	DeleteNote(ctx context.Context, uuid string, noteID taskip.ID) error
	Assign(ctx context.Context, id taskip.ID, f taskip.AssignFields) (taskip.AssignResult, error)
	Reply(ctx context.Context, uuid string, f taskip.ReplyFields) (taskip.Reply, error)
	SearchTeamMembers(ctx context.Context, p taskip.SearchParams) (taskip.TeamMemberPage, error)
	UploadAttachments(ctx context.Context, id taskip.ID, files []taskip.File, description string) (taskip.UploadResult, error)
}

// SlackSide is what the commands flow needs of Slack besides the inbound
// requests: who a user is, a way to answer, and the ticket threads.
type SlackSide interface {
	// UserEmail returns the email of a Slack user (users.info).
	UserEmail(ctx context.Context, userID string) (email, name string, err error)
	// Respond answers through a request's response_url.
	Respond(ctx context.Context, responseURL string, r slack.Reply) error
	PostInThread(ctx context.Context, channel, threadTS string, m slack.Message) (string, error)
	// OpenFile streams a file shared in Slack.
	OpenFile(ctx context.Context, url string) (io.ReadCloser, error)
}

// CommandsConfig configures the flow that turns agents' Slack actions into
// TaskIP calls (README "Slack commands and threads").
type CommandsConfig struct {
	Tickets AgentTickets
	Slack   SlackSide
	Store   *state.Store
	Events  IntakeEvents // the watch, to refresh the parent after a change
	Outbox  *Outbox      // mails replies to the customer; nil mails nothing
	// Channel is where ticket threads live. A message in a thread there
	// that is not known yet waits briefly for the watch to record it.
	Channel       string
	Metrics       *CommandsMetrics
	Logger        *slog.Logger
	Command       string           // "/ticket"
	Agents        map[string]int64 // Slack user -> team member id, overriding the email match
	ReplyPrefix   string
	ThreadDefault mapping.ThreadKind
	BotUserID     string // our own bot user, whose messages are ignored
	Workers       int    // default 4
	Now           func() time.Time
}

// Commands runs agents' slash commands, thread messages and button clicks.
// The Handle methods only queue work, so Slack gets its answer within its
// 3 seconds; Run's workers do the calls and report back.
type Commands struct {
	cfg  CommandsConfig
	log  *slog.Logger
	jobs chan func(context.Context)
	// threads are the thread messages, one queue per worker: a thread's
	// messages always go to the same one, so an agent's quick "Step 1",
	// "Step 2" reach TaskIP and the customer in that order.
	threads []chan func(context.Context)
	// confirms are thread confirmations: Slack paces writes to a channel at
	// one a second, so they get their own queue instead of holding the
	// workers that make TaskIP calls.
	confirms chan func(context.Context)
}

var _ slack.Handler = (*Commands)(nil)

// NewCommands validates the configuration.
func NewCommands(cfg CommandsConfig) (*Commands, error) {
	if cfg.Tickets == nil || cfg.Slack == nil || cfg.Store == nil {
		return nil, errors.New("commands: tickets, slack and store are required")
	}
	if cfg.Command == "" {
		cfg.Command = "/ticket"
	}
	if cfg.ThreadDefault == "" {
		cfg.ThreadDefault = mapping.ThreadNote
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewCommandsMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Commands{cfg: cfg, log: cfg.Logger.With("flow", "commands"),
		jobs: make(chan func(context.Context), 256), confirms: make(chan func(context.Context), 256)}
	for range cfg.Workers {
		c.threads = append(c.threads, make(chan func(context.Context), 256))
	}
	return c, nil
}

// Run works the queue until ctx ends, then finishes the jobs in flight.
func (c *Commands) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// work takes jobs from shared and from own (nil: none of its own).
	work := func(shared, own chan func(context.Context)) {
		defer wg.Done()
		for {
			var job func(context.Context)
			select {
			case <-ctx.Done():
				return
			case job = <-shared:
			case job = <-own:
			}
			// A job started is finished, shutdown or not.
			jobCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			job(jobCtx)
			cancel()
		}
	}
	for i := range c.cfg.Workers {
		wg.Add(1)
		go work(c.jobs, c.threads[i])
	}
	wg.Add(1)
	go work(c.confirms, nil)
	wg.Wait()
	return nil
}

// enqueue hands work to Run; a full queue is refused rather than blocking
// Slack's request past its deadline.
func (c *Commands) enqueue(job func(context.Context)) bool {
	select {
	case c.jobs <- job:
		return true
	default:
		return false
	}
}

var busyReply = slack.Reply{Text: "ticketsync is busy; please try again in a moment.", Ephemeral: true}

// HandleCommand parses the command at once (usage errors are answered in the
// acknowledgement) and queues the work.
func (c *Commands) HandleCommand(_ context.Context, cmd slack.Command) slack.Reply {
	parsed, err := mapping.ParseSlashCommand(cmd.Text)
	if err != nil {
		return slack.Reply{Text: err.Error(), Ephemeral: true}
	}
	if parsed.Verb == mapping.VerbHelp {
		return slack.Reply{Text: mapping.CommandHelp(c.cfg.Command), Ephemeral: true}
	}
	if !c.enqueue(func(ctx context.Context) { c.runCommand(ctx, cmd, parsed) }) {
		return busyReply
	}
	return slack.Reply{Text: "Working on it…", Ephemeral: true}
}

// HandleMessage queues a human message in a ticket thread. Everything else
// (bots, our own posts, edits, deletions, channel chatter, retries of an
// event already seen) is dropped here.
func (c *Commands) HandleMessage(_ context.Context, e slack.MessageEvent) {
	if e.BotID != "" || e.OurBlocks || (c.cfg.BotUserID != "" && e.User == c.cfg.BotUserID) || e.User == "" {
		return
	}
	if e.Edited || (e.Subtype != "" && e.Subtype != "file_share" && e.Subtype != "thread_broadcast") {
		return
	}
	if e.ThreadTS == "" || e.ThreadTS == e.TS {
		return // not in a thread
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(e.Channel + "/" + e.ThreadTS))
	queue := c.threads[h.Sum32()%uint32(len(c.threads))]
	select {
	case queue <- func(ctx context.Context) { c.runThreadMessage(ctx, e) }:
	default:
		// Slack has its 200 and will not resend: say so loudly.
		c.log.Error("commands queue full: thread message not saved", "channel", e.Channel, "thread", e.ThreadTS, "event", e.EventID)
	}
}

// HandleAction queues a click on a parent message's menus or button.
func (c *Commands) HandleAction(ctx context.Context, a slack.BlockAction) {
	if !c.enqueue(func(ctx context.Context) { c.runAction(ctx, a) }) {
		c.log.Error("commands queue full: button click not applied", "action", a.ActionID, "user", a.UserID)
		go c.report(ctx, a.ResponseURL, busyReply.Text)
	}
}

// report answers the agent through response_url; failures are logged.
func (c *Commands) report(ctx context.Context, url, text string) {
	if url == "" {
		return
	}
	if err := c.cfg.Slack.Respond(ctx, url, slack.Reply{Text: text, Ephemeral: true}); err != nil {
		c.log.Warn("slack response not delivered", "err", err)
	}
}

// agentError is shown to a Slack user who is not a TaskIP team member.
const agentRefusal = "You are not a TaskIP team member (no team member has your Slack email), so ticketsync cannot act for you. Ask an admin to add you to slack.agents."

var errNotAgent = errors.New("not an agent")

// errUnknownSlackUser: Slack has no such user for this app (deleted, from
// another workspace, or hidden from it).
var errUnknownSlackUser = errors.New("unknown Slack user")

// agent maps a Slack user to a TaskIP team member: slack.agents first, then
// users.info's email matched against TaskIP team members (cached a day).
func (c *Commands) agent(ctx context.Context, userID string) (int64, error) {
	if id, ok := c.cfg.Agents[userID]; ok {
		return id, nil
	}
	var a state.MemberCache
	var ok bool
	if err := c.cfg.Store.View(func(tx *state.Tx) (err error) { a, ok, err = tx.TeamMemberBySlackUser(userID); return err }); err != nil {
		return 0, err
	} else if ok && c.cfg.Now().Sub(a.At) < agentCacheTTL {
		if a.MemberID == 0 {
			return 0, errNotAgent
		}
		return a.MemberID, nil
	}
	email, _, err := c.cfg.Slack.UserEmail(ctx, userID)
	var apiErr *slack.APIError
	if errors.As(err, &apiErr) && (apiErr.Code == "user_not_found" || apiErr.Code == "users_not_found" || apiErr.Code == "user_not_visible") {
		return 0, fmt.Errorf("slack user %s: %w: %w", userID, errUnknownSlackUser, err)
	}
	if err != nil {
		return 0, fmt.Errorf("slack user %s: %w", userID, err)
	}
	a = state.MemberCache{At: c.cfg.Now()}
	if email != "" {
		id, err := searchExact(ctx, email, func(p taskip.SearchParams) ([]taskip.TeamMember, *taskip.PageInfo, error) {
			page, err := c.cfg.Tickets.SearchTeamMembers(ctx, p)
			return page.Members, page.Meta, err
		}, func(m taskip.TeamMember) (string, taskip.ID) { return m.Email, m.ID })
		if err != nil {
			return 0, fmt.Errorf("look up team member %s: %w", email, err)
		}
		a.MemberID = int64(id)
	}
	if err := c.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetTeamMemberBySlackUser(userID, a) }); err != nil {
		return 0, err
	}
	if a.MemberID == 0 {
		return 0, errNotAgent
	}
	return a.MemberID, nil
}

// resolve returns the ticket's id and uuid from either.
func (c *Commands) resolve(ctx context.Context, ref mapping.TicketRef) (taskip.ID, string, error) {
	if ref.UUID == "" {
		// The watch's snapshot knows the uuid of every ticket it has seen,
		// which saves a TaskIP round trip per command.
		var snap mapping.Snapshot
		var ok bool
		if err := c.cfg.Store.View(func(tx *state.Tx) (err error) { ok, err = tx.Snapshot(ref.ID, &snap); return err }); err == nil && ok && snap.UUID != "" {
			return taskip.ID(ref.ID), snap.UUID, nil
		}
		t, err := c.cfg.Tickets.GetTicket(ctx, taskip.ID(ref.ID))
		if err != nil {
			return 0, "", err
		}
		return t.ID, t.UUID, nil
	}
	var id int64
	var ok bool
	if err := c.cfg.Store.View(func(tx *state.Tx) (err error) { id, ok, err = tx.TicketID(ref.UUID); return err }); err != nil {
		return 0, "", err
	} else if ok {
		return taskip.ID(id), ref.UUID, nil
	}
	t, err := c.cfg.Tickets.FindByUUID(ctx, ref.UUID)
	if err != nil {
		return 0, "", err
	}
	return t.ID, t.UUID, c.cfg.Store.Update(func(tx *state.Tx) error { return tx.SetTicketID(ref.UUID, int64(t.ID)) })
}

func (c *Commands) changed(id taskip.ID) {
	if c.cfg.Events != nil {
		c.cfg.Events.TicketChanged(id)
	}
}

// userMessage turns a failed call into one sentence for the agent; the
// details (request, status, the error chain) go to the log, not to Slack.
func userMessage(err error) string {
	var apiErr *taskip.APIError
	switch {
	case errors.Is(err, errNotAgent):
		return agentRefusal
	case errors.Is(err, errUnknownSlackUser):
		return "Slack does not tell ticketsync who you are (your user is unknown or not visible to the app), so it cannot act for you."
	case errors.Is(err, taskip.ErrNotFound):
		return "No such ticket (or note) in TaskIP."
	case errors.Is(err, taskip.ErrConflict):
		return "TaskIP refused: the ticket is closed. Reopen it first (status <ticket> open)."
	case errors.Is(err, taskip.ErrOutcomeUnknown):
		return "TaskIP did not confirm the change; check the ticket before trying again."
	case errors.Is(err, taskip.ErrValidation) && errors.As(err, &apiErr) && apiErr.Message != "":
		return "TaskIP refused the change: " + strings.TrimSuffix(apiErr.Message, ".") + "."
	case errors.Is(err, taskip.ErrValidation):
		return "TaskIP refused the change as invalid."
	}
	return "TaskIP could not be reached or failed, so nothing was changed; please try again in a minute."
}

// outcomeOf is the metrics outcome of an agent's request: refused when the
// request itself cannot be done (who asked, or what was asked), failed
// when ticketsync or TaskIP could not do it.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errNotAgent), errors.Is(err, errUnknownSlackUser),
		errors.Is(err, taskip.ErrNotFound), errors.Is(err, taskip.ErrConflict), errors.Is(err, taskip.ErrValidation):
		return "refused"
	}
	return "failed"
}
