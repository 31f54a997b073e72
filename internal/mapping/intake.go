package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// ActionKind is what an inbound email does to TaskIP.
type ActionKind string

// Intake actions (SPEC 6, step 3).
const (
	ActCreate      ActionKind = "create"
	ActReply       ActionKind = "reply"
	ActReopenReply ActionKind = "reopen_reply"
	ActNote        ActionKind = "note"
	ActSkip        ActionKind = "skip"
)

// Ticket is what the intake decision needs of an existing ticket.
type Ticket struct {
	ID            int64
	UUID          string
	Status        taskip.Status
	CustomerEmail string // the ticket's user in TaskIP
	// Requester is the address the ticket's mail came from, when it has
	// any. The TaskIP user can be a catch-all (default_user_id) for a
	// sender who is no contact; that sender is still the customer.
	Requester string
}

// IsCustomer reports whether addr is the ticket's customer: its TaskIP
// user or its requester.
func (t Ticket) IsCustomer(addr string) bool {
	return addr != "" && (strings.EqualFold(t.CustomerEmail, addr) || strings.EqualFold(t.Requester, addr))
}

// IntakeContext is what the bridge looked up before deciding.
type IntakeContext struct {
	// Ticket is the ticket the email threads to, nil for a new conversation.
	Ticket *Ticket
	// SenderIsAgent is set when the sender is a TaskIP team member.
	SenderIsAgent bool
	// TicketsFromSender counts this sender's new tickets in the last hour,
	// this one included; above MaxTicketsPerHour the mail is skipped.
	TicketsFromSender int
	MaxTicketsPerHour int // 0: no limit
	UserID            int64
	CreatedBy         int64
	// MaxMessageBytes is named in the text of a message over the limit.
	MaxMessageBytes int64
}

// Action is the decision for one email: the TaskIP writes to make, in order.
type Action struct {
	Kind   ActionKind
	Reason string // why a skip, or why a note instead of a reply
	Ticket *Ticket

	// ActCreate
	Subject     string
	Description string
	Priority    taskip.Priority
	UserID      int64
	CreatedBy   int64

	// ActReply / ActReopenReply / ActNote
	Text string
	// ReopenTo is the status a reopen sets before the reply.
	ReopenTo taskip.Status
	// AuthorType of a reply: "client" for the customer, "team_member" for
	// an agent answering by mail.
	AuthorType string

	// ExtraNotes are internal notes added after the main write: refused
	// attachments and parse problems, so nothing is dropped silently.
	ExtraNotes []string
}

// MaxSubjectRunes is the API's subject limit ("max 191 characters").
const MaxSubjectRunes = 191

// DecideIntake maps a screened email and what is known about its thread to
// an action. Screen runs first; DecideIntake assumes the mail is a person's.
func DecideIntake(e Email, c IntakeContext) Action {
	extra := extraNotes(e, c)
	if c.Ticket == nil {
		if c.MaxTicketsPerHour > 0 && c.TicketsFromSender > c.MaxTicketsPerHour {
			return Action{Kind: ActSkip, Reason: string(SkipRateLimited)}
		}
		return Action{
			Kind:        ActCreate,
			Subject:     TicketSubject(e.Subject),
			Description: describeNew(e, c),
			Priority:    MailPriority(e.XPriority, e.Importance),
			UserID:      c.UserID,
			CreatedBy:   c.CreatedBy,
			ExtraNotes:  extra,
		}
	}
	t := c.Ticket
	text := replyText(e, c)
	isCustomer := t.IsCustomer(e.FromEmail)
	if !isCustomer && !c.SenderIsAgent {
		// A third party (a colleague in Cc, a forward) must not speak for
		// the customer: their words are kept, internally.
		return Action{
			Kind:       ActNote,
			Ticket:     t,
			Reason:     "sender is neither the customer nor an agent",
			Text:       fmt.Sprintf("Email from %s (not the ticket's customer):\n\n%s", sender(e), text),
			ExtraNotes: extra,
		}
	}
	a := Action{Kind: ActReply, Ticket: t, Text: text, AuthorType: "client", ExtraNotes: extra}
	if c.SenderIsAgent && !isCustomer {
		a.AuthorType = "team_member"
	}
	if t.Status == taskip.StatusClosed || (a.AuthorType == "client" && needsReopen(t.Status)) {
		a.Kind = ActReopenReply
		a.ReopenTo = taskip.StatusOpen
	}
	return a
}

