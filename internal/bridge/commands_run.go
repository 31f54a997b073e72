package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"github.com/ticketsync/ticketsync/internal/retry"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// runCommand performs a parsed slash command for an agent and reports the
// outcome through response_url.
func (c *Commands) runCommand(ctx context.Context, cmd slack.Command, p mapping.SlashCommand) {
	member, err := c.agent(ctx, cmd.UserID)
	text := ""
	if err == nil {
		text, err = c.execute(ctx, p, member)
	}
	if err != nil {
		text = c.refuseOrFail(ctx, "slash command", string(p.Verb), err)
	}
	c.cfg.Metrics.commands.WithLabelValues(string(p.Verb), outcomeOf(err)).Inc()
	c.report(ctx, cmd.ResponseURL, text)
}

// refuseOrFail logs an agent's request that did not succeed, at info for a
// refusal (the request's own fault) and at warn for a failure, unless the
// daemon is shutting down, and says it in one sentence for Slack.
func (c *Commands) refuseOrFail(ctx context.Context, what, verb string, err error) string {
	switch {
	case ctx.Err() != nil:
		c.log.Debug(what+" interrupted by shutdown", "verb", verb, "err", err)
	case outcomeOf(err) == "refused":
		c.log.Info(what+" refused", "verb", verb, "reason", err)
	default:
		c.log.Warn(what+" failed", "verb", verb, "err", err)
	}
	return userMessage(err)
}

// execute makes the TaskIP calls of one command and returns the answer.
func (c *Commands) execute(ctx context.Context, p mapping.SlashCommand, member int64) (string, error) {
	if p.Verb == mapping.VerbList {
		return c.list(ctx, p)
	}
	id, uuid, err := c.resolve(ctx, p.Ref)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("#%d", id)
	switch p.Verb {
	case mapping.VerbShow:
		t, err := c.cfg.Tickets.GetTicket(ctx, id)
		if err != nil {
			return "", err
		}
		conv, _, err := storedConversation(c.cfg.Store, t.UUID)
		if err != nil {
			return "", err
		}
		return showTicket(t, requesterOf(conv)), nil
	case mapping.VerbStatus:
		if _, err := c.cfg.Tickets.SetStatus(ctx, uuid, p.Status, p.Text); err != nil {
			return "", err
		}
		c.changed(id)
		return fmt.Sprintf("Ticket %s status: %s.", ref, p.Status.Label()), nil
	case mapping.VerbPriority:
		if _, err := c.cfg.Tickets.SetPriority(ctx, uuid, p.Priority); err != nil {
			return "", err
		}
		c.changed(id)
		return fmt.Sprintf("Ticket %s priority: %s.", ref, p.Priority.Label()), nil
	case mapping.VerbNote:
		n, err := c.cfg.Tickets.AddNote(ctx, uuid, mapping.PlainFromSlack(p.Text))
		if err != nil {
			return "", err
		}
		c.changed(id)
		return fmt.Sprintf("Note %d saved on ticket %s (internal, the customer does not see it).", n.ID, ref), nil
	case mapping.VerbNoteDelete:
		if err := c.cfg.Tickets.DeleteNote(ctx, uuid, taskip.ID(p.NoteID)); err != nil {
			return "", err
		}
		c.changed(id)
		return fmt.Sprintf("Note %d deleted from ticket %s.", p.NoteID, ref), nil
	case mapping.VerbAssign:
		to := p.AssigneeMemberID
		if p.AssigneeSlackUser != "" {
			m, err := c.agent(ctx, p.AssigneeSlackUser)
			if errors.Is(err, errNotAgent) {
				return fmt.Sprintf("<@%s> is not a TaskIP team member; nothing changed.", p.AssigneeSlackUser), nil
			}
			if err != nil {
				return "", err
			}
			to = m
		}
		res, err := c.cfg.Tickets.Assign(ctx, id, taskip.AssignFields{AssignedTo: taskip.ID(to), Reason: "assigned from Slack"})
		if err != nil {
			return "", err
		}
		c.changed(id)
		name := res.NewAssignee
		if name == "" {
			name = fmt.Sprintf("team member #%d", to)
		}
		return fmt.Sprintf("Ticket %s assigned to %s.", ref, mrkdwn.Escape(name)), nil
	case mapping.VerbReply:
		mailed, err := c.reply(ctx, int64(id), uuid, p.Text, nil)
		if err != nil {
			return "", err
		}
		c.changed(id)
		if mailed {
			return fmt.Sprintf("Reply sent on ticket %s; the customer sees it and gets it by email.", ref), nil
		}
		return fmt.Sprintf("Reply sent on ticket %s; the customer sees it.", ref), nil
	}
	return "", fmt.Errorf("unknown verb %q", p.Verb)
}

