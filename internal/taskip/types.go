package taskip

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Person is a user reference. The reference sends it as an object
// ({"id","name","email"}) in ticket responses and as a bare name in its
// schema section; both decode here.
type Person struct {
	ID    ID     `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// UnmarshalJSONFrom accepts an object, a name string, a number (an id) or
// null. It streams the object form from the decoder so a list page is
// scanned once.
func (p *Person) UnmarshalJSONFrom(d *jsontext.Decoder) error { return p.decode(d, nil) }

func (p *Person) decode(d *jsontext.Decoder, in *interner) error {
	if d.PeekKind() != '{' {
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		return p.unmarshalScalar(v)
	}
	// Hand-read: Person appears twice in every ticket of a page, and a
	// nested UnmarshalDecode costs more than the object itself.
	*p = Person{}
	return readObject(d, func(name jsontext.Value) (err error) {
		switch string(name) { // raw bytes: no allocation for the name
		case `"id"`:
			err = p.ID.UnmarshalJSONFrom(d)
		case `"name"`:
			p.Name, err = in.readCapped(d, maxShortBytes)
		case `"email"`:
			p.Email, err = in.readCapped(d, maxShortBytes)
		default:
			err = d.SkipValue()
		}
		return err
	})
}

// UnmarshalJSON serves callers of encoding/json.
func (p *Person) UnmarshalJSON(data []byte) error {
	return json.Unmarshal(data, p)
}

func (p *Person) unmarshalScalar(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || bytes.Equal(data, []byte("null")):
		*p = Person{}
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*p = Person{Name: capString(s, maxShortBytes)}
	default:
		var id ID
		if err := id.UnmarshalJSON(data); err != nil {
			return err
		}
		*p = Person{ID: id}
	}
	return nil
}

// IsZero reports whether nothing is known of the person.
func (p Person) IsZero() bool { return p.ID == 0 && p.Name == "" && p.Email == "" }

// Display is "Name <email>" or whichever part is known.
func (p Person) Display() string {
	switch {
	case p.Name != "" && p.Email != "":
		return p.Name + " <" + p.Email + ">"
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	case p.ID != 0:
		return "#" + p.ID.String()
	}
	return ""
}

// Media is the attachment reference embedded in tickets and replies.
type Media struct {
	ID   ID     `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func (m *Media) capFields() {
	if m != nil {
		m.URL = capString(m.URL, maxURLBytes)
		m.Name = capString(m.Name, maxFileNameBytes)
	}
}

// Timestamp is an API time. Servers send RFC 3339, "2006-01-02 15:04:05" or
// nothing at all; an unparseable value is kept raw rather than failing the
// response it is part of.
type Timestamp struct {
	Time time.Time
	Raw  string
}

var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

// UnmarshalJSONFrom implements the lenient parse without re-scanning.
func (t *Timestamp) UnmarshalJSONFrom(d *jsontext.Decoder) error { return t.decode(d, nil) }

func (t *Timestamp) decode(d *jsontext.Decoder, in *interner) error {
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	if raw := unquoteFast(v); raw != nil && in != nil && len(raw) <= maxShortBytes {
		*t = Timestamp{Raw: in.intern(raw)}
		t.parse()
		return nil
	}
	return t.UnmarshalJSON(v)
}

// UnmarshalJSON implements the lenient parse.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	*t = Timestamp{}
	if len(data) == 0 || data[0] != '"' {
		return nil // null or a number: treat as absent
	}
	if raw := unquoteFast(data); raw != nil {
		t.Raw = capString(string(raw), maxShortBytes)
	} else if s, err := strconv.Unquote(string(data)); err == nil {
		t.Raw = capString(s, maxShortBytes)
	} else {
		return nil
	}
	t.parse()
	return nil
}

func (t *Timestamp) parse() {
	for _, layout := range timestampLayouts {
		if v, err := time.Parse(layout, t.Raw); err == nil {
			t.Time = v
			return
		}
	}
}

// MarshalJSON writes the raw form back, so a round trip is lossless.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.Raw == "" {
		if t.Time.IsZero() {
			return []byte("null"), nil
		}
		return json.Marshal(t.Time.Format(time.RFC3339))
	}
	return json.Marshal(t.Raw)
}

