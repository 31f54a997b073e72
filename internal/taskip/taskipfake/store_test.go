package taskipfake

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestMutateBumpsUpdatedAtMonotonically(t *testing.T) {
	s, a, clk := startExamples(t)
	start, _ := s.Ticket(1)
	var seen []time.Time
	for i := 0; i < 3; i++ { // the clock does not move
		if err := s.Mutate(1, func(tk *Ticket) { tk.Priority = PriorityUrgent }); err != nil {
			t.Fatal(err)
		}
		tk, _ := s.Ticket(1)
		seen = append(seen, tk.UpdatedAt)
	}
	eq(t, seen[0], clk.Now(), "first bump is now")
	eq(t, []time.Time{seen[1], seen[2]}, []time.Time{clk.Now().Add(time.Second), clk.Now().Add(2 * time.Second)}, "then +1s each")
	if !seen[0].After(start.UpdatedAt) {
		t.Fatal("not after the seeded value")
	}
	// The API path obeys the same rule.
	r := a.do("POST", "/support-ticket/"+exampleUUID(1)+"/priority", map[string]any{"priority": 0})
	eq(t, r.str("data.updated_at"), clk.Now().Add(3*time.Second).Format(time.RFC3339), "API bump")
	clk.Advance(time.Hour)
	_ = s.Mutate(1, func(tk *Ticket) {})
	tk, _ := s.Ticket(1)
	eq(t, tk.UpdatedAt, clk.Now(), "a moving clock is used as is")

	// fn can move updated_at forward explicitly, and cannot rename the ticket.
	later := clk.Now().Add(24 * time.Hour)
	_ = s.Mutate(1, func(tk *Ticket) { tk.UpdatedAt = later; tk.ID = 99; tk.UUID = "x"; tk.AssignedTo = 8 })
	tk, _ = s.Ticket(1)
	eq(t, []any{tk.UpdatedAt, tk.ID, tk.UUID, tk.AssignedToName}, []any{later, 1, exampleUUID(1), "David Chen"}, "fn changes")
	if _, ok := s.TicketByUUID(exampleUUID(1)); !ok {
		t.Error("uuid index broken")
	}

	err := s.Mutate(404, func(*Ticket) {})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}

func TestSnapshotsAreCopies(t *testing.T) {
	s, _, _ := startExamples(t)
	tk, _ := s.Ticket(1)
	tk.User.Name = "changed"
	tk.Tags = append(tk.Tags, "x")
	again, _ := s.Ticket(1)
	eq(t, []any{again.User.Name, len(again.Tags)}, []any{"John Smith", 0}, "stored state untouched")
}

func TestAgentReplyAndDelete(t *testing.T) {
	s, a, clk := startExamples(t)
	clk.Advance(time.Minute)
	r, err := s.AddAgentReply(3, "David Chen", "Reopen if it happens again.")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, []any{r.Author, r.AuthorType, r.User.Email}, []any{"David Chen", "team_member", "david@company.com"}, "reply")
	g := a.do("GET", "/support-ticket/3", nil)
	eq(t, []any{g.num("reply_count"), g.str("replies.0.message"), g.str("updated_at")},
		[]any{1, "Reopen if it happens again.", "2024-01-16T10:31:00Z"}, "visible over the API")
	if _, err := s.AddAgentReply(999, "x", "y"); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v", err)
	}
	if err := s.Delete(3); err != nil {
		t.Fatal(err)
	}
	wantError(t, a.do("GET", "/support-ticket/3", nil), 404, "Not Found")
	if err := s.Delete(3); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v", err)
	}
}

func TestSeedDefaults(t *testing.T) {
	clk := newClock()
	s := New(Options{Now: clk.Now})
	s.SeedContact(Contact{ID: 40, Name: "Zoe", Email: "zoe@x.io"})
	s.SeedTeamMember(TeamMember{ID: 3, Name: "Ann", Email: "ann@company.com"})
	tk := s.SeedTicket(Ticket{Subject: "x", User: &Person{ID: 40}, AssignedTo: 3})
	eq(t, []any{tk.ID, len(tk.UUID), tk.CreatedAt, tk.UpdatedAt, tk.User.Email, tk.AssignedToName},
		[]any{1, 36, clk.Now(), clk.Now(), "zoe@x.io", "Ann"}, "ticket defaults")
	eq(t, s.SeedTicket(Ticket{ID: 10}).ID+1, s.SeedTicket(Ticket{}).ID, "ids continue after the highest")
	c := s.SeedContact(Contact{Name: "Next"})
	eq(t, []any{c.ID, c.Status}, []any{41, "active"}, "contact defaults")
	m := s.TeamMembers()[0]
	eq(t, []any{m.Username, m.Status, m.Timezone}, []any{"ann", "active", "UTC"}, "member defaults")
	eq(t, len(s.Contacts()), 2, "contacts")
}

// Many parallel creates under -race: every id and uuid is unique.
func TestConcurrentCreates(t *testing.T) {
	s, a := start(t, Options{})
	const n = 120
	ids := make([]int, n)
	uuids := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", "/support-ticket", map[string]any{"subject": fmt.Sprint("ticket ", i), "priority": i % 5})
			if r.status != 201 {
				t.Errorf("status %d", r.status)
				return
			}
			ids[i], uuids[i] = r.num("data.id"), r.str("data.uuid")
			_ = s.Tickets() // readers race with writers
			_ = s.Mutate(ids[i], func(tk *Ticket) { tk.Status = StatusPending })
		}()
	}
	wg.Wait()
	seenID, seenUUID := map[int]bool{}, map[string]bool{}
	for i := range ids {
		if seenID[ids[i]] || seenUUID[uuids[i]] {
			t.Fatalf("duplicate id %d or uuid %s", ids[i], uuids[i])
		}
		seenID[ids[i]], seenUUID[uuids[i]] = true, true
	}
	eq(t, []int{len(s.Tickets()), s.RequestCount()}, []int{n, n}, "counts")
}
