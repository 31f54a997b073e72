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

// Intake actions (docs/architecture.md, "Intake", step 3).
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

	// Auth is what sender authentication found about the From line, and
	// AuthOn whether any source of it is configured: without one, From is
	// believed as mail always was.
	Auth   SenderAuth
	AuthOn bool
	// ThreadProof says the ticket was found through what only mail that
	// answers ours carries (the reply token, one of our Message-IDs),
	// not a subject tag or uuid that anyone the customer copied knows.
	ThreadProof bool
}

// AuthVerdict is what sender authentication says of a From line.
type AuthVerdict string

// Verdicts of sender authentication.
const (
	AuthNone AuthVerdict = ""     // nothing trusted says either way
	AuthPass AuthVerdict = "pass" // the From domain is authenticated
	AuthFail AuthVerdict = "fail" // the From line is likely forged
)

// SenderAuth is a verdict and what decided it, e.g. "dmarc=fail
// (mx.google.com)".
type SenderAuth struct {
	Verdict AuthVerdict
	Reason  string
}

// unverified says the mail must not write as the person its From names:
// it fails authentication, or authentication is on and neither it nor
// the way the mail found its ticket vouches for the sender.
func (c IntakeContext) unverified() bool {
	return c.Auth.Verdict == AuthFail || (c.AuthOn && c.Auth.Verdict != AuthPass && !c.ThreadProof)
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

	// NoReopen: the note must not reopen a closed ticket to be taken;
	// mail from an unverified sender reopens nothing.
	NoReopen bool

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
		desc := describeNew(e, c)
		if c.Auth.Verdict == AuthFail {
			desc = fmt.Sprintf("(Unverified sender: %s. The From line may be forged; the ticket is not filed under that contact and no acknowledgement was sent.)\n\n", whyUnverified(c)) + desc
		}
		return Action{
			Kind:        ActCreate,
			Subject:     TicketSubject(e.Subject),
			Description: desc,
			Priority:    MailPriority(e.XPriority, e.Importance),
			UserID:      c.UserID,
			CreatedBy:   c.CreatedBy,
			ExtraNotes:  extra,
		}
	}
	t := c.Ticket
	text := replyText(e, c)
	isCustomer := t.IsCustomer(e.FromEmail)
	agentUnproven := c.SenderIsAgent && !isCustomer && c.AuthOn && c.Auth.Verdict != AuthPass
	if (isCustomer || c.SenderIsAgent) && (c.unverified() || agentUnproven) {
		// Whoever wrote it may not be who From names: their words are
		// kept, internally, and the ticket's state is left alone. An
		// agent's answer goes to the customer only on a pass.
		return Action{
			Kind:       ActNote,
			Ticket:     t,
			Reason:     "unverified sender",
			Text:       fmt.Sprintf("Email from %s (unverified sender: %s; the From line may be forged, nothing was sent to the customer):\n\n%s", sender(e), whyUnverified(c), text),
			NoReopen:   true,
			ExtraNotes: extra,
		}
	}
	if !isCustomer && !c.SenderIsAgent {
		// A third party (a colleague in Cc, a forward) must not speak for
		// the customer: their words are kept, internally.
		return Action{
			Kind:       ActNote,
			NoReopen:   c.Auth.Verdict == AuthFail,
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

// whyUnverified says in a note why a sender was not believed.
func whyUnverified(c IntakeContext) string {
	if c.Auth.Reason != "" {
		return c.Auth.Reason
	}
	return "no authentication result for its sender, and it names its ticket only by a subject tag or address anyone copied may know"
}

// needsReopen: a customer answering a ticket that is closed, or
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

// maxRefusedListed bounds the files one note names: a hostile mail may
// carry hundreds, and the agent needs the reasons, not the whole list.
const maxRefusedListed = 20

func extraNotes(e Email, c IntakeContext) []string {
	var notes []string
	if len(e.Refused) > 0 {
		// One note per mail, however many files: a note per file made a
		// mail of tiny attachments cost hundreds of TaskIP calls.
		var b strings.Builder
		if len(e.Refused) == 1 {
			fmt.Fprintf(&b, "1 attachment of the email from %s was not uploaded", e.FromEmail)
		} else {
			fmt.Fprintf(&b, "%d attachments of the email from %s were not uploaded", len(e.Refused), e.FromEmail)
		}
		b.WriteString("; the original email stays in the support mailbox:")
		for i, f := range e.Refused {
			if i == maxRefusedListed {
				fmt.Fprintf(&b, "\n- and %d more", len(e.Refused)-i)
				break
			}
			why := f.Reason
			switch {
			case e.TooLarge:
				why = fmt.Sprintf("the email (%s) is over the %s limit", humanBytes(e.Size), humanBytes(c.MaxMessageBytes))
			case why == "":
				why = fmt.Sprintf("it is over the %s limit", humanBytes(c.MaxMessageBytes))
			}
			fmt.Fprintf(&b, "\n- %q (%s): %s", f.Name, humanBytes(f.Size), why)
		}
		notes = append(notes, b.String())
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