func (c *Commands) list(ctx context.Context, p mapping.SlashCommand) (string, error) {
	page, err := c.cfg.Tickets.ListTickets(ctx, taskip.ListParams{Status: p.ListStatus, Priority: p.ListPriority, Sort: "updated_at", Order: "desc", Limit: 20})
	if err != nil {
		return "", err
	}
	if len(page.Tickets) == 0 {
		return "No tickets match.", nil
	}
	requesters := make([]taskip.Person, len(page.Tickets))
	err = c.cfg.Store.View(func(tx *state.Tx) error {
		for i, t := range page.Tickets {
			conv, _, err := conversationOf(tx, t.UUID)
			if err != nil {
				return err
			}
			requesters[i] = requesterOf(conv)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, t := range page.Tickets {
		fmt.Fprintf(&b, "#%d [%s, %s] %s — %s\n", t.ID, t.Status.Label(), t.Priority.Label(),
			mrkdwn.Escape(mapping.CutRunes(t.Subject, 80)), mrkdwn.Escape(mapping.CustomerLabel(t.User, requesters[i])))
	}
	if page.Meta != nil && page.Meta.Total > len(page.Tickets) {
		fmt.Fprintf(&b, "…and %d more.", page.Meta.Total-len(page.Tickets))
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// showTicket renders a ticket; requester is whose mail opened it, if any.
func showTicket(t taskip.Ticket, requester taskip.Person) string {
	assignee := t.AssignedToName
	if assignee == "" {
		assignee = "nobody"
	}
	return fmt.Sprintf("#%d %s\nStatus: %s · Priority: %s · Customer: %s · Assignee: %s · Replies: %d\n%s",
		t.ID, mrkdwn.Escape(t.Subject), t.Status.Label(), t.Priority.Label(),
		mrkdwn.Escape(mapping.CustomerLabel(t.User, requester)), mrkdwn.Escape(assignee), t.ReplyCount,
		mrkdwn.CutText(mrkdwn.Escape(t.Description), 2500, ""))
}

// runThreadMessage makes a note (the default) or, with the reply prefix, a
// customer reply of a human message in a ticket thread, once per event, and
// confirms in the thread which it was.
func (c *Commands) runThreadMessage(ctx context.Context, e slack.MessageEvent) {
	tt, ok := c.threadTicket(ctx, e)
	if !ok {
		return // a thread that is not a ticket's
	}
	if fresh, err := c.claimEvent(e); err != nil || !fresh {
		if err == nil {
			c.cfg.Metrics.retries.Inc()
		}
		return
	}
	post := func(text string) {
		confirm := func(ctx context.Context) {
			if _, err := c.cfg.Slack.PostInThread(ctx, e.Channel, e.ThreadTS, slack.Message{Text: text, TicketUUID: tt.UUID}); err != nil {
				c.log.Warn("thread confirmation not posted", "err", err)
			}
		}
		select {
		case c.confirms <- confirm:
		default:
			c.log.Warn("thread confirmation dropped: queue full", "ticket", tt.ID)
		}
	}
	kind, body := mapping.ClassifyThreadMessage(e.Text, c.cfg.ReplyPrefix, c.cfg.ThreadDefault)
	if _, err := c.agent(ctx, e.User); err != nil {
		// Slack will not deliver this message again (its event is
		// claimed): the agent must hear that nothing was saved.
		c.cfg.Metrics.thread.WithLabelValues(string(kind), outcomeOf(err)).Inc()
		if outcomeOf(err) == "refused" {
			c.log.Info("thread message refused", "ticket", tt.ID, "reason", err)
			post(fmt.Sprintf("<@%s>: %s Nothing was saved.", e.User, userMessage(err)))
			return
		}
		c.log.Warn("thread message not saved: could not check the agent", "ticket", tt.ID, "err", err)
		post(fmt.Sprintf("<@%s>: Could not check that you are a TaskIP team member. Nothing was saved; please send it again in a minute.", e.User))
		return
	}
	if len(e.Files) > 0 {
		c.uploadShared(ctx, tt, e, post)
	}
	if body == "" {
		return
	}
	body = c.nameMentions(ctx, body)
	var err error
	switch kind {
	case mapping.ThreadReply:
		var mailed bool
		mailed, err = c.reply(ctx, tt.ID, tt.UUID, body, sharedFiles(e))
		if err == nil {
			how := " as a reply."
			if mailed {
				how = " as a reply, by email too."
			}
			post("Sent to " + c.customerOf(tt.ID) + how)
		}
	default:
		_, err = c.cfg.Tickets.AddNote(ctx, tt.UUID, mapping.PlainFromSlack(body))
		if err == nil {
			post(fmt.Sprintf("Note saved (internal). Start a message with %q to answer the customer.", c.cfg.ReplyPrefix))
		}
	}
	c.cfg.Metrics.thread.WithLabelValues(string(kind), outcomeOf(err)).Inc()
	if err != nil {
		post(c.refuseOrFail(ctx, "thread message", string(kind), err))
		return
	}
	c.changed(taskip.ID(tt.ID))
}

// bareMention is a user mention as the Events API sends it: an id only.
var bareMention = regexp.MustCompile(`<@([UW][A-Z0-9]+)>`)

// nameMentions labels bare mentions with the user's name (users.info), so
// TaskIP and the customer read "@David Chen", not a Slack id. A user
// Slack cannot name stays as written.
func (c *Commands) nameMentions(ctx context.Context, text string) string {
	return bareMention.ReplaceAllStringFunc(text, func(m string) string {
		id := m[2 : len(m)-1]
		if _, name, _ := c.cfg.Slack.UserEmail(ctx, id); name != "" {
			return "<@" + id + "|" + name + ">"
		}
		return m
	})
}

// reply makes an agent's customer reply in TaskIP and, in the transaction
// that records it, queues the email to the customer. It reports whether an
// email was queued.
//
// The reply is claimed before the TaskIP write, in a commit of its own:
// the ticket watch, which may find the reply in TaskIP before this flow
// records it, then leaves it to this flow instead of mailing it as one
// made in the web app. The claim is settled in the commit that queues the
// mail; one a crash leaves behind is finished (or dropped, with word in
// the thread) by the watch (finishClaims).
func (c *Commands) reply(ctx context.Context, id int64, uuid, text string, files []ReplyFile) (bool, error) {
	text = mapping.PlainFromSlack(text)
	ar := AgentReply{Ticket: mapping.Ticket{ID: id, UUID: uuid}, Origin: state.ReplyFromSlack, Text: text, Files: files}
	var claim state.ReplyClaim
	if c.cfg.Outbox != nil {
		work, err := json.Marshal(ar)
		if err != nil {
			return false, err
		}
		err = c.cfg.Store.Update(func(tx *state.Tx) (err error) {
			claim, err = tx.ClaimReply(state.ReplyClaim{TicketID: id, TicketUUID: uuid, Origin: state.ReplyFromSlack,
				TextSum: state.TextSum(text), Work: work})
			return err
		})
		if err != nil {
			return false, fmt.Errorf("claim reply on ticket %d: %w", id, err)
		}
	}
	r, err := c.cfg.Tickets.Reply(ctx, uuid, taskip.ReplyFields{Description: text})
	if err != nil {
		if c.cfg.Outbox != nil {
			_ = c.cfg.Store.Update(func(tx *state.Tx) error {
				if errors.Is(err, taskip.ErrOutcomeUnknown) {
					// Perhaps written: the watch looks in TaskIP at its
					// next poll and mails it once if so (finishClaims).
					return tx.AbandonReplyClaim(id, claim.ID)
				}
				return tx.SettleReplyClaim(id, claim.ID) // not written: nothing to claim
			})
		}
		return false, err
	}
	if c.cfg.Outbox == nil {
		return false, nil
	}
	ar.ReplyID = int64(r.ID)
	if !c.hasConversation(uuid) {
		// A ticket made in the web app: TaskIP knows the customer.
		t, err := c.cfg.Tickets.GetTicket(ctx, taskip.ID(id))
		if err != nil {
			c.log.Warn("customer of ticket unknown; reply not mailed", "ticket", id, "err", err)
		}
		ar.Customer = mime.Address{Name: t.User.Name, Email: t.User.Email}
		ar.Subject = t.Subject
	}
	var mailed bool
	err = c.cfg.Store.Update(func(tx *state.Tx) error {
		if err := tx.SettleReplyClaim(id, claim.ID); err != nil {
			return err
		}
		mailed, err = c.cfg.Outbox.Reply(tx, ar)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queue reply email for ticket %d: %w", id, err)
	}
	c.cfg.Outbox.Wake()
	return mailed, nil
}

func (c *Commands) hasConversation(uuid string) bool {
	conv, ok, err := storedConversation(c.cfg.Store, uuid)
	return err == nil && ok && conv.Email != ""
}

// sharedFiles are the files of a thread message, to attach to its email.
func sharedFiles(e slack.MessageEvent) []ReplyFile {
	var out []ReplyFile
	for _, f := range e.Files {
		if f.URLPrivateDownload != "" {
			out = append(out, ReplyFile{Name: f.Name, ContentType: f.Mimetype, URL: f.URLPrivateDownload})
		}
	}
	return out
}

// threadAppearance bounds the wait for a thread the watch has just posted:
// Slack can deliver an agent's first message in it before the watch has
// recorded the parent's ts.
const threadAppearance = 2 * time.Second

// threadTicket finds the ticket of a thread message's thread.
func (c *Commands) threadTicket(ctx context.Context, e slack.MessageEvent) (threadTicket, bool) {
	var tt threadTicket
	deadline := c.cfg.Now().Add(threadAppearance)
	for {
		var ok bool
		err := c.cfg.Store.View(func(tx *state.Tx) (err error) { tt, ok, err = tx.ThreadTicket(e.Channel, e.ThreadTS); return err })
		if err != nil {
			c.log.Warn("thread lookup failed", "err", err)
			return tt, false
		}
		if ok {
			return tt, true
		}
		if e.Channel != c.cfg.Channel || !c.cfg.Now().Before(deadline) {
			c.log.Debug("message in a thread that is not a ticket's", "channel", e.Channel, "thread", e.ThreadTS)
			return tt, false
		}
		if retry.Sleep(ctx, 50*time.Millisecond) != nil {
			return tt, false
		}
	}
}

// claimEvent records the event id, reporting whether it is new: Slack
// delivers an event again when it did not see our acknowledgement in time.
func (c *Commands) claimEvent(e slack.MessageEvent) (bool, error) {
	key := e.EventID
	if key == "" {
		key = "msg:" + e.Channel + ":" + e.TS
	}
	fresh := false
	err := c.cfg.Store.Update(func(tx *state.Tx) (err error) {
		fresh, err = tx.FirstSlackEvent(key, c.cfg.Now())
		return err
	})
	return fresh, err
}

// runAction applies a click on a parent message's controls.
func (c *Commands) runAction(ctx context.Context, a slack.BlockAction) {
	member, err := c.agent(ctx, a.UserID)
	if err != nil {
		c.cfg.Metrics.commands.WithLabelValues(a.ActionID, outcomeOf(err)).Inc()
		c.report(ctx, a.ResponseURL, c.refuseOrFail(ctx, "button or menu", a.ActionID, err))
		return
	}
	var p mapping.SlashCommand
	switch a.ActionID {
	case mapping.ActionSetStatus, mapping.ActionSetPriority:
		uuid, name, ok := strings.Cut(a.SelectedValue, "|")
		if !ok {
			return
		}
		p.Ref = mapping.TicketRef{UUID: uuid}
		if a.ActionID == mapping.ActionSetStatus {
			s, err := taskip.ParseStatus(name)
			if err != nil {
				return
			}
			p.Verb, p.Status = mapping.VerbStatus, s
		} else {
			pr, err := taskip.ParsePriority(name)
			if err != nil {
				return
			}
			p.Verb, p.Priority = mapping.VerbPriority, pr
		}
	case mapping.ActionAssignMe:
		p = mapping.SlashCommand{Verb: mapping.VerbAssign, Ref: mapping.TicketRef{UUID: a.Value}, AssigneeMemberID: member}
	default:
		return
	}
	text, err := c.execute(ctx, p, member)
	c.cfg.Metrics.commands.WithLabelValues(string(p.Verb), outcomeOf(err)).Inc()
	if err != nil {
		text = c.refuseOrFail(ctx, "button or menu", string(p.Verb), err)
	}
	c.report(ctx, a.ResponseURL, text)
}

// uploadShared streams the files shared in a thread message to the ticket.
// Slack's size is taken as the upload's declared length; should the download
// not match it, the upload fails rather than send a malformed body.
func (c *Commands) uploadShared(ctx context.Context, tt threadTicket, e slack.MessageEvent, post func(string)) {
	files := make([]taskip.File, 0, len(e.Files))
	names := make([]string, 0, len(e.Files))
	var spooled []func()
	defer func() {
		for _, remove := range spooled {
			remove()
		}
	}()
	for _, f := range e.Files {
		if f.URLPrivateDownload == "" {
			continue
		}
		u := f.URLPrivateDownload
		file := taskip.File{Name: f.Name, ContentType: f.Mimetype, Size: f.Size,
			Open: func() (io.ReadCloser, error) { return c.cfg.Slack.OpenFile(ctx, u) }}
		if f.Size <= 0 {
			var remove func()
			var err error
			if file, remove, err = spoolShared(file); err != nil {
				c.log.Warn("shared file not downloaded", "ticket", tt.ID, "file", f.Name, "err", err)
				post(fmt.Sprintf("Could not upload %s to the ticket: %s", f.Name, err))
				return
			}
			spooled = append(spooled, remove)
		}
		files = append(files, file)
		names = append(names, f.Name)
	}
	if len(files) == 0 {
		return
	}
	if _, err := c.cfg.Tickets.UploadAttachments(ctx, taskip.ID(tt.ID), files, "shared in Slack"); err != nil {
		c.log.Warn("shared files not uploaded", "ticket", tt.ID, "err", err)
		post(fmt.Sprintf("Could not upload %s to the ticket: %s", strings.Join(names, ", "), userMessage(err)))
		return
	}
	post(fmt.Sprintf("Uploaded to the ticket: %s.", strings.Join(names, ", ")))
	c.changed(taskip.ID(tt.ID))
}

// spoolShared downloads a shared file whose size Slack did not give into a
// temporary file: the upload must announce its length before sending, and
// measuring by a first download would fetch the file twice and could
// measure other bytes than the second one brings. Every attempt then reads
// the same spooled bytes. remove deletes the spool.
func spoolShared(f taskip.File) (spooled taskip.File, remove func(), err error) {
	rc, err := f.Open()
	if err != nil {
		return taskip.File{}, nil, fmt.Errorf("download %s: %w", f.Name, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "ticketsync-shared-*")
	if err != nil {
		return taskip.File{}, nil, fmt.Errorf("spool %s: %w", f.Name, err)
	}
	remove = func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, rc)
	if err != nil {
		remove()
		return taskip.File{}, nil, fmt.Errorf("download %s: %w", f.Name, err)
	}
	f.Size = n
	f.Open = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(tmp, 0, n)), nil }
	return f, remove, nil
}

// customerOf names the ticket's customer for a confirmation, from the
// watch's snapshot.
func (c *Commands) customerOf(id int64) string {
	var snap mapping.Snapshot
	var ok bool
	if err := c.cfg.Store.View(func(tx *state.Tx) (err error) { ok, err = tx.Snapshot(id, &snap); return err }); err == nil && ok && snap.Customer != "" {
		return mrkdwn.Escape(snap.Customer)
	}
	return "the customer"
}
