package taskip

import (
	"net/url"
	"strconv"
)

// Every path and every request field name the client sends lives in this file,
// so a change on the vendor side is a one-line change here.

// DefaultBaseURL is the vendor's public API root.
const DefaultBaseURL = "https://public-api.taskip.net/api/public-v1"

const headerSecretKey = "X-Secret-Key"

func pathTickets() string             { return "/support-ticket" }
func pathTicket(id ID) string         { return "/support-ticket/" + id.String() }
func pathBulk() string                { return "/support-ticket/bulk-actions" }
func pathReply(uuid string) string    { return "/support-ticket/reply/" + url.PathEscape(uuid) }
func pathPriority(uuid string) string { return "/support-ticket/" + url.PathEscape(uuid) + "/priority" }
func pathStatus(uuid string) string   { return "/support-ticket/status-update/" + url.PathEscape(uuid) }
func pathNoteStore(uuid string) string {
	return "/support-ticket/" + url.PathEscape(uuid) + "/note-store"
}
func pathAssign(id ID) string       { return "/ticket/" + id.String() + "/assign" }
func pathLegacyStatus(id ID) string { return "/ticket/" + id.String() + "/status-update" }
func pathLegacyReply(id ID) string  { return "/ticket/" + id.String() + "/add-reply" }
func pathAttachments(id ID) string  { return "/ticket/" + id.String() + "/attachments" }
func pathAnalytics() string         { return "/ticket/analytics" }
func pathContacts() string          { return "/contact" }
func pathContact(id ID) string      { return "/contact/" + id.String() }
func pathTeamMembers() string       { return "/team-member" }
func pathTeamMember(id ID) string   { return "/team-member/" + id.String() }
func pathNoteDelete(uuid string, noteID ID) string {
	return "/support-ticket/" + url.PathEscape(uuid) + "/note-delete/" + noteID.String()
}

// Multipart field names of the attachment upload.
const (
	formFiles       = "files[]"
	formDescription = "description"
)

// TicketFields is the body of create and update. Nil fields are left out, so
// an update sends only what changes (the reference: "only include fields you
// want to update").
type TicketFields struct {
	Subject     *string   `json:"subject,omitempty"`
	Priority    *Priority `json:"priority,omitempty"`
	Status      *Status   `json:"status,omitempty"`
	Description *string   `json:"description,omitempty"`
	Attachment  *ID       `json:"attachment,omitempty"`
	CreatedBy   *ID       `json:"created_by,omitempty"`
	UserID      *ID       `json:"user_id,omitempty"`
}

// ReplyFields is the body of POST /support-ticket/reply/{uuid}.
type ReplyFields struct {
	Description string  `json:"description"`
	Status      *Status `json:"status,omitempty"`
	Attachment  *ID     `json:"attachment,omitempty"`
}

type priorityBody struct {
	Priority Priority `json:"priority"`
}

type statusBody struct {
	Status          Status `json:"status"`
	ResolutionNotes string `json:"resolution_notes,omitempty"`
}

type noteBody struct {
	Note string `json:"note"`
}

// AssignFields is the body of POST /ticket/{id}/assign.
type AssignFields struct {
	AssignedTo     ID     `json:"assigned_to"`
	Reason         string `json:"reason,omitempty"`
	NotifyAssignee *bool  `json:"notify_assignee,omitempty"`
}

// LegacyStatusFields is the body of POST /ticket/{id}/status-update, which
// takes the status as a name.
type LegacyStatusFields struct {
	Status          Status
	ResolutionNotes string
	NotifyClient    *bool
}

type legacyStatusBody struct {
	Status          string `json:"status"`
	ResolutionNotes string `json:"resolution_notes,omitempty"`
	NotifyClient    *bool  `json:"notify_client,omitempty"`
}

