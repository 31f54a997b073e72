package taskipfake

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Person is the {id, name, email} triple the API nests as created_by, user
// and reply.user.
type Person struct {
	ID    int
	Name  string
	Email string
}

// Media is a ticket's or reply's single "attachment" object.
type Media struct {
	ID   int
	URL  string
	Name string
	Size int64
}

// Ticket is the server-side state of one support ticket. Timestamps are kept
// in UTC at whole seconds because that is all RFC 3339 on the wire carries.
type Ticket struct {
	ID              int
	UUID            string
	Subject         string
	Description     string
	CreatedBy       *Person
	User            *Person // the customer
	Priority        int
	Status          int
	Attachment      *Media
	Category        string
	AssignedTo      int // team member id, 0 = unassigned
	AssignedToName  string
	Tags            []string
	ResolutionNotes string
	ResolvedAt      time.Time // zero unless resolved or closed
	ReplyCount      int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Reply is one message in a ticket's conversation.
type Reply struct {
	ID         int
	TicketID   int
	Message    string
	Author     string
	AuthorType string // team_member, client or system
	IsPrivate  bool
	User       *Person
	Attachment *Media
	CreatedAt  time.Time
}

// Note is an internal note on a ticket.
type Note struct {
	ID        int
	TicketID  int
	Note      string
	Author    string
	CreatedAt time.Time
}

// Attachment is an uploaded file. Only its metadata and digest are kept: the
// fake never holds file contents, so tests compare SHA256 instead.
type Attachment struct {
	ID               int
	TicketID         int
	Filename         string
	OriginalFilename string
	Size             int64
	MimeType         string
	SHA256           string // hex
	Description      string
	UploadedBy       string
	UploadedAt       time.Time
}

// Contact is a customer record.
type Contact struct {
	ID          int
	Name        string
	Email       string
	Phone       string
	CompanyID   int
	CompanyName string
	Position    string
	Address     string
	Notes       string
	Status      string // active or inactive
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TeamMember is an agent of the workspace.
type TeamMember struct {
	ID         int
	Name       string
	Email      string
	Username   string
	Role       string
	Department string
	Position   string
	Status     string // active, inactive or pending
	Timezone   string
	CreatedAt  time.Time
}

// Request is one entry of the request log.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	// ContentLength and TransferEncoding are as the server parsed them:
	// -1 and ["chunked"] for a chunked body, whose header net/http removes
	// from Header.
	ContentLength    int64
	TransferEncoding []string
	Body             []byte // the first 64 KiB the server read
	// Status is what the client received; 0 when the connection was dropped
	// before the request was handled. For a request handled and then dropped
	// (DropResponseNext) it is the status that was never delivered.
	Status  int
	Dropped bool
}

func (t Ticket) clone() Ticket {
	t.CreatedBy = clonePerson(t.CreatedBy)
	t.User = clonePerson(t.User)
	if t.Attachment != nil {
		m := *t.Attachment
		t.Attachment = &m
	}
	t.Tags = append([]string{}, t.Tags...)
	return t
}

func clonePerson(p *Person) *Person {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (r Reply) clone() Reply {
	r.User = clonePerson(r.User)
	if r.Attachment != nil {
		m := *r.Attachment
		r.Attachment = &m
	}
	return r
}

// Wire shapes. Struct field order is the order of the reference examples.

type personJSON struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type mediaJSON struct {
	ID   int    `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type ticketJSON struct {
	ID              int         `json:"id"`
	UUID            string      `json:"uuid"`
	Subject         string      `json:"subject"`
	CreatedBy       *personJSON `json:"created_by"`
	User            *personJSON `json:"user"`
	Priority        any         `json:"priority"`
	Status          any         `json:"status"`
	Description     string      `json:"description"`
	Attachment      *mediaJSON  `json:"attachment"`
	CreateAt        string      `json:"createAt"`
	Date            string      `json:"date"`
	Time            string      `json:"time"`
	CreatedAt       string      `json:"created_at"`
	UpdatedAt       string      `json:"updated_at"`
	ReplyCount      int         `json:"reply_count"`
	AssignedTo      *int        `json:"assigned_to"`
	AssignedToName  *string     `json:"assigned_to_name"`
	Tags            []string    `json:"tags"`
	Category        *string     `json:"category"`
	ResolutionNotes *string     `json:"resolution_notes"`
}

// ticketDetailJSON is GET /support-ticket/{id}: the ticket plus its thread.
type ticketDetailJSON struct {
	ticketJSON
	Replies []replyJSON `json:"replies"`
	Notes   []noteJSON  `json:"notes"`
}

type replyJSON struct {
	ID         int    `json:"id"`
	Message    string `json:"message"`
	Author     string `json:"author"`
	AuthorType string `json:"author_type"`
	IsPrivate  bool   `json:"is_private"`
	CreatedAt  string `json:"created_at"`
}

type noteJSON struct {
	ID        int    `json:"id"`
	Note      string `json:"note"`
	Author    string `json:"author"`
	CreatedAt string `json:"created_at"`
}

func renderPerson(p *Person) *personJSON {
	if p == nil {
		return nil
	}
	return &personJSON{ID: p.ID, Name: p.Name, Email: p.Email}
}

func renderMedia(m *Media) *mediaJSON {
	if m == nil {
		return nil
	}
	return &mediaJSON{ID: m.ID, URL: m.URL, Name: m.Name, Size: m.Size}
}

func renderTicket(t *Ticket, style CodeStyle, now time.Time) ticketJSON {
	out := ticketJSON{
		ID:          t.ID,
		UUID:        t.UUID,
		Subject:     t.Subject,
		CreatedBy:   renderPerson(t.CreatedBy),
		User:        renderPerson(t.User),
		Priority:    emitCode(style, priorityNames, t.Priority),
		Status:      emitCode(style, statusNames, t.Status),
		Description: t.Description,
		Attachment:  renderMedia(t.Attachment),
		CreateAt:    humanAgo(now, t.CreatedAt),
		Date:        t.CreatedAt.UTC().Format("02-Jan-2006"),
		Time:        t.CreatedAt.UTC().Format("03:04PM"),
		CreatedAt:   rfc3339(t.CreatedAt),
		UpdatedAt:   rfc3339(t.UpdatedAt),
		ReplyCount:  t.ReplyCount,
		Tags:        append([]string{}, t.Tags...),
		Category:    nullable(t.Category),
	}
	if t.AssignedTo != 0 {
		id := t.AssignedTo
		out.AssignedTo = &id
		out.AssignedToName = nullable(t.AssignedToName)
	}
	out.ResolutionNotes = nullable(t.ResolutionNotes)
	return out
}

func renderReply(r Reply) replyJSON {
	return replyJSON{ID: r.ID, Message: r.Message, Author: r.Author, AuthorType: r.AuthorType,
		IsPrivate: r.IsPrivate, CreatedAt: rfc3339(r.CreatedAt)}
}

func renderNote(n Note) noteJSON {
	return noteJSON{ID: n.ID, Note: n.Note, Author: n.Author, CreatedAt: rfc3339(n.CreatedAt)}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func rfc3339OrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

// humanAgo mimics Laravel's diffForHumans, which the API uses for createAt.
func humanAgo(now, then time.Time) string {
	d := now.Sub(then)
	if d < time.Minute {
		return "just now"
	}
	unit := func(n int, name string) string {
		if n == 1 {
			return "1 " + name + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, name)
	}
	switch {
	case d < time.Hour:
		return unit(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return unit(int(d/time.Hour), "hour")
	case d < 7*24*time.Hour:
		return unit(int(d/(24*time.Hour)), "day")
	case d < 30*24*time.Hour:
		return unit(int(d/(7*24*time.Hour)), "week")
	case d < 365*24*time.Hour:
		return unit(int(d/(30*24*time.Hour)), "month")
	}
	return unit(int(d/(365*24*time.Hour)), "year")
}
