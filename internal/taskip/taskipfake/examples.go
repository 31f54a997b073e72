package taskipfake

import (
	"fmt"
	"time"
)

// SeedExamples loads the people and tickets of the vendor reference, with
// times relative to the clock so that createAt reads naturally:
//
//   - team members: Admin User 1, Support Agent 5 (the API user),
//     Sarah Johnson 7, David Chen 8
//   - contacts: John Smith 15, Emma Davis 18, Mike Wilson 22
//   - tickets 1 (in progress, high), 2 (resolved), 3 (closed) and 45 (in
//     progress, assigned to Sarah Johnson, with replies, a note and an
//     attachment), so the next created ticket is 46 as in the reference.
//
// Media 101 (screenshot.pdf) and 123 (solution_guide.pdf) exist for the
// "attachment" fields of create and reply.
func (s *Server) SeedExamples() {
	now := s.now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, m := range []TeamMember{
		{ID: 1, Name: "Admin User", Email: "admin@taskip.com", Role: "admin", Department: "Management", Position: "Administrator"},
		{ID: 5, Name: "Support Agent", Email: "agent@company.com", Role: "agent", Department: "Support", Position: "Support Agent"},
		{ID: 7, Name: "Sarah Johnson", Email: "sarah@company.com", Role: "agent", Department: "Support", Position: "Senior Support Engineer"},
		{ID: 8, Name: "David Chen", Email: "david@company.com", Role: "agent", Department: "Engineering", Position: "Email Systems Specialist"},
	} {
		m.CreatedAt = ago(90 * 24 * time.Hour)
		s.SeedTeamMember(m)
	}
	for _, c := range []Contact{
		{ID: 15, Name: "John Smith", Email: "john@acme.com", Phone: "+1-555-0115", CompanyID: 3, CompanyName: "Acme Corp", Position: "IT Manager"},
		{ID: 18, Name: "Emma Davis", Email: "emma@startup.com", Phone: "+1-555-0118", CompanyID: 4, CompanyName: "Startup Inc", Position: "Founder"},
		{ID: 22, Name: "Mike Wilson", Email: "mike@techcorp.com", Phone: "+1-555-0122", CompanyID: 5, CompanyName: "TechCorp", Position: "Developer"},
	} {
		c.CreatedAt = ago(60 * 24 * time.Hour)
		s.SeedContact(c)
	}
	s.mu.Lock()
	if s.apiUser == 0 {
		s.apiUser = 5
	}
	s.media[101] = Media{ID: 101, URL: "https://cdn.taskip.net/attachments/ticket-attachment.pdf", Name: "screenshot.pdf", Size: 2048576}
	s.media[123] = Media{ID: 123, URL: "https://cdn.taskip.net/attachments/solution_guide.pdf", Name: "solution_guide.pdf", Size: 245760}
	s.next.media = max(s.next.media, 124)
	shot := s.media[101]
	s.mu.Unlock()

	admin := &Person{ID: 1}
	s.SeedTicket(Ticket{ID: 1, UUID: exampleUUID(1), Subject: "Login Issues with Dashboard",
		Description: "User cannot access dashboard after password reset",
		CreatedBy:   admin, User: &Person{ID: 15}, Priority: PriorityHigh, Status: StatusInProgress,
		Attachment: &shot, Category: "Technical Support", CreatedAt: ago(2 * time.Hour)})
	s.SeedTicket(Ticket{ID: 2, UUID: exampleUUID(2), Subject: "Feature Request: Export Functionality",
		Description: "Request to add CSV export feature to reports",
		CreatedBy:   admin, User: &Person{ID: 22}, Priority: PriorityMedium, Status: StatusResolved,
		Category: "Feature Request", ResolutionNotes: "CSV export shipped in 4.2.",
		CreatedAt: ago(26 * time.Hour), UpdatedAt: ago(3 * time.Hour), ResolvedAt: ago(3 * time.Hour)})
	s.SeedTicket(Ticket{ID: 3, UUID: exampleUUID(3), Subject: "Invoice PDF shows wrong currency",
		Description: "Invoices for EU customers show USD instead of EUR.",
		CreatedBy:   admin, User: &Person{ID: 15}, Priority: PriorityLow, Status: StatusClosed,
		Category: "Bug Report", AssignedTo: 8, ResolutionNotes: "Fixed currency mapping.",
		CreatedAt: ago(10 * 24 * time.Hour), UpdatedAt: ago(8 * 24 * time.Hour), ResolvedAt: ago(8 * 24 * time.Hour)})
	t45 := s.SeedTicket(Ticket{ID: 45, UUID: exampleUUID(45), Subject: "Email Notifications Not Working",
		Description: "Customer reports that email notifications for new orders are not being received. This started happening 2 days ago.",
		CreatedBy:   admin, User: &Person{ID: 18}, Priority: PriorityHigh, Status: StatusInProgress,
		Category: "Technical Support", AssignedTo: 7, CreatedAt: ago(5 * time.Hour), UpdatedAt: ago(4 * time.Hour)})

	s.mu.Lock()
	defer s.mu.Unlock()
	att := Attachment{ID: 25, TicketID: 45, Filename: "error_logs.txt", OriginalFilename: "error_logs.txt",
		Size: 15420, MimeType: "text/plain", UploadedBy: "Emma Davis", UploadedAt: ago(5 * time.Hour)}
	s.attachments[45] = append(s.attachments[45], att)
	s.media[25] = Media{ID: 25, URL: "https://cdn.taskip.net/attachments/error_logs.txt", Name: "error_logs.txt", Size: 15420}
	t := s.tickets[t45.ID]
	t.Attachment = &Media{ID: 25, URL: s.media[25].URL, Name: "error_logs.txt", Size: 15420}
	emma := s.contactPerson(18)
	sarah := s.personByID(7)
	// Seeded conversation keeps its own timestamps; updated_at stays as set.
	s.replies[45] = append(s.replies[45],
		Reply{ID: s.next.reply, TicketID: 45, Message: "Still no order emails this morning.", Author: emma.Name,
			AuthorType: "client", User: emma, CreatedAt: ago(4*time.Hour + 30*time.Minute)},
		Reply{ID: s.next.reply + 1, TicketID: 45, Message: "We are checking the mail queue now.", Author: sarah.Name,
			AuthorType: "team_member", User: sarah, CreatedAt: ago(4 * time.Hour)})
	s.next.reply += 2
	t.ReplyCount = 2
	s.notes[45] = append(s.notes[45], Note{ID: s.next.note, TicketID: 45,
		Note: "SMTP relay rejects with 550; escalate to David if not fixed today.", Author: sarah.Name, CreatedAt: ago(4 * time.Hour)})
	s.next.note++
}

// exampleUUID follows the reference's 550e8400-…-4466554400NN pattern.
func exampleUUID(id int) string {
	return fmt.Sprintf("550e8400-e29b-41d4-a716-%012d", 446655440000+id)
}
