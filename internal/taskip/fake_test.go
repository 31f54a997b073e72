package taskip_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const testKey = "test-secret-key"

type sleeps struct{ waits []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return nil
}

type env struct {
	fake   *taskipfake.Server
	client *taskip.Client
	sleeps *sleeps
}

func newEnv(t *testing.T, opts taskipfake.Options) env {
	t.Helper()
	if opts.SecretKey == "" {
		opts.SecretKey = testKey
	}
	fake, base := taskipfake.NewHTTPTest(t, opts)
	fake.SeedExamples()
	sl := &sleeps{}
	c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey, Sleep: sl.sleep, Jitter: func() float64 { return 0 }})
	require.NoError(t, err)
	fake.ResetRequests()
	return env{fake: fake, client: c, sleeps: sl}
}

func ptr[T any](v T) *T { return &v }

func (e env) anyTicket(t *testing.T) taskipfake.Ticket {
	t.Helper()
	for _, tk := range e.fake.Tickets() {
		if tk.Status != taskipfake.StatusClosed {
			return tk
		}
	}
	t.Fatal("no open ticket seeded")
	return taskipfake.Ticket{}
}

func TestClientAgainstFake(t *testing.T) {
	ctx := context.Background()

	t.Run("create get update delete", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		created, err := e.client.CreateTicket(ctx, taskip.TicketFields{
			Subject: ptr("Printer on fire"), Priority: ptr(taskip.PriorityUrgent),
			Description: ptr("Smoke from tray 2"), UserID: ptr(taskip.ID(15)),
		})
		require.NoError(t, err)
		assert.NotZero(t, created.ID)
		assert.True(t, taskip.IsUUID(created.UUID))
		assert.Equal(t, taskip.PriorityUrgent, created.Priority)
		assert.Equal(t, "john@acme.com", created.User.Email)

		got, err := e.client.GetTicket(ctx, created.ID)
		require.NoError(t, err)
		assert.Equal(t, created.UUID, got.UUID)
		assert.Equal(t, "Smoke from tray 2", got.Description)

		upd, err := e.client.UpdateTicket(ctx, created.ID, taskip.TicketFields{Status: ptr(taskip.StatusPending)})
		require.NoError(t, err)
		assert.Equal(t, taskip.StatusPending, upd.Status)
		assert.Equal(t, "Printer on fire", upd.Subject, "an update sends only the fields set")

		require.NoError(t, e.client.DeleteTicket(ctx, created.ID))
		_, err = e.client.GetTicket(ctx, created.ID)
		assert.ErrorIs(t, err, taskip.ErrNotFound)
	})

	t.Run("list filters and paging", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		for i := 0; i < 7; i++ {
			e.fake.SeedTicket(taskipfake.Ticket{Subject: "bulk seeded", Priority: taskipfake.PriorityHigh, Status: taskipfake.StatusOpen})
		}
		page, err := e.client.ListTickets(ctx, taskip.ListParams{
			Page: 1, Limit: 3, Search: "bulk seeded", Sort: "created_at", Order: "asc",
			Status: ptr(taskip.StatusOpen), Priority: ptr(taskip.PriorityHigh),
		})
		require.NoError(t, err)
		assert.Len(t, page.Tickets, 3)
		require.NotNil(t, page.Meta)
		assert.Equal(t, 7, page.Meta.Total)
		req := e.fake.Requests()[0]
		assert.Equal(t, "open", req.Query.Get("status"))
		assert.Equal(t, "high", req.Query.Get("priority"))
		assert.Equal(t, "3", req.Query.Get("limit"))

		var ids []taskip.ID
		for tk, err := range e.client.ListAll(ctx, taskip.ListParams{Limit: 3, Search: "bulk seeded"}) {
			require.NoError(t, err)
			ids = append(ids, tk.ID)
		}
		assert.Len(t, ids, 7)
		assert.Len(t, e.fake.Requests(), 1+3, "ListAll stops at the last page")

		all := 0
		for _, err := range e.client.ListAll(ctx, taskip.ListParams{}) {
			require.NoError(t, err)
			all++
		}
		assert.Equal(t, len(e.fake.Tickets()), all)

		e.fake.ResetRequests()
		_, err = e.client.ListTickets(ctx, taskip.ListParams{AssignedTo: 8, ClientID: 15, Category: "Billing", DateFrom: "2024-01-01", DateTo: "2024-12-31"})
		require.NoError(t, err)
		q := e.fake.Requests()[0].Query
		assert.Equal(t, "8", q.Get("assigned_to"))
		assert.Equal(t, "15", q.Get("client_id"))
		assert.Equal(t, "Billing", q.Get("category"))
		assert.Equal(t, "2024-01-01", q.Get("date_from"))
		assert.Equal(t, "2024-12-31", q.Get("date_to"))
	})

	t.Run("reply status priority note by uuid", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		tk := e.anyTicket(t)
		r, err := e.client.Reply(ctx, tk.UUID, taskip.ReplyFields{Description: "We are on it", Status: ptr(taskip.StatusInProgress)})
		require.NoError(t, err)
		assert.Equal(t, "We are on it", r.Message)
		after, _ := e.fake.Ticket(tk.ID)
		assert.Equal(t, taskipfake.StatusInProgress, after.Status)
		assert.Equal(t, tk.ReplyCount+1, after.ReplyCount)

		_, err = e.client.SetPriority(ctx, tk.UUID, taskip.PriorityLow)
		require.NoError(t, err)
		after, _ = e.fake.Ticket(tk.ID)
		assert.Equal(t, taskipfake.PriorityLow, after.Priority)
		assert.JSONEq(t, `{"priority":0}`, string(e.fake.Requests()[1].Body))

		_, err = e.client.SetStatus(ctx, tk.UUID, taskip.StatusResolved, "fixed the relay")
		require.NoError(t, err)
		assert.JSONEq(t, `{"status":2,"resolution_notes":"fixed the relay"}`, string(e.fake.Requests()[2].Body))

		note, err := e.client.AddNote(ctx, tk.UUID, "internal only")
		require.NoError(t, err)
		assert.Equal(t, "internal only", note.Note)
		assert.JSONEq(t, `{"note":"internal only"}`, string(e.fake.Requests()[3].Body))
		require.NoError(t, e.client.DeleteNote(ctx, tk.UUID, note.ID))
		for _, n := range e.fake.Notes(tk.ID) {
			assert.NotEqual(t, int(note.ID), n.ID, "the note is gone")
		}
		err = e.client.DeleteNote(ctx, tk.UUID, note.ID)
		assert.ErrorIs(t, err, taskip.ErrNotFound)
	})

	t.Run("legacy family", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		tk := e.anyTicket(t)
		res, err := e.client.Assign(ctx, taskip.ID(tk.ID), taskip.AssignFields{AssignedTo: 8, Reason: "specialist"})
		require.NoError(t, err)
		assert.Equal(t, "David Chen", res.NewAssignee)

		ch, err := e.client.LegacySetStatus(ctx, taskip.ID(tk.ID), taskip.LegacyStatusFields{Status: taskip.StatusResolved, ResolutionNotes: "done"})
		require.NoError(t, err)
		assert.Equal(t, taskip.StatusResolved, ch.NewStatus)
		assert.Contains(t, string(e.fake.Requests()[1].Body), `"status":"resolved"`, "the legacy endpoint takes names")

		r, err := e.client.AddReply(ctx, taskip.ID(tk.ID), taskip.AddReplyFields{Message: "private thought", IsPrivate: true, AuthorType: "team_member"})
		require.NoError(t, err)
		assert.True(t, r.IsPrivate)
		assert.Equal(t, "private thought", r.Message)

		msg, err := e.client.Bulk(ctx, taskip.BulkFields{TicketIDs: []taskip.ID{taskip.ID(tk.ID)}, Action: taskip.BulkAddTags, Parameters: &taskip.BulkParameter{Tags: []string{"vip"}}})
		require.NoError(t, err)
		assert.NotEmpty(t, msg)

		a, err := e.client.Analytics(ctx, taskip.AnalyticsParams{Period: "month", GroupBy: "status"})
		require.NoError(t, err)
		assert.Equal(t, len(e.fake.Tickets()), a.Summary.TotalTickets)
		assert.Equal(t, "month", e.fake.Requests()[4].Query.Get("period"))
	})

	t.Run("contacts and team members", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		page, err := e.client.SearchContacts(ctx, taskip.SearchParams{Search: "john@acme.com"})
		require.NoError(t, err)
		require.Len(t, page.Contacts, 1)
		got, err := e.client.GetContact(ctx, page.Contacts[0].ID)
		require.NoError(t, err)
		assert.Equal(t, "John Smith", got.Name)
		created, err := e.client.CreateContact(ctx, taskip.ContactFields{Name: "New Person", Email: "new@example.com"})
		require.NoError(t, err)
		assert.NotZero(t, created.ID)
		_, err = e.client.CreateContact(ctx, taskip.ContactFields{Name: "Again", Email: "NEW@example.com"})
		assert.ErrorIs(t, err, taskip.ErrConflict)

		members, err := e.client.SearchTeamMembers(ctx, taskip.SearchParams{Search: "david"})
		require.NoError(t, err)
		require.NotEmpty(t, members.Members)
		m, err := e.client.GetTeamMember(ctx, members.Members[0].ID)
		require.NoError(t, err)
		assert.Equal(t, "David Chen", m.Name)
	})

	t.Run("find by uuid", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		tk := e.anyTicket(t)
		got, err := e.client.FindByUUID(ctx, tk.UUID)
		require.NoError(t, err)
		assert.Equal(t, taskip.ID(tk.ID), got.ID)
		_, err = e.client.FindByUUID(ctx, "00000000-0000-4000-8000-000000000000")
		assert.ErrorIs(t, err, taskip.ErrNotFound)
	})

	t.Run("codes as names decode the same", func(t *testing.T) {
		ints := newEnv(t, taskipfake.Options{CodeStyle: taskipfake.Ints})
		names := newEnv(t, taskipfake.Options{CodeStyle: taskipfake.Names})
		a, err := ints.client.ListTickets(ctx, taskip.ListParams{Sort: "id", Order: "asc"})
		require.NoError(t, err)
		b, err := names.client.ListTickets(ctx, taskip.ListParams{Sort: "id", Order: "asc"})
		require.NoError(t, err)
		require.Equal(t, len(a.Tickets), len(b.Tickets))
		for i := range a.Tickets {
			assert.Equal(t, a.Tickets[i].Status, b.Tickets[i].Status)
			assert.Equal(t, a.Tickets[i].Priority, b.Tickets[i].Priority)
		}
		assert.Contains(t, string(mustGetRaw(t, names)), `"status":"`, "the names server really sends names")
	})
}