// AddReplyFields is the body of POST /ticket/{id}/add-reply.
type AddReplyFields struct {
	Message      string `json:"message"`
	AuthorType   string `json:"author_type,omitempty"` // team_member, client, system
	IsPrivate    bool   `json:"is_private"`
	NotifyClient *bool  `json:"notify_client,omitempty"`
}

// Bulk actions of POST /support-ticket/bulk-actions.
const (
	BulkDelete       = "delete"
	BulkStatusUpdate = "status_update"
	BulkAssign       = "assign"
	BulkAddTags      = "add_tags"
)

// BulkFields is the body of POST /support-ticket/bulk-actions.
type BulkFields struct {
	TicketIDs  []ID           `json:"ticket_ids"`
	Action     string         `json:"action"`
	Parameters *BulkParameter `json:"parameters,omitempty"`
}

// BulkParameter carries the action-specific parameters.
type BulkParameter struct {
	Status          *Status  `json:"status,omitempty"`
	ResolutionNotes string   `json:"resolution_notes,omitempty"`
	AssignedTo      *ID      `json:"assigned_to,omitempty"`
	Tags            []string `json:"tags,omitempty"`
}

// ContactFields is the body of POST /contact.
type ContactFields struct {
	Name      string `json:"name"`
	Email     string `json:"email"`
	Phone     string `json:"phone,omitempty"`
	CompanyID *ID    `json:"company_id,omitempty"`
	Position  string `json:"position,omitempty"`
	Address   string `json:"address,omitempty"`
	Notes     string `json:"notes,omitempty"`
	Status    string `json:"status,omitempty"`
}

// ListParams are the filters and paging of GET /support-ticket. Zero values
// are not sent.
type ListParams struct {
	Page       int
	Limit      int
	Search     string
	Sort       string // created_at, updated_at, priority, status
	Order      string // asc, desc
	Status     *Status
	Priority   *Priority
	AssignedTo ID
	ClientID   ID
	Category   string
	DateFrom   string // YYYY-MM-DD
	DateTo     string
}

func (p ListParams) query() url.Values {
	q := url.Values{}
	setInt(q, "page", p.Page)
	setInt(q, "limit", p.Limit)
	setStr(q, "search", p.Search)
	setStr(q, "sort", p.Sort)
	setStr(q, "order", p.Order)
	if p.Status != nil {
		q.Set("status", p.Status.String())
	}
	if p.Priority != nil {
		q.Set("priority", p.Priority.String())
	}
	setInt(q, "assigned_to", int(p.AssignedTo))
	setInt(q, "client_id", int(p.ClientID))
	setStr(q, "category", p.Category)
	setStr(q, "date_from", p.DateFrom)
	setStr(q, "date_to", p.DateTo)
	return q
}

// SearchParams are the filters of the contact and team-member lists.
type SearchParams struct {
	Page       int
	Limit      int
	Search     string
	Sort       string
	Order      string
	Role       string // team members only
	Status     string
	Department string // team members only
}

func (p SearchParams) query() url.Values {
	q := url.Values{}
	setInt(q, "page", p.Page)
	setInt(q, "limit", p.Limit)
	setStr(q, "search", p.Search)
	setStr(q, "sort", p.Sort)
	setStr(q, "order", p.Order)
	setStr(q, "role", p.Role)
	setStr(q, "status", p.Status)
	setStr(q, "department", p.Department)
	return q
}

// AnalyticsParams are the query of GET /ticket/analytics.
type AnalyticsParams struct {
	Period    string // day, week, month, year
	StartDate string
	EndDate   string
	GroupBy   string // status, priority, category, assignee
}

func (p AnalyticsParams) query() url.Values {
	q := url.Values{}
	setStr(q, "period", p.Period)
	setStr(q, "start_date", p.StartDate)
	setStr(q, "end_date", p.EndDate)
	setStr(q, "group_by", p.GroupBy)
	return q
}

func setStr(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setInt(q url.Values, k string, v int) {
	if v != 0 {
		q.Set(k, strconv.Itoa(v))
	}
}
