package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// Snapshot is what Slack shows of a ticket, kept in state to diff the next
// poll against. Codes are stored decoded, so a server that sends names in
// one poll and integers in the next shows no change.
type Snapshot struct {
	ID           int64           `json:"id"`
	UUID         string          `json:"uuid"`
	Subject      string          `json:"subject"`
	Status       taskip.Status   `json:"status"`
	Priority     taskip.Priority `json:"priority"`
	Customer     string          `json:"customer,omitempty"`
	AssigneeID   int64           `json:"assignee_id,omitempty"`
	AssigneeName string          `json:"assignee_name,omitempty"`
	ReplyCount   int             `json:"reply_count"`
	// LastReplyID is the newest reply already shown; replies above it are new.
	LastReplyID int64  `json:"last_reply_id,omitempty"`
	UpdatedAt   string `json:"updated_at,omitempty"`
}

// SnapshotOf reads a ticket as Slack shows it.
func SnapshotOf(t taskip.Ticket) Snapshot {
	s := Snapshot{
		ID: int64(t.ID), UUID: t.UUID, Subject: t.Subject, Status: t.Status, Priority: t.Priority,
		Customer: t.User.Display(), AssigneeID: int64(t.AssignedTo), AssigneeName: t.AssignedToName,
		ReplyCount: t.ReplyCount, UpdatedAt: t.UpdatedAt.Raw,
	}
	for _, r := range t.Replies {
		s.LastReplyID = max(s.LastReplyID, int64(r.ID))
	}
	return s
}

// CustomerLabel names a ticket's customer as Slack shows it. TaskIP files
// a sender who is no contact under a catch-all user; the requester (the
// address whose mail opened the ticket) is then the customer agents need
// to see, with the TaskIP user after it.
func CustomerLabel(user, requester taskip.Person) string {
	if requester.Email == "" || strings.EqualFold(requester.Email, user.Email) {
		return user.Display()
	}
	label := requester.Display()
	if u := user.Display(); u != "" {
		label += " (in TaskIP: " + u + ")"
	}
	return label
}

// ChangeKind names one visible change of a ticket.
type ChangeKind string

// Kinds of change a thread reply is posted for.
const (
	ChangeStatus   ChangeKind = "status"
	ChangePriority ChangeKind = "priority"
	ChangeAssignee ChangeKind = "assignee"
	ChangeSubject  ChangeKind = "subject"
	ChangeReply    ChangeKind = "reply"
	ChangeDeleted  ChangeKind = "deleted"
)

// Change is one line in a ticket's thread.
type Change struct {
	Kind     ChangeKind
	From, To string
	Reply    *taskip.Reply
	// Replies is how many new replies there are when the server sent no
	// texts (only reply_count moved).
	Replies int
}

// Diff lists what changed between two snapshots of one ticket, in a fixed
// order. replies are the ticket's replies when the server sent them; those
// newer than old.LastReplyID are reported with their text.
func Diff(old, cur Snapshot, replies []taskip.Reply) []Change {
	var out []Change
	if old.Status != cur.Status {
		out = append(out, Change{Kind: ChangeStatus, From: old.Status.Label(), To: cur.Status.Label()})
	}
	if old.Priority != cur.Priority {
		out = append(out, Change{Kind: ChangePriority, From: old.Priority.Label(), To: cur.Priority.Label()})
	}
	if old.AssigneeID != cur.AssigneeID || (old.AssigneeName != cur.AssigneeName && cur.AssigneeName != "") {
		out = append(out, Change{Kind: ChangeAssignee, From: assignee(old), To: assignee(cur)})
	}
	if old.Subject != cur.Subject && cur.Subject != "" {
		out = append(out, Change{Kind: ChangeSubject, From: old.Subject, To: cur.Subject})
	}
	var fresh []taskip.Reply
	for _, r := range replies {
		if int64(r.ID) > old.LastReplyID && !r.IsPrivate {
			fresh = append(fresh, r)
		}
	}
	slices.SortFunc(fresh, func(a, b taskip.Reply) int { return int(a.ID - b.ID) })
	for i := range fresh {
		out = append(out, Change{Kind: ChangeReply, Reply: &fresh[i]})
	}
	if len(fresh) == 0 && replies == nil && cur.ReplyCount > old.ReplyCount {
		out = append(out, Change{Kind: ChangeReply, Replies: cur.ReplyCount - old.ReplyCount})
	}
	return out
}

func assignee(s Snapshot) string {
	switch {
	case s.AssigneeName != "":
		return s.AssigneeName
	case s.AssigneeID != 0:
		return fmt.Sprintf("team member #%d", s.AssigneeID)
	}
	return "nobody"
}

// MaxThreadText bounds a reply's text in a thread message; Slack's section
// limit is 3000 characters and the line around it needs room.
const MaxThreadText = 2800

// ThreadText is the thread reply for one change, in Slack mrkdwn. link,
// when set, is the ticket in TaskIP, offered when a text is cut.
func ThreadText(c Change, link string) string {
	switch c.Kind {
	case ChangeStatus:
		return fmt.Sprintf("Status: %s → %s", c.From, c.To)
	case ChangePriority:
		return fmt.Sprintf("Priority: %s → %s", c.From, c.To)
	case ChangeAssignee:
		if c.To == "nobody" {
			return "Unassigned (was " + mrkdwn.Escape(c.From) + ")"
		}
		return "Assigned to " + mrkdwn.Escape(c.To)
	case ChangeSubject:
		return "Subject: " + mrkdwn.Escape(c.To)
	case ChangeDeleted:
		return "This ticket was deleted in TaskIP. The thread stays for the record."
	case ChangeReply:
		if c.Reply == nil {
			if c.Replies == 1 {
				return "New reply (the server sent no text)" + linkSuffix(link)
			}
			return fmt.Sprintf("%d new replies (the server sent no text)%s", c.Replies, linkSuffix(link))
		}
		who := "customer"
		if c.Reply.AuthorType == "team_member" {
			who = "agent"
		}
		if name := c.Reply.Author.Name; name != "" {
			who += " " + name
		}
		return fmt.Sprintf("New reply from %s:\n%s", mrkdwn.Escape(who), quoteBlock(mrkdwn.CutText(mrkdwn.Escape(strings.TrimSpace(c.Reply.Message)), MaxThreadText, link)))
	}
	return string(c.Kind)
}

func linkSuffix(link string) string {
	if link == "" {
		return ""
	}
	return " " + mrkdwn.Link(link, "open in TaskIP")
}

func quoteBlock(s string) string {
	return "> " + strings.ReplaceAll(s, "\n", "\n> ")
}
