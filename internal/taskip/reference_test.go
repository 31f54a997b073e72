package taskip

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveFile answers every request with the verbatim example body, so the
// decode path under test is the client's own, not a separate json.Unmarshal.
func serveFile(t *testing.T, status int, file string) *Client {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/api/public-v1", SecretKey: "test-key", MaxAttempts: 1})
	require.NoError(t, err)
	return c
}

func TestReferenceExamplesDecode(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		file  string
		check func(t *testing.T, c *Client)
	}{
		{"reference/list_tickets.json", func(t *testing.T, c *Client) {
			page, err := c.ListTickets(ctx, ListParams{})
			require.NoError(t, err)
			require.Len(t, page.Tickets, 2)
			first := page.Tickets[0]
			assert.Equal(t, ID(1), first.ID)
			assert.Equal(t, "550e8400-e29b-41d4-a716-446655440001", first.UUID)
			assert.Equal(t, PriorityHigh, first.Priority)
			assert.Equal(t, StatusInProgress, first.Status)
			assert.Equal(t, Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}, first.User)
			assert.Equal(t, "Admin User", first.CreatedBy.Name)
			require.NotNil(t, first.Attachment)
			assert.Equal(t, int64(2048576), first.Attachment.Size)
			assert.Nil(t, page.Tickets[1].Attachment)
			assert.Equal(t, StatusResolved, page.Tickets[1].Status)
			assert.Nil(t, page.Meta)
		}},
		{"reference/create_ticket.json", func(t *testing.T, c *Client) {
			tk, err := c.CreateTicket(ctx, TicketFields{})
			require.NoError(t, err)
			assert.Equal(t, ID(46), tk.ID)
			assert.Equal(t, StatusOpen, tk.Status)
			assert.Equal(t, "emma@startup.com", tk.User.Email)
		}},
		{"reference/get_ticket.json", func(t *testing.T, c *Client) {
			tk, err := c.GetTicket(ctx, 46)
			require.NoError(t, err)
			assert.Equal(t, ID(46), tk.ID)
			assert.Equal(t, StatusInProgress, tk.Status)
			assert.Equal(t, "error_logs.txt", tk.Attachment.Name)
		}},
		{"reference/update_ticket.json", func(t *testing.T, c *Client) {
			tk, err := c.UpdateTicket(ctx, 46, TicketFields{})
			require.NoError(t, err)
			assert.Equal(t, PriorityUrgent, tk.Priority)
			assert.Equal(t, "Email Notifications Not Working - URGENT", tk.Subject)
		}},
		{"reference/delete_ticket.json", func(t *testing.T, c *Client) {
			require.NoError(t, c.DeleteTicket(ctx, 46))
		}},
		{"reference/bulk_actions.json", func(t *testing.T, c *Client) {
			msg, err := c.Bulk(ctx, BulkFields{TicketIDs: []ID{40, 41}, Action: BulkDelete})
			require.NoError(t, err)
			assert.Equal(t, "SupportTicket deleted successfully", msg)
		}},
		{"reference/assign.json", func(t *testing.T, c *Client) {
			res, err := c.Assign(ctx, 45, AssignFields{AssignedTo: 8})
			require.NoError(t, err)
			assert.Equal(t, ID(45), res.TicketID)
			assert.Equal(t, "David Chen", res.NewAssignee)
			assert.Equal(t, 2024, res.AssignedAt.Time.Year())
		}},
		{"reference/legacy_status_update.json", func(t *testing.T, c *Client) {
			res, err := c.LegacySetStatus(ctx, 45, LegacyStatusFields{Status: StatusResolved})
			require.NoError(t, err)
			assert.Equal(t, StatusInProgress, res.OldStatus)
			assert.Equal(t, StatusResolved, res.NewStatus)
		}},
		{"reference/legacy_add_reply.json", func(t *testing.T, c *Client) {
			r, err := c.AddReply(ctx, 45, AddReplyFields{Message: "x"})
			require.NoError(t, err)
			assert.Equal(t, ID(103), r.ID)
			assert.Equal(t, "Sarah Johnson", r.Author.Name)
			assert.Equal(t, "team_member", r.AuthorType)
		}},
		{"reference/reply_by_uuid.json", func(t *testing.T, c *Client) {
			r, err := c.Reply(ctx, "abc123def456", ReplyFields{Description: "x"})
			require.NoError(t, err)
			assert.Equal(t, ID(789), r.ID)
			assert.Equal(t, "Support Agent", r.Author.Name)
			assert.Contains(t, r.Message, "Thank you for contacting us")
			assert.Equal(t, ID(123), r.Attachment.ID)
		}},
		{"reference/upload_attachments.json", func(t *testing.T, c *Client) {
			res, err := c.UploadAttachments(ctx, 45, []File{memFile("a.txt", "hello")}, "")
			require.NoError(t, err)
			require.Len(t, res.UploadedFiles, 2)
			assert.Equal(t, int64(245760), res.UploadedFiles[0].FileSize)
		}},
		{"reference/list_attachments.json", func(t *testing.T, c *Client) {
			res, err := c.ListAttachments(ctx, 45)
			require.NoError(t, err)
			assert.Equal(t, 2, res.TotalAttachments)
			assert.Equal(t, "Emma Davis", res.Attachments[0].UploadedBy.Name)
		}},
		{"reference/analytics.json", func(t *testing.T, c *Client) {
			a, err := c.Analytics(ctx, AnalyticsParams{})
			require.NoError(t, err)
			assert.Equal(t, 125, a.Summary.TotalTickets)
			assert.Equal(t, 38, a.ByStatus["resolved"])
			assert.Len(t, a.TopAssignees, 2)
			assert.InDelta(t, 4.2, a.Summary.CustomerSatisfaction, 1e-9)
		}},
		{"variants/list_tickets_named.json", func(t *testing.T, c *Client) {
			page, err := c.ListTickets(ctx, ListParams{})
			require.NoError(t, err)
			require.Len(t, page.Tickets, 2)
			a, b := page.Tickets[0], page.Tickets[1]
			assert.Equal(t, ID(1), a.ID)
			assert.Equal(t, PriorityHigh, a.Priority)
			assert.Equal(t, StatusInProgress, a.Status)
			assert.Equal(t, ID(8), a.AssignedTo)
			assert.Equal(t, 16, a.UpdatedAt.Time.Day())
			assert.Equal(t, PriorityMedium, b.Priority)
			assert.Equal(t, StatusResolved, b.Status)
			assert.True(t, b.CreatedBy.IsZero())
			assert.True(t, b.UpdatedAt.IsZero())
			assert.Equal(t, 1, page.Meta.TotalPages)
		}},
		{"variants/get_ticket_schema_shape.json", func(t *testing.T, c *Client) {
			tk, err := c.GetTicket(ctx, 45)
			require.NoError(t, err)
			assert.Equal(t, "Email server not sending notifications", tk.Subject)
			assert.Equal(t, Person{ID: 18, Name: "Emma Davis", Email: "emma@startup.com"}, tk.User)
			assert.Equal(t, "Sarah Johnson", tk.CreatedBy.Name)
			assert.Equal(t, PriorityUrgent, tk.Priority)
			assert.Equal(t, StatusPending, tk.Status)
			require.Len(t, tk.Replies, 1)
			assert.Equal(t, "Sarah Johnson", tk.Replies[0].Author.Name)
			require.Len(t, tk.Notes, 1)
			assert.Equal(t, "Customer is on the enterprise plan", tk.Notes[0].Note)
		}},
		{"variants/contacts.json", func(t *testing.T, c *Client) {
			page, err := c.SearchContacts(ctx, SearchParams{Search: "emma"})
			require.NoError(t, err)
			assert.Equal(t, ID(18), page.Contacts[0].ID)
			assert.Equal(t, "Startup Inc", page.Contacts[0].CompanyName)
		}},
		{"variants/team_members.json", func(t *testing.T, c *Client) {
			page, err := c.SearchTeamMembers(ctx, SearchParams{Search: "david"})
			require.NoError(t, err)
			assert.Equal(t, "david@company.com", page.Members[0].Email)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) { tt.check(t, serveFile(t, http.StatusOK, tt.file)) })
	}
}

func TestReferenceErrorDecodes(t *testing.T) {
	c := serveFile(t, http.StatusUnprocessableEntity, "reference/error_422.json")
	_, err := c.CreateTicket(context.Background(), TicketFields{})
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 422, apiErr.StatusCode)
	assert.Equal(t, "Validation Error", apiErr.Type)
	assert.Equal(t, "The given data was invalid", apiErr.Message)
	assert.Equal(t, []string{"The title field is required."}, apiErr.Fields["title"])
	assert.True(t, errors.Is(err, ErrValidation))
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "category: The category field is required.")
}
