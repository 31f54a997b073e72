package taskip

import (
	"context"
	"fmt"
	"net/http"
)

// ContactPage is one page of GET /contact.
type ContactPage struct {
	Contacts []Contact `json:"data"`
	Meta     *PageInfo `json:"meta,omitempty"`
}

// SearchContacts lists contacts; Search matches name or email.
func (c *Client) SearchContacts(ctx context.Context, p SearchParams) (ContactPage, error) {
	var page ContactPage
	if err := c.do(ctx, request{method: http.MethodGet, path: pathContacts(), query: p.query(), idempotent: true}, &page); err != nil {
		return ContactPage{}, fmt.Errorf("search contacts %q: %w", p.Search, err)
	}
	return page, nil
}

// GetContact fetches one contact.
func (c *Client) GetContact(ctx context.Context, id ID) (Contact, error) {
	var env dataEnvelope[Contact]
	if err := c.do(ctx, request{method: http.MethodGet, path: pathContact(id), idempotent: true}, &env); err != nil {
		return Contact{}, fmt.Errorf("get contact %d: %w", id, err)
	}
	return env.Data, nil
}

// CreateContact creates a contact; ErrConflict means the email exists
// already. Not retried once it may have been received.
func (c *Client) CreateContact(ctx context.Context, f ContactFields) (Contact, error) {
	var env dataEnvelope[Contact]
	if err := c.do(ctx, request{method: http.MethodPost, path: pathContacts(), body: f}, &env); err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	return env.Data, nil
}

// TeamMemberPage is one page of GET /team-member.
type TeamMemberPage struct {
	Members []TeamMember `json:"data"`
	Meta    *PageInfo    `json:"meta,omitempty"`
}

// SearchTeamMembers lists team members; Search matches name or email.
func (c *Client) SearchTeamMembers(ctx context.Context, p SearchParams) (TeamMemberPage, error) {
	var page TeamMemberPage
	if err := c.do(ctx, request{method: http.MethodGet, path: pathTeamMembers(), query: p.query(), idempotent: true}, &page); err != nil {
		return TeamMemberPage{}, fmt.Errorf("search team members %q: %w", p.Search, err)
	}
	return page, nil
}

// GetTeamMember fetches one team member.
func (c *Client) GetTeamMember(ctx context.Context, id ID) (TeamMember, error) {
	var env dataEnvelope[TeamMember]
	if err := c.do(ctx, request{method: http.MethodGet, path: pathTeamMember(id), idempotent: true}, &env); err != nil {
		return TeamMember{}, fmt.Errorf("get team member %d: %w", id, err)
	}
	return env.Data, nil
}