// mustGetRaw fetches a list page through the fake's handler, to look at the
// bytes the client decoded.
func mustGetRaw(t *testing.T, e env) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, taskipfake.BasePath+"/support-ticket", nil)
	req.Header.Set("X-Secret-Key", testKey)
	e.fake.Handler().ServeHTTP(rec, req)
	return rec.Body.Bytes()
}

func TestClientErrorsAgainstFake(t *testing.T) {
	ctx := context.Background()

	t.Run("401 wrong key", func(t *testing.T) {
		fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
		c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: "wrong-key-value"})
		require.NoError(t, err)
		_, err = c.ListTickets(ctx, taskip.ListParams{})
		assert.ErrorIs(t, err, taskip.ErrUnauthorized)
		assert.False(t, taskip.IsPermanent(err), "a wrong key is fixed by a person, not by quarantining mail")
		assert.NotContains(t, err.Error(), "wrong-key-value")
		assert.Len(t, fake.Requests(), 1, "401 is not retried")
	})

	t.Run("404", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		_, err := e.client.GetTicket(ctx, 999999)
		assert.ErrorIs(t, err, taskip.ErrNotFound)
		_, err = e.client.Reply(ctx, "00000000-0000-4000-8000-000000000000", taskip.ReplyFields{Description: "x"})
		assert.ErrorIs(t, err, taskip.ErrNotFound)
		assert.Len(t, e.fake.Requests(), 2)
	})

	t.Run("409 closed ticket, reopen allowed", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		tk := e.fake.SeedTicket(taskipfake.Ticket{Subject: "closed one", Status: taskipfake.StatusClosed})
		_, err := e.client.AddNote(ctx, tk.UUID, "x")
		assert.ErrorIs(t, err, taskip.ErrConflict)
		assert.True(t, taskip.IsPermanent(err))
		_, err = e.client.Reply(ctx, tk.UUID, taskip.ReplyFields{Description: "reopening", Status: ptr(taskip.StatusOpen)})
		require.NoError(t, err)
	})

	t.Run("413 upload too large", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{MaxUploadBytes: 1 << 20})
		tk := e.anyTicket(t)
		_, err := e.client.UploadAttachments(ctx, taskip.ID(tk.ID), []taskip.File{zeroFile("big.bin", 2<<20)}, "")
		assert.ErrorIs(t, err, taskip.ErrTooLarge)
	})

	t.Run("422 field errors", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		_, err := e.client.CreateTicket(ctx, taskip.TicketFields{Subject: ptr(strings.Repeat("x", 192)), Priority: ptr(taskip.PriorityLow)})
		var apiErr *taskip.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusUnprocessableEntity, apiErr.StatusCode)
		assert.NotEmpty(t, apiErr.Fields["subject"])
		assert.ErrorIs(t, err, taskip.ErrValidation)
		assert.True(t, taskip.RefusesField(err, "subject"))
		assert.False(t, taskip.RefusesField(err, "user_id"), "only the fields named")
		assert.False(t, taskip.RefusesField(fmt.Errorf("wrapped: %w", taskip.ErrValidation), "subject"), "no field list")
		assert.Len(t, e.fake.Requests(), 1)
	})

	t.Run("5xx on a read is retried until success", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		e.fake.FailNext(2, http.StatusBadGateway)
		_, err := e.client.ListTickets(ctx, taskip.ListParams{})
		require.NoError(t, err)
		assert.Len(t, e.fake.Requests(), 3)
		assert.Len(t, e.sleeps.waits, 2)
	})

	t.Run("5xx on a create is not retried", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		e.fake.FailNext(1, http.StatusInternalServerError)
		_, err := e.client.CreateTicket(ctx, taskip.TicketFields{Subject: ptr("x"), Priority: ptr(taskip.PriorityLow)})
		assert.ErrorIs(t, err, taskip.ErrOutcomeUnknown)
		assert.Len(t, e.fake.Requests(), 1)
	})

	t.Run("response lost after a create was applied", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		before := len(e.fake.Tickets())
		e.fake.DropResponseNext(1)
		_, err := e.client.CreateTicket(ctx, taskip.TicketFields{Subject: ptr("lost answer"), Priority: ptr(taskip.PriorityLow)})
		assert.ErrorIs(t, err, taskip.ErrOutcomeUnknown)
		assert.Len(t, e.fake.Tickets(), before+1, "the server applied it once; the client did not send it again")
	})

	t.Run("Retry-After is honoured", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		e.fake.Burst429(1, 7*time.Second)
		_, err := e.client.GetTicket(ctx, taskip.ID(e.anyTicket(t).ID))
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{7 * time.Second}, e.sleeps.waits)
	})

	t.Run("429 burst ends in success, even for a create", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		e.fake.Burst429(3, 2*time.Second)
		before := len(e.fake.Tickets())
		_, err := e.client.CreateTicket(ctx, taskip.TicketFields{Subject: ptr("after the burst"), Priority: ptr(taskip.PriorityLow)})
		require.NoError(t, err)
		assert.Equal(t, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, e.sleeps.waits)
		assert.Len(t, e.fake.Tickets(), before+1, "exactly one ticket")
	})

	t.Run("429 burst longer than the attempts gives up", func(t *testing.T) {
		e := newEnv(t, taskipfake.Options{})
		e.fake.Burst429(10, time.Second)
		_, err := e.client.ListTickets(ctx, taskip.ListParams{})
		assert.ErrorIs(t, err, taskip.ErrRateLimited)
		assert.Len(t, e.fake.Requests(), 5)
	})

	t.Run("timeout per attempt", func(t *testing.T) {
		fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
		fake.SetLatency(300 * time.Millisecond)
		c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey, Timeout: 50 * time.Millisecond, MaxAttempts: 2,
			Sleep: func(context.Context, time.Duration) error { return nil }})
		require.NoError(t, err)
		_, err = c.ListTickets(ctx, taskip.ListParams{})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestUploadStreamsAndVerifies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, taskipfake.Options{})
	tk := e.anyTicket(t)
	body := "col1,col2\n1,2\n"
	sum := sha256.Sum256([]byte(body))
	res, err := e.client.UploadAttachments(ctx, taskip.ID(tk.ID), []taskip.File{
		{Name: "data.csv", ContentType: "text/csv", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }},
		zeroFile(`we"ird name.bin`, 100_000),
	}, "logs")
	require.NoError(t, err)
	require.Len(t, res.UploadedFiles, 2)
	stored := e.fake.Attachments(tk.ID)
	require.Len(t, stored, 2)
	assert.Equal(t, hex.EncodeToString(sum[:]), stored[0].SHA256)
	assert.Equal(t, "text/csv", stored[0].MimeType)
	assert.Equal(t, int64(100_000), stored[1].Size)

	list, err := e.client.ListAttachments(ctx, taskip.ID(tk.ID))
	require.NoError(t, err)
	assert.Equal(t, 2, list.TotalAttachments)

	_, err = e.client.UploadAttachments(ctx, taskip.ID(tk.ID), []taskip.File{{Name: "gone", Open: func() (io.ReadCloser, error) {
		return nil, errors.New("no such file")
	}}}, "")
	assert.ErrorContains(t, err, "no such file")
}

// zeroFile is a file of n zero bytes that is never held in memory.
func zeroFile(name string, n int64) taskip.File {
	return taskip.File{Name: name, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.LimitReader(zeroReader{}, n)), nil
	}}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestUpload100MiBIsStreamed uploads 100 MiB and checks that the process
// allocated far less than that: the body is produced while it is sent (and
// the fake hashes it as it arrives), so nothing holds the whole file.
func TestUpload100MiBIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MiB over loopback")
	}
	const size = 100 << 20
	e := newEnv(t, taskipfake.Options{MaxUploadBytes: 2 * size})
	tk := e.anyTicket(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := e.client.UploadAttachments(context.Background(), taskip.ID(tk.ID), []taskip.File{zeroFile("big.bin", size)}, "")
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	stored := e.fake.Attachments(tk.ID)
	require.NotEmpty(t, stored)
	assert.Equal(t, int64(size), stored[len(stored)-1].Size)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB while uploading 100 MiB", allocated>>10)
	assert.Less(t, allocated, uint64(size/4), "allocated %d MiB for a 100 MiB upload", allocated>>20)
}
