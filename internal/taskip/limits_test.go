package taskip

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// countingTransport counts the response body bytes the client reads, which
// is what a size limit has to bound.
type countingTransport struct {
	next http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// hugeJSON answers every request with status and a JSON object whose
// "subject" is size bytes long, sent with or without Content-Length.
func hugeJSON(calls *atomic.Int32, status, size int, chunked bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		head, tail := `{"id":1,"subject":"`, `"}`
		if !chunked {
			w.Header().Set("Content-Length", fmt.Sprint(len(head)+size+len(tail)))
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, head)
		chunk := strings.Repeat("x", 32<<10)
		for left := size; left > 0; left -= len(chunk) {
			if _, err := io.WriteString(w, chunk[:min(left, len(chunk))]); err != nil {
				return // the client stopped reading
			}
			if chunked {
				w.(http.Flusher).Flush()
			}
		}
		_, _ = io.WriteString(w, tail)
	})
}

func limitedClient(t *testing.T, base string, limit int64) (*Client, *countingTransport) {
	t.Helper()
	ct := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := New(Config{BaseURL: base, SecretKey: "k", MaxResponseBytes: limit, HTTPClient: &http.Client{Transport: ct},
		Timeout: 10 * time.Second, Sleep: func(context.Context, time.Duration) error { return nil }})
	require.NoError(t, err)
	return c, ct
}

func TestOversizedResponseIsAnError(t *testing.T) {
	const limit = 4 << 10
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(hugeJSON(&calls, http.StatusOK, 1<<20, chunked))
			defer srv.Close()
			c, ct := limitedClient(t, srv.URL, limit)

			_, err := c.GetTicket(context.Background(), 1)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrResponseTooLarge)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown, "a read that failed is just a failed read")
			assert.Contains(t, err.Error(), "taskip.max_response_bytes")
			assert.Contains(t, err.Error(), "4096 bytes")
			assert.Contains(t, err.Error(), "GET /support-ticket/1")
			assert.Equal(t, int32(1), calls.Load(), "the same answer would come again: not retried")
			assert.LessOrEqual(t, ct.read.Load(), int64(limit+1), "no more than the limit is read")
		})
	}
}

