package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Verbs of the slash command (README, "Slack commands and threads").
const (
	VerbStatus     = "status"
	VerbPriority   = "priority"
	VerbNote       = "note"
	VerbNoteDelete = "note-delete"
	VerbAssign     = "assign"
	VerbReply      = "reply"
	VerbShow       = "show"
	VerbList       = "list"
	VerbHelp       = "help"
)

// TicketRef names a ticket by id or uuid; exactly one is set.
type TicketRef struct {
	ID   int64
	UUID string
}

func (r TicketRef) String() string {
	if r.UUID != "" {
		return r.UUID
	}
	return "#" + strconv.FormatInt(r.ID, 10)
}

// SlashCommand is a parsed /ticket invocation.
type SlashCommand struct {
	Verb     string
	Ref      TicketRef
	Status   taskip.Status
	Priority taskip.Priority
	// Text is the notes of a status change, a note or a reply.
	Text   string
	NoteID int64
	// Assignee is a Slack user (from a mention) or a TaskIP member id.
	AssigneeSlackUser string
	AssigneeMemberID  int64
	// ListStatus and ListPriority filter a list; nil means any.
	ListStatus   *taskip.Status
	ListPriority *taskip.Priority
}

// UsageError is a command that cannot be run as typed; its text is shown
// to the agent as is.
type UsageError struct {
	Verb    string
	Message string
}

func (e *UsageError) Error() string {
	if u, ok := usages[e.Verb]; ok {
		return e.Message + "\nUsage: " + u
	}
	return e.Message + "\n" + helpLines
}

var usages = map[string]string{
	VerbStatus:     "status <ticket> <open|in_progress|resolved|closed|pending> [notes]",
	VerbPriority:   "priority <ticket> <low|normal|medium|high|urgent>",
	VerbNote:       "note <ticket> <text>",
	VerbNoteDelete: "note-delete <ticket> <note-id>",
	VerbAssign:     "assign <ticket> <@user|member-id>",
	VerbReply:      "reply <ticket> <text>",
	VerbShow:       "show <ticket>",
	VerbList:       "list [status] [priority]",
	VerbHelp:       "help",
}

var verbOrder = []string{VerbStatus, VerbPriority, VerbNote, VerbNoteDelete, VerbAssign, VerbReply, VerbShow, VerbList, VerbHelp}

var helpLines = func() string {
	var b strings.Builder
	b.WriteString("Commands (<ticket> is an id, #id or uuid):")
	for _, v := range verbOrder {
		b.WriteString("\n  " + usages[v])
	}
	return b.String()
}()

// CommandHelp is the help text, with the configured command name.
func CommandHelp(command string) string {
	return strings.ReplaceAll(helpLines, "\n  ", "\n  "+command+" ")
}

// ParseSlashCommand reads the text after the command name. Errors are
// *UsageError with a message fit to show the agent.
func ParseSlashCommand(text string) (SlashCommand, error) {
	verb, rest := cutWord(strings.TrimSpace(text))
	verb = strings.ToLower(verb)
	c := SlashCommand{Verb: verb}
	switch verb {
	case "", VerbHelp:
		c.Verb = VerbHelp
		return c, nil
	case VerbList:
		return parseList(rest)
	}
	if _, ok := usages[verb]; !ok {
		return c, &UsageError{Message: fmt.Sprintf("Unknown command %q.", verb)}
	}
	refText, rest := cutWord(rest)
	if refText == "" {
		return c, &UsageError{Verb: verb, Message: "Which ticket?"}
	}
	ref, err := ParseTicketRef(refText)
	if err != nil {
		return c, &UsageError{Verb: verb, Message: err.Error() + "."}
	}
	c.Ref = ref
	arg, tail := cutWord(rest)
	switch verb {
	case VerbShow:
		if rest != "" {
			return c, &UsageError{Verb: verb, Message: "show takes only a ticket."}
		}
	case VerbStatus:
		s, err := taskip.ParseStatus(arg)
		if arg == "" || err != nil {
			return c, &UsageError{Verb: verb, Message: fmt.Sprintf("%q is not a status.", arg)}
		}
		c.Status, c.Text = s, tail
	case VerbPriority:
		p, err := taskip.ParsePriority(arg)
		if arg == "" || err != nil || tail != "" {
			return c, &UsageError{Verb: verb, Message: fmt.Sprintf("%q is not a priority.", strings.TrimSpace(rest))}
		}
		c.Priority = p
	case VerbNote, VerbReply:
		if rest == "" {
			return c, &UsageError{Verb: verb, Message: "The text is missing."}
		}
		c.Text = rest
	case VerbNoteDelete:
		id, err := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64)
		if err != nil || id <= 0 || tail != "" {
			return c, &UsageError{Verb: verb, Message: fmt.Sprintf("%q is not a note id.", strings.TrimSpace(rest))}
		}
		c.NoteID = id
	case VerbAssign:
		if tail != "" || arg == "" {
			return c, &UsageError{Verb: verb, Message: "Give one person: @user or a TaskIP member id."}
		}
		if m := mentionRE.FindStringSubmatch(arg); m != nil {
			c.AssigneeSlackUser = m[1]
		} else if id, err := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64); err == nil && id > 0 {
			c.AssigneeMemberID = id
		} else {
			return c, &UsageError{Verb: verb, Message: fmt.Sprintf("%q is neither a @mention nor a member id.", arg)}
		}
	}
	return c, nil
}

// mentionRE matches Slack's escaped user mention, <@U123> or <@U123|name>.
var mentionRE = regexp.MustCompile(`^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$`)

func parseList(rest string) (SlashCommand, error) {
	c := SlashCommand{Verb: VerbList}
	for _, w := range strings.Fields(rest) {
		if s, err := taskip.ParseStatus(w); err == nil && c.ListStatus == nil && !isNumber(w) {
			c.ListStatus = &s
			continue
		}
		if p, err := taskip.ParsePriority(w); err == nil && c.ListPriority == nil && !isNumber(w) {
			c.ListPriority = &p
			continue
		}
		return c, &UsageError{Verb: VerbList, Message: fmt.Sprintf("%q is neither a status nor a priority.", w)}
	}
	return c, nil
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// ParseTicketRef reads 46, #46 or a uuid.
func ParseTicketRef(s string) (TicketRef, error) {
	s = strings.TrimSpace(s)
	if taskip.IsUUID(s) {
		return TicketRef{UUID: strings.ToLower(s)}, nil
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return TicketRef{}, fmt.Errorf("%q is not a ticket id (46, #46) or uuid", s)
	}
	return TicketRef{ID: id}, nil
}

// cutWord splits off the first whitespace-separated word.
func cutWord(s string) (string, string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t\n")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

// ThreadKind says what a human message in a ticket thread becomes.
type ThreadKind string

// Thread message kinds.
const (
	ThreadNote  ThreadKind = "note"
	ThreadReply ThreadKind = "reply"
)

// ClassifyThreadMessage applies thread_default and reply_prefix: a message
// starting with the prefix (any case) is a customer reply, without it;
// anything else takes the default, which should stay "note" so that a slip
// leaks nothing to the customer.
func ClassifyThreadMessage(text, replyPrefix string, def ThreadKind) (ThreadKind, string) {
	trimmed := strings.TrimSpace(text)
	if replyPrefix != "" && len(trimmed) >= len(replyPrefix) && strings.EqualFold(trimmed[:len(replyPrefix)], replyPrefix) {
		return ThreadReply, strings.TrimSpace(trimmed[len(replyPrefix):])
	}
	if def == ThreadReply {
		return ThreadReply, trimmed
	}
	return ThreadNote, trimmed
}