// IsZero reports whether the server sent no time.
func (t Timestamp) IsZero() bool { return t.Raw == "" && t.Time.IsZero() }

// Ticket is a support ticket as any of the API's responses describe it. The
// reference documents two shapes (the example responses and a "Support Ticket
// Object" schema with other names); both decode, and Normalize folds the
// schema's names into the example's.
type Ticket struct {
	ID          ID        `json:"id"`
	UUID        string    `json:"uuid"`
	Subject     string    `json:"subject"`
	CreatedBy   Person    `json:"created_by,omitzero"`
	User        Person    `json:"user,omitzero"`
	Priority    Priority  `json:"priority"`
	Status      Status    `json:"status"`
	Description string    `json:"description"`
	Attachment  *Media    `json:"attachment,omitempty"`
	CreateAt    string    `json:"createAt,omitempty"`
	Date        string    `json:"date,omitempty"`
	Time        string    `json:"time,omitempty"`
	CreatedAt   Timestamp `json:"created_at,omitzero"`
	UpdatedAt   Timestamp `json:"updated_at,omitzero"`
	ReplyCount  int       `json:"reply_count"`
	AssignedTo  ID        `json:"assigned_to"`
	// AssignedToName is sent by some responses next to AssignedTo.
	AssignedToName string   `json:"assigned_to_name,omitempty"`
	Category       string   `json:"category,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	// Replies and Notes are present only when the server includes them in
	// GET /support-ticket/{id}; nil means "not sent", not "none".
	Replies []Reply `json:"replies,omitempty"`
	Notes   []Note  `json:"notes,omitempty"`

	// Fields of the reference's schema section, folded in by Normalize.
	TicketNumber string `json:"ticket_number,omitempty"`
	Title        string `json:"title,omitempty"`
	ClientID     ID     `json:"client_id,omitempty"`
	ClientName   string `json:"client_name,omitempty"`
	ClientEmail  string `json:"client_email,omitempty"`
}

// Normalize fills the example-shaped fields from the schema-shaped ones.
func (t *Ticket) Normalize() {
	if t.Subject == "" {
		t.Subject = t.Title
	}
	if t.User.ID == 0 {
		t.User.ID = t.ClientID
	}
	if t.User.Name == "" {
		t.User.Name = t.ClientName
	}
	if t.User.Email == "" {
		t.User.Email = t.ClientEmail
	}
	for i := range t.Replies {
		t.Replies[i].Normalize()
	}
}

// Reply is a ticket reply. The reply endpoints answer with two shapes
// ({"description","user"} and {"message","author"}); both decode.
type Reply struct {
	ID          ID        `json:"id"`
	ReplyID     ID        `json:"reply_id,omitempty"`
	TicketID    ID        `json:"ticket_id,omitempty"`
	Message     string    `json:"message"`
	Description string    `json:"description,omitempty"`
	Author      Person    `json:"author,omitzero"`
	User        Person    `json:"user,omitzero"`
	AuthorType  string    `json:"author_type,omitempty"`
	IsPrivate   bool      `json:"is_private"`
	Attachment  *Media    `json:"attachment,omitempty"`
	CreatedAt   Timestamp `json:"created_at,omitzero"`
	CreateAt    string    `json:"createAt,omitempty"`
}

// UnmarshalJSONFrom decodes by reflection and caps the strings (see
// maxTextBytes).
func (r *Reply) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	type plain Reply // without this method, so no recursion
	if err := json.UnmarshalDecode(d, (*plain)(r)); err != nil {
		return err
	}
	r.Message = capString(r.Message, maxTextBytes)
	r.Description = capString(r.Description, maxTextBytes)
	r.AuthorType = capString(r.AuthorType, maxShortBytes)
	r.CreateAt = capString(r.CreateAt, maxShortBytes)
	r.Attachment.capFields()
	return nil
}

// Normalize folds the alternative field names together.
func (r *Reply) Normalize() {
	if r.ID == 0 {
		r.ID = r.ReplyID
	}
	if r.Message == "" {
		r.Message = r.Description
	}
	if r.Author.IsZero() {
		r.Author = r.User
	}
}

// Note is an internal note on a ticket.
type Note struct {
	ID        ID        `json:"id"`
	Note      string    `json:"note"`
	Author    Person    `json:"author,omitzero"`
	CreatedAt Timestamp `json:"created_at,omitzero"`
}

// UnmarshalJSONFrom decodes by reflection and caps the text.
func (n *Note) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	type plain Note
	if err := json.UnmarshalDecode(d, (*plain)(n)); err != nil {
		return err
	}
	n.Note = capString(n.Note, maxTextBytes)
	return nil
}

// Attachment is a file stored on a ticket (the /ticket/{id}/attachments family).
type Attachment struct {
	ID               ID        `json:"id"`
	Filename         string    `json:"filename"`
	OriginalFilename string    `json:"original_filename"`
	FileSize         int64     `json:"file_size"`
	MimeType         string    `json:"mime_type"`
	DownloadURL      string    `json:"download_url,omitempty"`
	UploadedBy       Person    `json:"uploaded_by,omitzero"`
	UploadedAt       Timestamp `json:"uploaded_at,omitzero"`
}

// UnmarshalJSONFrom decodes by reflection and caps the strings.
func (a *Attachment) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	type plain Attachment
	if err := json.UnmarshalDecode(d, (*plain)(a)); err != nil {
		return err
	}
	a.Filename = capString(a.Filename, maxFileNameBytes)
	a.OriginalFilename = capString(a.OriginalFilename, maxFileNameBytes)
	a.MimeType = capString(a.MimeType, maxShortBytes)
	a.DownloadURL = capString(a.DownloadURL, maxURLBytes)
	return nil
}

// AttachmentList is the answer of ListAttachments.
type AttachmentList struct {
	TicketID         ID           `json:"ticket_id"`
	Attachments      []Attachment `json:"attachments"`
	TotalAttachments int          `json:"total_attachments"`
	TotalSize        int64        `json:"total_size"`
}

// UploadResult is the answer of UploadAttachments.
type UploadResult struct {
	TicketID      ID           `json:"ticket_id"`
	UploadedFiles []Attachment `json:"uploaded_files"`
}

// AssignResult is the answer of Assign.
type AssignResult struct {
	TicketID         ID        `json:"ticket_id"`
	PreviousAssignee string    `json:"previous_assignee"`
	NewAssignee      string    `json:"new_assignee"`
	AssignedAt       Timestamp `json:"assigned_at"`
	Reason           string    `json:"reason"`
}

// StatusChange is the answer of the legacy status update.
type StatusChange struct {
	TicketID             ID        `json:"ticket_id"`
	OldStatus            Status    `json:"old_status"`
	NewStatus            Status    `json:"new_status"`
	ResolutionNotes      string    `json:"resolution_notes"`
	ActualResolutionTime Timestamp `json:"actual_resolution_time"`
	UpdatedAt            Timestamp `json:"updated_at"`
}

// Analytics is the answer of GET /ticket/analytics.
type Analytics struct {
	Period    string `json:"period"`
	StartDate string `json:"start_date"`
	EndDate   string `json:"end_date"`
	Summary   struct {
		TotalTickets          int     `json:"total_tickets"`
		NewTickets            int     `json:"new_tickets"`
		ResolvedTickets       int     `json:"resolved_tickets"`
		ClosedTickets         int     `json:"closed_tickets"`
		AverageResolutionTime string  `json:"average_resolution_time"`
		CustomerSatisfaction  float64 `json:"customer_satisfaction"`
	} `json:"summary"`
	ByStatus            map[string]int `json:"by_status"`
	ByPriority          map[string]int `json:"by_priority"`
	ByCategory          map[string]int `json:"by_category"`
	ResolutionTimeTrend []struct {
		Week         string  `json:"week"`
		AverageHours float64 `json:"average_hours"`
	} `json:"resolution_time_trend"`
	TopAssignees []struct {
		Assignee              string `json:"assignee"`
		TicketsHandled        int    `json:"tickets_handled"`
		AverageResolutionTime string `json:"average_resolution_time"`
	} `json:"top_assignees"`
}

// Contact is a TaskIP contact (a customer).
type Contact struct {
	ID          ID        `json:"id"`
	Name        string    `json:"name"`
	Email       string    `json:"email"`
	Phone       string    `json:"phone,omitempty"`
	CompanyID   ID        `json:"company_id,omitempty"`
	CompanyName string    `json:"company_name,omitempty"`
	Position    string    `json:"position,omitempty"`
	Status      string    `json:"status,omitempty"`
	CreatedAt   Timestamp `json:"created_at,omitzero"`
	UpdatedAt   Timestamp `json:"updated_at,omitzero"`
}

// UnmarshalJSONFrom decodes by reflection and caps the strings.
func (c *Contact) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	type plain Contact
	if err := json.UnmarshalDecode(d, (*plain)(c)); err != nil {
		return err
	}
	for _, f := range []*string{&c.Name, &c.Email, &c.Phone, &c.CompanyName, &c.Position, &c.Status} {
		*f = capString(*f, maxShortBytes)
	}
	return nil
}

// TeamMember is a TaskIP team member (an agent).
type TeamMember struct {
	ID         ID     `json:"id"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Username   string `json:"username,omitempty"`
	Role       string `json:"role,omitempty"`
	Department string `json:"department,omitempty"`
	Position   string `json:"position,omitempty"`
	Status     string `json:"status,omitempty"`
	Timezone   string `json:"timezone,omitempty"`
}