func TestOversizedAnswerToAWrite(t *testing.T) {
	const limit = 4 << 10
	var calls atomic.Int32
	srv := httptest.NewServer(hugeJSON(&calls, http.StatusCreated, 1<<20, true))
	defer srv.Close()
	c, _ := limitedClient(t, srv.URL, limit)

	// The create was applied (2xx), but what it created is unknown: the
	// caller must look for it rather than create it again.
	_, err := c.CreateTicket(context.Background(), TicketFields{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Contains(t, err.Error(), "taskip.max_response_bytes")
	assert.Equal(t, int32(1), calls.Load())

	// An idempotent write can simply be repeated later, so it is a plain
	// failure; it is not retried now since the answer would not shrink.
	calls.Store(0)
	_, err = c.UpdateTicket(context.Background(), 1, TicketFields{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, int32(1), calls.Load())
}

func TestErrorBodyIsReadBounded(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(hugeJSON(&calls, http.StatusNotFound, 8<<20, true))
	defer srv.Close()
	c, ct := limitedClient(t, srv.URL, 0)

	_, err := c.GetTicket(context.Background(), 1)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.NotErrorIs(t, err, ErrResponseTooLarge, "a 404 stays a 404 whatever its body")
	assert.LessOrEqual(t, ct.read.Load(), int64(maxErrorBodyBytes))
	assert.Less(t, len(err.Error()), 300)
}

func TestDefaultResponseLimit(t *testing.T) {
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{})
	// A subject just past the default limit, as the server answered once.
	tk := fake.SeedTicket(taskipfake.Ticket{Subject: strings.Repeat("s", DefaultMaxResponseBytes)})
	c, ct := limitedClient(t, base, 0)

	_, err := c.GetTicket(context.Background(), ID(tk.ID))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrResponseTooLarge)
	assert.Contains(t, err.Error(), fmt.Sprint(DefaultMaxResponseBytes))
	assert.LessOrEqual(t, ct.read.Load(), int64(DefaultMaxResponseBytes+1))
	assert.Len(t, fake.Requests(), 1)
}

// euros is n bytes (rounded down to whole runes) of a three-byte rune, so
// that every cut that is not careful lands inside one.
func euros(n int) string { return strings.Repeat("€", n/3) }

// assertCapped checks that got is want cut to at most limit bytes, valid
// UTF-8, and marked as cut.
func assertCapped(t *testing.T, want, got string, limit int, field string) {
	t.Helper()
	assert.LessOrEqual(t, len(got), limit, "%s: %d bytes", field, len(got))
	assert.True(t, utf8.ValidString(got), "%s: invalid UTF-8", field)
	assert.True(t, strings.HasSuffix(got, truncationMark), "%s: not marked as cut", field)
	assert.True(t, strings.HasPrefix(want, strings.TrimSuffix(got, truncationMark)), "%s: not a prefix of what was sent", field)
	assert.Greater(t, len(got), limit-8, "%s: cut shorter than needed", field)
}

func TestHugeFieldsAreCutWhenDecoded(t *testing.T) {
	fake, base := taskipfake.NewHTTPTest(t, taskipfake.Options{})
	c, _ := limitedClient(t, base, 0)
	ctx := context.Background()

	subject := euros(3 << 20) // 3 MiB
	desc := euros(2 << 20)
	name, email := euros(100<<10), strings.Repeat("a", 100<<10)+"@example.com"
	tags := make([]string, 1000)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag%d", i)
	}
	tags[0] = euros(10 << 10)
	tk := fake.SeedTicket(taskipfake.Ticket{
		Subject: subject, Description: desc, Category: euros(10 << 10), Tags: tags,
		User:       &taskipfake.Person{Name: name, Email: email},
		Attachment: &taskipfake.Media{ID: 9, Name: euros(10 << 10), URL: "https://files.example/" + strings.Repeat("u", 100<<10)},
	})
	reply := euros(3 << 20)
	_, err := fake.AddReply(tk.ID, taskipfake.Reply{Message: reply, Author: name, AuthorType: "client"})
	require.NoError(t, err)
	note := euros(2 << 20)
	_, err = fake.AddNote(tk.ID, taskipfake.Note{Note: note, Author: name})
	require.NoError(t, err)

	checkTicket := func(t *testing.T, got Ticket, withConversation bool) {
		assertCapped(t, subject, got.Subject, maxSubjectBytes, "subject")
		assertCapped(t, desc, got.Description, maxTextBytes, "description")
		assertCapped(t, name, got.User.Name, maxShortBytes, "user name")
		assertCapped(t, email, got.User.Email, maxShortBytes, "user email")
		assertCapped(t, tags[0], got.Tags[0], maxShortBytes, "tag")
		assert.Equal(t, maxTags, len(got.Tags))
		require.NotNil(t, got.Attachment)
		assert.LessOrEqual(t, len(got.Attachment.Name), maxFileNameBytes)
		assert.LessOrEqual(t, len(got.Attachment.URL), maxURLBytes)
		if !withConversation {
			return
		}
		require.Len(t, got.Replies, 1)
		assertCapped(t, reply, got.Replies[0].Message, maxTextBytes, "reply")
		assertCapped(t, name, got.Replies[0].Author.Name, maxShortBytes, "reply author")
		require.Len(t, got.Notes, 1)
		assertCapped(t, note, got.Notes[0].Note, maxTextBytes, "note")
		assertCapped(t, name, got.Notes[0].Author.Name, maxShortBytes, "note author")
	}

	t.Run("get", func(t *testing.T) {
		got, err := c.GetTicket(ctx, ID(tk.ID))
		require.NoError(t, err)
		checkTicket(t, got, true)
	})
	t.Run("list", func(t *testing.T) {
		page, err := c.ListTickets(ctx, ListParams{})
		require.NoError(t, err)
		require.Len(t, page.Tickets, 1)
		checkTicket(t, page.Tickets[0], false)
	})
	t.Run("contact", func(t *testing.T) {
		ct := fake.SeedContact(taskipfake.Contact{Name: name, Email: email, CompanyName: name, Phone: name})
		got, err := c.GetContact(ctx, ID(ct.ID))
		require.NoError(t, err)
		assertCapped(t, name, got.Name, maxShortBytes, "contact name")
		assertCapped(t, email, got.Email, maxShortBytes, "contact email")
		assertCapped(t, name, got.CompanyName, maxShortBytes, "company")
		page, err := c.SearchContacts(ctx, SearchParams{})
		require.NoError(t, err)
		require.NotEmpty(t, page.Contacts)
		for _, got := range page.Contacts {
			assert.LessOrEqual(t, len(got.Name), maxShortBytes)
			assert.LessOrEqual(t, len(got.Email), maxShortBytes)
		}
	})
	t.Run("reply answer", func(t *testing.T) {
		// The answer to a write is decoded the same way.
		r, err := c.AddReply(ctx, ID(tk.ID), AddReplyFields{Message: "short"})
		require.NoError(t, err)
		assert.Equal(t, "short", r.Message)
	})
}

func TestCapString(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"short stays", "abc", 3, "abc"},
		{"ascii cut", "abcdefghij", 6, "abc" + truncationMark},
		{"mid-rune cut backs off", "ab€€€", 7, "ab" + truncationMark},
		{"rune boundary kept", "abc€€x", 9, "abc€" + truncationMark},
		{"four-byte runes", "😀😀😀", 10, "😀" + truncationMark},
		{"invalid input stays valid", "a\xff\xfe\xfdbcdefgh", 7, "a" + truncationMark},
		{"limit below the mark", "abcdef", 2, "ab"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := capString(tt.in, tt.limit)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), tt.limit)
			assert.True(t, utf8.ValidString(got))
		})
	}
	long := strings.Repeat("x", 1<<20)
	cut := capString(long, 10)
	assert.Equal(t, 10, len(cut))
}
