package taskip

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// dataEnvelope is the {"data": ...} wrapper most responses use.
type dataEnvelope[T any] struct {
	Data T `json:"data"`
}

// ticketEnvelope decodes either {"data": Ticket} or a bare Ticket: GET
// /support-ticket/{id} sends the latter, every write the former.
type ticketEnvelope struct{ t Ticket }

// UnmarshalJSONFrom reads the object once: a "data" object is the ticket and
// wins over everything else; other members are read as a bare ticket's.
func (e *ticketEnvelope) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	var bare, inner Ticket
	wrapped := false
	err := readObject(d, func(name jsontext.Value) (err error) {
		if string(name) == `"data"` && d.PeekKind() == '{' {
			wrapped = true
			err = inner.decode(d, nil)
		} else {
			err = bare.decodeMember(d, name, nil)
		}
		if err != nil {
			return fmt.Errorf("ticket %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.t = bare
	if wrapped {
		e.t = inner
	}
	return nil
}

func (e *ticketEnvelope) ticket() Ticket {
	t := e.t
	t.Normalize()
	return t
}

// TicketPage is one page of GET /support-ticket.
type TicketPage struct {
	Tickets []Ticket  `json:"data"`
	Meta    *PageInfo `json:"meta,omitempty"`
}

// ListTickets fetches one page with the given filters.
func (c *Client) ListTickets(ctx context.Context, p ListParams) (TicketPage, error) {
	var page TicketPage
	err := c.do(ctx, request{method: http.MethodGet, path: pathTickets(), query: p.query(), idempotent: true}, &page)
	if err != nil {
		return TicketPage{}, fmt.Errorf("list tickets: %w", err)
	}
	for i := range page.Tickets {
		page.Tickets[i].Normalize()
	}
	return page, nil
}

// DefaultListLimit is the page size ListAll asks for when none is set.
const DefaultListLimit = 100

// ListAll pages through every ticket matching p, starting at p.Page (or 1).
// Iteration stops at the first error, which is yielded once.
func (c *Client) ListAll(ctx context.Context, p ListParams) iter.Seq2[Ticket, error] {
	return func(yield func(Ticket, error) bool) {
		if p.Limit <= 0 {
			p.Limit = DefaultListLimit
		}
		if p.Page <= 0 {
			p.Page = 1
		}
		var prevFirst ID = -1
		for {
			page, err := c.ListTickets(ctx, p)
			if err != nil {
				yield(Ticket{}, err)
				return
			}
			if len(page.Tickets) == 0 {
				return
			}
			// A server that ignores "page" would otherwise be paged forever.
			if page.Tickets[0].ID == prevFirst {
				yield(Ticket{}, fmt.Errorf("list tickets: page %d repeats the previous page; the server ignores paging", p.Page))
				return
			}
			prevFirst = page.Tickets[0].ID
			for _, t := range page.Tickets {
				if !yield(t, nil) {
					return
				}
			}
			if m := page.Meta; m != nil && m.TotalPages > 0 {
				if m.CurrentPage >= m.TotalPages || p.Page >= m.TotalPages {
					return
				}
			} else if len(page.Tickets) < p.Limit {
				return
			}
			p.Page++
		}
	}
}

// CreateTicket creates a ticket. It is not retried once the request may have
// reached the server: an error matching ErrOutcomeUnknown asks the caller to
// look for the ticket before creating it again.
func (c *Client) CreateTicket(ctx context.Context, f TicketFields) (Ticket, error) {
	var env ticketEnvelope
	if err := c.do(ctx, request{method: http.MethodPost, path: pathTickets(), body: f}, &env); err != nil {
		return Ticket{}, fmt.Errorf("create ticket %q: %w", deref(f.Subject), err)
	}
	return env.ticket(), nil
}

// GetTicket fetches one ticket by numeric id, with replies and notes when the
// server includes them.
func (c *Client) GetTicket(ctx context.Context, id ID) (Ticket, error) {
	var env ticketEnvelope
	if err := c.do(ctx, request{method: http.MethodGet, path: pathTicket(id), idempotent: true}, &env); err != nil {
		return Ticket{}, fmt.Errorf("get ticket %d: %w", id, err)
	}
	return env.ticket(), nil
}

// UpdateTicket changes the fields that are set in f.
func (c *Client) UpdateTicket(ctx context.Context, id ID, f TicketFields) (Ticket, error) {
	var env ticketEnvelope
	if err := c.do(ctx, request{method: http.MethodPut, path: pathTicket(id), body: f, idempotent: true}, &env); err != nil {
		return Ticket{}, fmt.Errorf("update ticket %d: %w", id, err)
	}
	return env.ticket(), nil
}

// DeleteTicket removes a ticket for good.
func (c *Client) DeleteTicket(ctx context.Context, id ID) error {
	if err := c.do(ctx, request{method: http.MethodDelete, path: pathTicket(id), idempotent: true}, nil); err != nil {
		return fmt.Errorf("delete ticket %d: %w", id, err)
	}
	return nil
}

type msgEnvelope struct {
	Msg     string `json:"msg"`
	Message string `json:"message"`
}

func (m msgEnvelope) text() string {
	if m.Msg != "" {
		return m.Msg
	}
	return m.Message
}

// Bulk performs one bulk action and returns the server's message. Every
// action sets a value, so repeating it is harmless and it is retried.
func (c *Client) Bulk(ctx context.Context, f BulkFields) (string, error) {
	var env msgEnvelope
	if err := c.do(ctx, request{method: http.MethodPost, path: pathBulk(), body: f, idempotent: true}, &env); err != nil {
		return "", fmt.Errorf("bulk %s on %d tickets: %w", f.Action, len(f.TicketIDs), err)
	}
	return env.text(), nil
}

// Reply adds a customer-visible reply by ticket uuid (optionally changing the
// status). Not retried once it may have been received: see CreateTicket.
func (c *Client) Reply(ctx context.Context, uuid string, f ReplyFields) (Reply, error) {
	var env struct {
		Reply *Reply `json:"reply"`
		Data  *Reply `json:"data"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, path: pathReply(uuid), body: f}, &env); err != nil {
		return Reply{}, fmt.Errorf("reply to ticket %s: %w", uuid, err)
	}
	var r Reply
	if env.Reply != nil {
		r = *env.Reply
	} else if env.Data != nil {
		r = *env.Data
	}
	r.Normalize()
	return r, nil
}

// changeEnvelope is the answer of the by-uuid setters; the reference leaves
// it undocumented, so the ticket is returned only when the server sends it.
type changeEnvelope struct {
	Data *Ticket `json:"data"`
}

func (e changeEnvelope) ticket() *Ticket {
	if e.Data != nil && e.Data.ID != 0 {
		e.Data.Normalize()
		return e.Data
	}
	return nil
}

// SetPriority changes the priority by ticket uuid. The returned ticket is nil
// when the server does not send it.
func (c *Client) SetPriority(ctx context.Context, uuid string, p Priority) (*Ticket, error) {
	var env changeEnvelope
	if err := c.do(ctx, request{method: http.MethodPost, path: pathPriority(uuid), body: priorityBody{Priority: p}, idempotent: true}, &env); err != nil {
		return nil, fmt.Errorf("set priority of ticket %s to %s: %w", uuid, p, err)
	}
	return env.ticket(), nil
}

// SetStatus changes the status by ticket uuid, with optional resolution notes.
func (c *Client) SetStatus(ctx context.Context, uuid string, s Status, resolutionNotes string) (*Ticket, error) {
	var env changeEnvelope
	body := statusBody{Status: s, ResolutionNotes: resolutionNotes}
	if err := c.do(ctx, request{method: http.MethodPost, path: pathStatus(uuid), body: body, idempotent: true}, &env); err != nil {
		return nil, fmt.Errorf("set status of ticket %s to %s: %w", uuid, s, err)
	}
	return env.ticket(), nil
}

// AddNote stores an internal note. Not retried once it may have been
// received: see CreateTicket.
func (c *Client) AddNote(ctx context.Context, uuid, text string) (Note, error) {
	var env dataEnvelope[Note]
	if err := c.do(ctx, request{method: http.MethodPost, path: pathNoteStore(uuid), body: noteBody{Note: text}}, &env); err != nil {
		return Note{}, fmt.Errorf("add note to ticket %s: %w", uuid, err)
	}
	return env.Data, nil
}

// DeleteNote removes a note. A retry after a lost answer may see 404, which
// the caller can treat as done.
func (c *Client) DeleteNote(ctx context.Context, uuid string, noteID ID) error {
	if err := c.do(ctx, request{method: http.MethodDelete, path: pathNoteDelete(uuid, noteID), idempotent: true}, nil); err != nil {
		return fmt.Errorf("delete note %d of ticket %s: %w", noteID, uuid, err)
	}
	return nil
}

// Assign gives the ticket to a team member.
func (c *Client) Assign(ctx context.Context, id ID, f AssignFields) (AssignResult, error) {
	var env dataEnvelope[AssignResult]
	if err := c.do(ctx, request{method: http.MethodPost, path: pathAssign(id), body: f, idempotent: true}, &env); err != nil {
		return AssignResult{}, fmt.Errorf("assign ticket %d to %d: %w", id, f.AssignedTo, err)
	}
	return env.Data, nil
}

// LegacySetStatus is POST /ticket/{id}/status-update, which takes the status
// by name and a numeric id.
func (c *Client) LegacySetStatus(ctx context.Context, id ID, f LegacyStatusFields) (StatusChange, error) {
	var env dataEnvelope[StatusChange]
	body := legacyStatusBody{Status: f.Status.String(), ResolutionNotes: f.ResolutionNotes, NotifyClient: f.NotifyClient}
	if err := c.do(ctx, request{method: http.MethodPost, path: pathLegacyStatus(id), body: body, idempotent: true}, &env); err != nil {
		return StatusChange{}, fmt.Errorf("set status of ticket %d to %s: %w", id, f.Status, err)
	}
	return env.Data, nil
}

// AddReply is POST /ticket/{id}/add-reply (private replies are possible
// here). Not retried once it may have been received.
func (c *Client) AddReply(ctx context.Context, id ID, f AddReplyFields) (Reply, error) {
	var env dataEnvelope[Reply]
	if err := c.do(ctx, request{method: http.MethodPost, path: pathLegacyReply(id), body: f}, &env); err != nil {
		return Reply{}, fmt.Errorf("add reply to ticket %d: %w", id, err)
	}
	env.Data.Normalize()
	return env.Data, nil
}

// ListAttachments lists the files stored on a ticket.
func (c *Client) ListAttachments(ctx context.Context, id ID) (AttachmentList, error) {
	var env dataEnvelope[AttachmentList]
	if err := c.do(ctx, request{method: http.MethodGet, path: pathAttachments(id), idempotent: true}, &env); err != nil {
		return AttachmentList{}, fmt.Errorf("list attachments of ticket %d: %w", id, err)
	}
	return env.Data, nil
}

// Analytics fetches the ticket statistics.
func (c *Client) Analytics(ctx context.Context, p AnalyticsParams) (Analytics, error) {
	var env dataEnvelope[Analytics]
	if err := c.do(ctx, request{method: http.MethodGet, path: pathAnalytics(), query: p.query(), idempotent: true}, &env); err != nil {
		return Analytics{}, fmt.Errorf("analytics: %w", err)
	}
	return env.Data, nil
}

// FindByUUID returns the ticket with the given uuid. The API has no lookup by
// uuid, so this pages through the list, most recently updated first; callers
// that know the id should use GetTicket.
func (c *Client) FindByUUID(ctx context.Context, uuid string) (Ticket, error) {
	for t, err := range c.ListAll(ctx, ListParams{Sort: "updated_at", Order: "desc"}) {
		if err != nil {
			return Ticket{}, fmt.Errorf("find ticket %s: %w", uuid, err)
		}
		if strings.EqualFold(t.UUID, uuid) {
			return t, nil
		}
	}
	return Ticket{}, fmt.Errorf("find ticket %s: %w", uuid, ErrNotFound)
}

// IsUUID reports whether ref has the shape of a ticket uuid rather than an id.
func IsUUID(ref string) bool {
	if len(ref) != 36 {
		return false
	}
	for i, r := range ref {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
