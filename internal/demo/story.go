package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// What the people in the story write.
const (
	storySubject = "Invoice PDF will not download"
	storyBody    = "Hello,\n\nsince this morning the invoice PDF for March will not download:\nthe browser shows a spinner and then nothing.\n\nJohn Smith\nAcme Corp"
	agentNote    = "Billing logs show the PDF renderer timing out for Acme; restarted it."
	agentReply   = "Hi John, the PDF renderer was stuck and is running again. Please try the download once more."
	customerBack = "Thanks, the download works now."
)

// story is the scenario's state: each step records what the next ones
// need (the ticket, the thread, the message ids).
type story struct {
	w          *World
	firstNewID int
	ticket     taskipfake.Ticket
	customerID string // the customer's first Message-ID
	parentTS   string
	replyID    string // Message-ID of the reply we mailed
	replySubj  string
	replyTo    string // where the customer's answer goes: the reply's Reply-To
	commandAck string // the slash command's immediate answer
}

// step is one line of the timeline. act starts it (nil: it is a further
// consequence of the previous act); check is polled until it returns the
// line to print, or an error saying what is still missing.
type step struct {
	title string
	act   func() error
	check func() (string, error)
}

func (s *story) steps() []step {
	return []step{
		{"a customer email becomes a ticket in TaskIP", s.customerWrites, s.ticketCreated},
		{"the ticket gets a Slack thread", nil, s.threadOpened},
		{"the customer gets an acknowledgement", nil, s.acknowledged},
		{"an agent's thread message becomes an internal note", s.agentWrites(agentNote), s.noteSaved},
		{"an agent's reply: message becomes a TaskIP reply", s.agentWrites("reply: " + agentReply), s.replySaved},
		{"the customer receives the reply by email", nil, s.replyMailed},
		{"the customer's answer lands on the same ticket", s.customerAnswers, s.answerSaved},
		{"the answer shows in the same Slack thread", nil, s.answerInThread},
		{"/ticket status resolves the ticket in TaskIP", s.agentResolves, s.resolved},
		{"Slack shows the ticket resolved", nil, s.resolvedInSlack},
	}
}

// Play runs the story against the world, printing one line per step to
// out. It stops at the first step that goes wrong or is not seen within
// stepTimeout, and returns an error naming it.
func (w *World) Play(ctx context.Context, out io.Writer, stepTimeout time.Duration) (Result, error) {
	if stepTimeout <= 0 {
		stepTimeout = defaultStepTimeout
	}
	s := &story{w: w, firstNewID: 1}
	for _, t := range w.TaskIP.Tickets() {
		s.firstNewID = max(s.firstNewID, t.ID+1)
	}
	steps := s.steps()
	res := Result{Steps: len(steps)}
	start := time.Now()
	since := start
	for i, st := range steps {
		n := i + 1
		if st.act != nil {
			since = time.Now()
			if err := st.act(); err != nil {
				return res, failStep(out, n, st.title, err)
			}
		}
		line, err := w.verify(ctx, st, stepTimeout)
		if err != nil {
			return res, failStep(out, n, st.title, err)
		}
		fmt.Fprintf(out, "  ✓ %2d. %-58s %s\n", n, line, formatDuration(time.Since(since)))
		res.Verified, res.Ticket = n, s.ticket.ID
	}
	res.Took = time.Since(start)
	return res, nil
}

// verify polls the step's check until it holds, says something went wrong,
// the daemon stops, ctx ends or timeout passes.
func (w *World) verify(ctx context.Context, st step, timeout time.Duration) (string, error) {
	var (
		line string
		why  error
	)
	pollUntil(ctx, timeout, func() bool {
		if why = w.DaemonErr(); why != nil {
			return true
		}
		line, why = st.check()
		var wait notYet
		if !errors.As(why, &wait) {
			return true // verified, or wrong for good
		}
		return false
	})
	var wait notYet
	switch {
	case errors.As(why, &wait) && ctx.Err() != nil:
		return "", fmt.Errorf("%w (%w)", ctx.Err(), why)
	case errors.As(why, &wait):
		return "", fmt.Errorf("not seen within %s: %w", timeout, why)
	}
	return line, why
}

func failStep(out io.Writer, n int, title string, err error) error {
	fmt.Fprintf(out, "  ✗ %2d. %s\n         %v\n", n, title, err)
	return fmt.Errorf("step %d, %s: %w", n, title, err)
}

func formatDuration(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%5d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%6.1f s", d.Seconds())
}

// notYet is a check's answer while what it waits for has not happened;
// any other error means something happened that should not have.
type notYet struct{ error }

func errNotYet(format string, args ...any) error { return notYet{fmt.Errorf(format, args...)} }

func (s *story) customerWrites() error {
	s.customerID = NewMessageID()
	return s.w.SendMail(CustomerMail{MessageID: s.customerID, Subject: storySubject, Body: storyBody})
}