// UnmarshalJSONFrom decodes by reflection and caps the strings.
func (m *TeamMember) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	type plain TeamMember
	if err := json.UnmarshalDecode(d, (*plain)(m)); err != nil {
		return err
	}
	for _, f := range []*string{&m.Name, &m.Email, &m.Username, &m.Role, &m.Department, &m.Position, &m.Status, &m.Timezone} {
		*f = capString(*f, maxShortBytes)
	}
	return nil
}

// PageInfo is the paging metadata of list responses, when the server sends it.
type PageInfo struct {
	CurrentPage int `json:"current_page"`
	PerPage     int `json:"per_page"`
	Total       int `json:"total"`
	TotalPages  int `json:"total_pages"`
}

// Limits on one decoded string field. What TaskIP answers is copied into
// the state file (watch snapshots, conversations, mappings) and into Slack
// and mail, so a field of absurd length must not travel on from here: a
// server once answered with a 121 MB subject. Each limit is far above any
// legitimate value, so only such answers are ever cut; a cut string ends in
// truncationMark, which also keeps a cut email address from passing for a
// different, valid one.
const (
	// maxSubjectBytes holds 1,000 characters even of four-byte UTF-8, ten
	// times what a mail client or a Slack header shows of a subject.
	maxSubjectBytes = 4 << 10
	// maxShortBytes is for names, emails, uuids, labels and raw dates. An
	// email address is at most 254 bytes (RFC 5321's 256-byte path less
	// its brackets); 320 is the often quoted 64+1+255 bound, and a person's
	// or company's name longer than that is not a name.
	maxShortBytes = 320
	// maxFileNameBytes holds a 255-unit NTFS name in three-byte UTF-8.
	maxFileNameBytes = 1 << 10
	// maxURLBytes: common servers and proxies refuse request lines beyond
	// 8 KiB, so a longer URL could not be fetched anyway.
	maxURLBytes = 8 << 10
	// maxTextBytes is for descriptions, replies and notes: some hundred
	// thousand words, so no reply a person wrote is cut on its way to a
	// customer's mailbox, while one record stays a bounded size.
	maxTextBytes = 1 << 20
	// maxTags: labels on a ticket are a handful; hundreds are a bug.
	maxTags = 256

	truncationMark = "…"
)

// capString returns s cut to at most limit bytes of valid UTF-8, marked
// with truncationMark when cut. The result never shares memory with a cut
// s, so the prefix kept does not pin the whole string.
func capString(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	mark := truncationMark
	if limit < len(mark) {
		mark = ""
	}
	cut := max(limit-len(mark), 0)
	// A valid rune is at most utf8.UTFMax bytes: back up to its start
	// rather than split it.
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	// Dropping (not replacing) invalid bytes removes what is left of a
	// split or malformed sequence and can only shorten the result.
	head := strings.ToValidUTF8(s[:cut], "")
	if mark == "" {
		return strings.Clone(head)
	}
	return head + mark
}

// capStrings caps every element of list to limit bytes and the list to n
// elements.
func capStrings(list []string, n, limit int) []string {
	if len(list) > n {
		list = slices.Clone(list[:n])
	}
	for i := range list {
		list[i] = capString(list[i], limit)
	}
	return list
}