// needsReopen: a customer answering a ticket that is closed (SPEC 6), or
// that waits on them or was marked resolved, puts the ball back with the
// agents, as helpdesks do.
func needsReopen(s taskip.Status) bool {
	switch s {
	case taskip.StatusClosed, taskip.StatusResolved, taskip.StatusPending:
		return true
	}
	return false
}

var replyPrefix = regexp.MustCompile(`(?i)^\s*((re|fwd?|aw|wg|tr|sv|vs|antw|rif|r)\s*(\[\d+\])?\s*[:：]\s*)+`)

// TicketSubject makes a ticket subject from a mail subject: reply and
// forward prefixes off, whitespace folded, cut to the API's limit.
func TicketSubject(subject string) string {
	s := strings.Join(strings.Fields(replyPrefix.ReplaceAllString(subject, "")), " ")
	if s == "" {
		s = "(no subject)"
	}
	return CutRunes(s, MaxSubjectRunes)
}

// CutRunes cuts s to at most n runes, ending in "…" when cut.
func CutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// MailPriority reads X-Priority (1 highest .. 5 lowest) and Importance.
// The highest a customer can ask for is High: Urgent stays an agent's call.
func MailPriority(xPriority, importance string) taskip.Priority {
	if v := strings.TrimSpace(xPriority); v != "" {
		if n, err := strconv.Atoi(strings.Fields(v)[0]); err == nil {
			switch {
			case n <= 2:
				return taskip.PriorityHigh
			case n == 3:
				return taskip.PriorityNormal
			default:
				return taskip.PriorityLow
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(importance)) {
	case "high":
		return taskip.PriorityHigh
	case "low":
		return taskip.PriorityLow
	}
	return taskip.PriorityNormal
}

func sender(e Email) string {
	if e.FromName != "" {
		return fmt.Sprintf("%s <%s>", e.FromName, e.FromEmail)
	}
	return e.FromEmail
}

// describeNew is the ticket description: the mail's text, then where it came
// from. The Message-ID line is what start-up reconciliation searches for.
func describeNew(e Email, c IntakeContext) string {
	var b strings.Builder
	b.WriteString(bodyOrPlaceholder(e, c, e.Text))
	b.WriteString("\n\n--\nFrom: " + sender(e))
	if e.MessageID != "" {
		b.WriteString("\nMessage-ID: <" + e.MessageID + ">")
	} else {
		// What reconciliation searches for when the create's answer was
		// lost: without it, such a mail would get a second ticket.
		b.WriteString("\nMail reference: " + DedupeKey(e))
	}
	return b.String()
}

func replyText(e Email, c IntakeContext) string {
	text := e.Stripped
	if strings.TrimSpace(text) == "" {
		text = e.Text
	}
	return bodyOrPlaceholder(e, c, text)
}

func bodyOrPlaceholder(e Email, c IntakeContext, text string) string {
	text = strings.TrimSpace(text)
	if e.TooLarge {
		cut := fmt.Sprintf("(This email was %s, over the %s limit; it was imported only as far as the limit. The original stays in the support mailbox.)",
			humanBytes(e.Size), humanBytes(c.MaxMessageBytes))
		if text == "" {
			return cut
		}
		return text + "\n\n" + cut
	}
	switch {
	case text != "":
		return text
	case len(e.Attachments) > 0:
		return "(no text; see the attached files)"
	}
	return "(no text)"
}

func extraNotes(e Email, c IntakeContext) []string {
	var notes []string
	for _, f := range e.Refused {
		why := fmt.Sprintf("it is over the %s limit", humanBytes(c.MaxMessageBytes))
		if e.TooLarge {
			why = fmt.Sprintf("the email (%s) is over the %s limit", humanBytes(e.Size), humanBytes(c.MaxMessageBytes))
		}
		notes = append(notes, fmt.Sprintf("Attachment %q from %s was not uploaded: %s. The original email stays in the support mailbox.",
			f.Name, e.FromEmail, why))
	}
	if len(e.Problems) > 0 {
		notes = append(notes, "The email from "+e.FromEmail+" was imported with problems:\n- "+strings.Join(e.Problems, "\n- "))
	}
	return notes
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// DedupeKey identifies an email across restarts and UIDVALIDITY changes:
// its Message-ID, or for mail without one a digest of what makes it unique.
func DedupeKey(e Email) string {
	if e.MessageID != "" {
		return e.MessageID
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00", e.FromEmail, e.Date.UTC().Format("2006-01-02T15:04:05Z"), e.Subject, e.Size)
	h.Write([]byte(e.Text))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}