func (s *story) ticketCreated() (string, error) {
	var found []taskipfake.Ticket
	for _, t := range s.w.TaskIP.Tickets() {
		if t.ID >= s.firstNewID {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return "", errNotYet("no new ticket in TaskIP")
	}
	t := found[0]
	switch {
	case len(found) > 1:
		return "", fmt.Errorf("%d new tickets, want 1", len(found))
	case t.Subject != storySubject:
		return "", fmt.Errorf("ticket #%d has subject %q, want %q", t.ID, t.Subject, storySubject)
	case t.User == nil || !strings.EqualFold(t.User.Email, CustomerEmail):
		return "", fmt.Errorf("ticket #%d has customer %s, want %s", t.ID, personOf(t.User), CustomerEmail)
	case !strings.Contains(t.Description, "will not download"):
		return "", fmt.Errorf("ticket #%d description lacks the email's text", t.ID)
	}
	s.ticket = t
	return fmt.Sprintf("customer's email became ticket #%d in TaskIP", t.ID), nil
}

func (s *story) threadOpened() (string, error) {
	for _, m := range s.w.Slack.Messages(Channel) {
		if bytes.Contains(m.Metadata, []byte(s.ticket.UUID)) || strings.HasPrefix(m.Text, fmt.Sprintf("Ticket #%d:", s.ticket.ID)) {
			s.parentTS = m.TS
			return fmt.Sprintf("ticket #%d posted to Slack channel %s as a thread", s.ticket.ID, Channel), nil
		}
	}
	return "", errNotYet("no message for ticket #%d in channel %s", s.ticket.ID, Channel)
}

func (s *story) acknowledged() (string, error) {
	acks := s.mailsTo(CustomerEmail, func(m sinkMail) bool { return m.header.Get("Auto-Submitted") != "" })
	if len(acks) == 0 {
		return "", errNotYet("the SMTP sink has no auto-reply to %s", CustomerEmail)
	}
	a := acks[0]
	tag := "[#" + s.ticket.UUID + "]"
	switch {
	case a.header.Get("Auto-Submitted") != "auto-replied":
		return "", fmt.Errorf("acknowledgement has Auto-Submitted %q, want auto-replied", a.header.Get("Auto-Submitted"))
	case !strings.Contains(a.subject, tag):
		return "", fmt.Errorf("acknowledgement subject %q lacks the tag %s", a.subject, tag)
	case !slices.Contains(a.inReplyTo, s.customerID):
		return "", fmt.Errorf("acknowledgement In-Reply-To %v, want <%s>", a.inReplyTo, s.customerID)
	}
	return fmt.Sprintf("auto-reply acknowledgement mailed to %s", CustomerEmail), nil
}

// agentWrites has the agent write text in the ticket's thread.
func (s *story) agentWrites(text string) func() error {
	return func() error {
		return s.w.PostThreadMessage(NewThreadMessage(AgentSlackID, s.parentTS, text))
	}
}

func (s *story) noteSaved() (string, error) {
	notes := s.w.TaskIP.Notes(s.ticket.ID)
	if !slices.ContainsFunc(notes, func(n taskipfake.Note) bool { return n.Note == agentNote }) {
		return "", errNotYet("ticket #%d has %d notes, none with the agent's text", s.ticket.ID, len(notes))
	}
	for _, r := range s.w.TaskIP.Replies(s.ticket.ID) {
		if strings.Contains(r.Message, "renderer timing out") {
			return "", fmt.Errorf("the note also became a reply the customer sees (reply %d)", r.ID)
		}
	}
	if !s.threadSays("Note saved (internal)") {
		return "", errNotYet("the thread does not confirm the note yet")
	}
	return fmt.Sprintf("agent's thread message became an internal note on #%d", s.ticket.ID), nil
}

func (s *story) replySaved() (string, error) {
	for _, r := range s.w.TaskIP.Replies(s.ticket.ID) {
		if r.Message == agentReply {
			if r.AuthorType != "team_member" || r.IsPrivate {
				return "", fmt.Errorf("reply %d is %s (private %v), want a public team_member reply", r.ID, r.AuthorType, r.IsPrivate)
			}
			return fmt.Sprintf(`agent's "reply: …" became a customer reply on #%d`, s.ticket.ID), nil
		}
	}
	return "", errNotYet("ticket #%d has no reply with the agent's text", s.ticket.ID)
}

func (s *story) replyMailed() (string, error) {
	replies := s.mailsTo(CustomerEmail, func(m sinkMail) bool { return strings.Contains(m.text, "renderer was stuck") })
	if len(replies) == 0 {
		return "", errNotYet("the SMTP sink has no mail to %s with the reply", CustomerEmail)
	}
	m := replies[0]
	// The ticket's address with the token that shows a reply answers ours.
	local, domain, _ := strings.Cut(SupportAddress, "@")
	replyTo := regexp.MustCompile(`(?i)^` + regexp.QuoteMeta(local+"+"+s.ticket.UUID) + `\.[a-z2-7]{10}@` + regexp.QuoteMeta(domain) + `$`)
	switch {
	case m.header.Get("Auto-Submitted") != "":
		return "", fmt.Errorf("the reply is marked Auto-Submitted: %s", m.header.Get("Auto-Submitted"))
	case !slices.Contains(m.inReplyTo, s.customerID):
		return "", fmt.Errorf("reply In-Reply-To %v, want <%s>", m.inReplyTo, s.customerID)
	case !replyTo.MatchString(m.replyTo):
		return "", fmt.Errorf("reply has Reply-To %q, want %s+%s.<token>@%s", m.replyTo, local, s.ticket.UUID, domain)
	case m.messageID == "":
		return "", errors.New("reply has no Message-ID")
	}
	s.replyID, s.replySubj, s.replyTo = m.messageID, m.subject, m.replyTo
	return fmt.Sprintf("reply mailed to %s, threaded under his email", CustomerEmail), nil
}

func (s *story) customerAnswers() error {
	// As a mail client does: the answer goes to the reply's Reply-To.
	replyTo := s.replyTo
	body := customerBack + "\n\nJohn\n\nOn " + time.Now().Format("Mon, 2 Jan 2006 at 15:04") + ", Acme Support wrote:\n> " + agentReply + "\n"
	return s.w.SendMail(CustomerMail{MessageID: NewMessageID(), To: replyTo, Subject: "Re: " + s.replySubj, Body: body,
		InReplyTo: s.replyID, References: []string{s.customerID, s.replyID}})
}

func (s *story) answerSaved() (string, error) {
	for _, t := range s.w.TaskIP.Tickets() {
		if t.ID >= s.firstNewID && t.ID != s.ticket.ID {
			return "", fmt.Errorf("the answer opened ticket #%d instead of replying on #%d", t.ID, s.ticket.ID)
		}
	}
	for _, r := range s.w.TaskIP.Replies(s.ticket.ID) {
		if !strings.Contains(r.Message, customerBack) {
			continue
		}
		switch {
		case r.AuthorType != "client":
			return "", fmt.Errorf("reply %d is from a %s, want the client", r.ID, r.AuthorType)
		case strings.Contains(r.Message, "renderer was stuck"):
			return "", fmt.Errorf("reply %d still carries the quoted history", r.ID)
		}
		return fmt.Sprintf("customer's emailed answer became a reply on #%d", s.ticket.ID), nil
	}
	return "", errNotYet("ticket #%d has no reply with the customer's answer", s.ticket.ID)
}

func (s *story) answerInThread() (string, error) {
	if !s.threadSays(customerBack) {
		return "", errNotYet("the thread of #%d does not show the answer", s.ticket.ID)
	}
	return fmt.Sprintf("the answer appeared in the Slack thread of #%d", s.ticket.ID), nil
}

func (s *story) agentResolves() error {
	var err error
	s.commandAck, err = s.w.SlashCommand(AgentSlackID, fmt.Sprintf("status %d resolved", s.ticket.ID), "resolve")
	return err
}

func (s *story) resolved() (string, error) {
	t, ok := s.w.TaskIP.Ticket(s.ticket.ID)
	if !ok {
		return "", fmt.Errorf("ticket #%d is gone from TaskIP", s.ticket.ID)
	}
	if t.Status != taskipfake.StatusResolved {
		return "", errNotYet("ticket #%d is %s; the command was answered %q", t.ID, taskipfake.StatusName(t.Status), s.commandAck)
	}
	answered := false
	for _, r := range s.w.SlackEdge.Responses() {
		answered = answered || r.Name == "resolve" && strings.Contains(string(r.Body), "Resolved")
	}
	if !answered {
		return "", errNotYet("the agent got no answer through response_url")
	}
	return fmt.Sprintf("/ticket status %d resolved: resolved in TaskIP", t.ID), nil
}

func (s *story) resolvedInSlack() (string, error) {
	parent, ok := s.w.Slack.Message(Channel, s.parentTS)
	if !ok {
		return "", fmt.Errorf("the parent message of #%d is gone", s.ticket.ID)
	}
	if !strings.Contains(parent.Text, "Resolved") {
		return "", errNotYet("the parent message reads %q", parent.Text)
	}
	if !s.threadSays("→ Resolved") {
		return "", errNotYet("the thread does not note the status change")
	}
	return fmt.Sprintf("Slack shows #%d Resolved: parent updated, change in thread", s.ticket.ID), nil
}

// threadSays reports whether a message in the ticket's thread contains text.
func (s *story) threadSays(text string) bool {
	return slices.ContainsFunc(s.w.Slack.Thread(Channel, s.parentTS), func(m slackfake.Call) bool {
		return strings.Contains(m.Text, text)
	})
}

func personOf(p *taskipfake.Person) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%q <%s>", p.Name, p.Email)
}
