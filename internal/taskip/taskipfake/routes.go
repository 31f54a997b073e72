package taskipfake

import "net/http"

func (s *Server) routes() {
	s.handle("GET /support-ticket", s.listTickets)
	s.handle("POST /support-ticket", s.createTicket)
	s.handle("POST /support-ticket/bulk-actions", s.bulkActions)
	s.handle("GET /support-ticket/{id}", s.getTicket)
	s.handle("PUT /support-ticket/{id}", s.updateTicket)
	s.handle("DELETE /support-ticket/{id}", s.deleteTicket)
	// reply/{uuid} and status-update/{uuid} overlap {uuid}/priority and
	// {uuid}/note-store (reply/priority matches both), which ServeMux
	// rejects as conflicting patterns; one pattern dispatches all four, the
	// literal first segment winning as ServeMux precedence would have it.
	s.handle("POST /support-ticket/{first}/{second}", s.supportTicketAction)
	s.handle("DELETE /support-ticket/{uuid}/note-delete/{note}", s.deleteNote)

	s.handle("GET /ticket/analytics", s.analytics)
	s.handle("POST /ticket/{id}/assign", s.assign)
	s.handle("POST /ticket/{id}/status-update", s.legacyStatusUpdate)
	s.handle("POST /ticket/{id}/add-reply", s.legacyAddReply)
	s.handle("POST /ticket/{id}/attachments", s.uploadAttachments)
	s.handle("GET /ticket/{id}/attachments", s.listAttachments)

	s.handle("GET /contact", s.listContacts)
	s.handle("POST /contact", s.createContact)
	s.handle("GET /contact/{id}", s.getContact)
	s.handle("GET /team-member", s.listTeamMembers)
	s.handle("GET /team-member/{id}", s.getTeamMember)
}

func (s *Server) supportTicketAction(c *call) {
	first, second := c.r.PathValue("first"), c.r.PathValue("second")
	switch {
	case first == "reply":
		s.replyByUUID(c, second)
	case first == "status-update":
		s.statusByUUID(c, second)
	case second == "priority":
		s.priorityByUUID(c, first)
	case second == "note-store":
		s.storeNote(c, first)
	default:
		writeError(c.w, http.StatusNotFound, "Route not found", nil)
	}
}
