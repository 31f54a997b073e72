package taskipfake

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFailNextWithRetryAfter(t *testing.T) {
	s, a, _ := startExamples(t)
	s.SetRetryAfter(7)
	s.FailNext(2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		r := a.do("GET", "/support-ticket/1", nil)
		wantError(t, r, 503, "Server Error")
		eq(t, r.header.Get("Retry-After"), "7", "Retry-After")
	}
	wantStatus(t, a.do("GET", "/support-ticket/1", nil), 200)
	eq(t, s.PendingFaults(), 0, "consumed")

	s.FailNext(1, http.StatusInternalServerError)
	r := a.do("POST", "/support-ticket", map[string]any{"subject": "x", "priority": 1})
	wantError(t, r, 500, "Server Error")
	eq(t, r.header.Get("Retry-After"), "", "no Retry-After on 500")
	eq(t, len(s.Tickets()), 4, "a failed request changes nothing")
	reqs := s.Requests()
	eq(t, string(reqs[len(reqs)-1].Body), `{"priority":1,"subject":"x"}`, "failed request body logged")

	s.SetRetryAfter(-1)
	s.FailNext(1, http.StatusTooManyRequests)
	r = a.do("GET", "/support-ticket", nil)
	wantError(t, r, 429, "Too Many Requests")
	eq(t, r.header.Get("Retry-After"), "", "cleared")
}

func TestBurst429(t *testing.T) {
	s, a, _ := startExamples(t)
	s.Burst429(2, 1500*time.Millisecond)
	s.Burst429(1, 0)
	for _, want := range []string{"2", "2", "0"} {
		r := a.do("GET", "/contact", nil)
		wantError(t, r, 429, "Too Many Requests")
		eq(t, r.header.Get("Retry-After"), want, "Retry-After rounds up")
	}
	wantStatus(t, a.do("GET", "/contact", nil), 200)
}

func TestFailNextOn(t *testing.T) {
	s, a, _ := startExamples(t)
	s.FailNextOn("POST", "/support-ticket", 1, http.StatusBadGateway)
	s.FailNextOn("", BasePath+"/contact", 1, http.StatusInternalServerError)
	wantStatus(t, a.do("GET", "/support-ticket", nil), 200)
	wantStatus(t, a.do("POST", "/ticket/1/add-reply", map[string]any{"message": "x"}), 201)
	wantError(t, a.do("POST", "/support-ticket/reply/"+exampleUUID(1), map[string]any{"description": "x"}), 502, "Server Error")
	wantError(t, a.do("GET", "/contact/15", nil), 500, "Server Error")
	wantStatus(t, a.do("GET", "/contact/15", nil), 200)
	eq(t, s.PendingFaults(), 0, "consumed")
}

func TestDropConnection(t *testing.T) {
	s, a, _ := startExamples(t)
	s.DropConnectionNext(1)
	body := `{"subject":"dropped","priority":1}`
	res, err := http.DefaultClient.Do(newReq(t, a, "POST", "/support-ticket", body))
	if err == nil {
		res.Body.Close()
		t.Fatalf("got a response %d, want a broken connection", res.StatusCode)
	}
	eq(t, len(s.Tickets()), 4, "not handled")
	last := s.Requests()[0]
	eq(t, []any{last.Dropped, last.Status, string(last.Body)}, []any{true, 0, body}, "log entry")
	wantStatus(t, a.do("POST", "/support-ticket", body), 201)
}

func TestDropResponseAfterHandling(t *testing.T) {
	s, a, _ := startExamples(t)
	s.DropResponseNextOn("POST", "/support-ticket", 1)
	res, err := http.DefaultClient.Do(newReq(t, a, "POST", "/support-ticket", `{"subject":"maybe","priority":1}`))
	if err == nil {
		res.Body.Close()
		t.Fatalf("got a response %d, want a broken connection", res.StatusCode)
	}
	tickets := s.Tickets()
	eq(t, tickets[len(tickets)-1].Subject, "maybe", "handled although unanswered")
	last := s.Requests()[0]
	eq(t, []any{last.Dropped, last.Status}, []any{true, 201}, "log entry")
}

func TestLatency(t *testing.T) {
	s, a, _ := startExamples(t)
	s.SetLatency(150 * time.Millisecond)
	began := time.Now()
	wantStatus(t, a.do("GET", "/support-ticket/1", nil), 200)
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Errorf("answered after %v", d)
	}
	hc := &http.Client{Timeout: 30 * time.Millisecond}
	if res, err := hc.Do(newReq(t, a, "GET", "/support-ticket/1", "")); err == nil {
		res.Body.Close()
		t.Fatal("client timeout not hit")
	}
	eq(t, s.RequestCount(), 2, "an abandoned request is still logged")
	s.ResetFaults()
	began = time.Now()
	wantStatus(t, a.do("GET", "/support-ticket/1", nil), 200)
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Errorf("latency not reset: %v", d)
	}
}

// Exactly n of many concurrent requests see an injected failure.
func TestFaultsUnderConcurrency(t *testing.T) {
	s, a, _ := startExamples(t)
	s.FailNext(25, http.StatusServiceUnavailable)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("GET", "/support-ticket?limit=1", nil)
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	eq(t, counts, map[int]int{200: 35, 503: 25}, "statuses")
}

func newReq(t *testing.T, a *api, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Secret-Key", a.key)
	return req
}

// heldReply sends a reply to ticket 45 in the background; its outcome (an
// error for a client that gave up) arrives on the returned channel.
func heldReply(ctx context.Context, t *testing.T, a *api, text string) <-chan error {
	t.Helper()
	req := newReq(t, a, "POST", "/support-ticket/reply/"+exampleUUID(45), `{"description":"`+text+`"}`).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		done <- err
	}()
	return done
}

func replyTexts(s *Server) []string {
	var out []string
	for _, r := range s.Replies(45) {
		out = append(out, r.Message)
	}
	return out
}

// waitDropped waits until the server has seen the client of its last
// request go.
func waitDropped(t *testing.T, s *Server) Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		reqs := s.Requests()
		if last := reqs[len(reqs)-1]; last.Dropped {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the client go")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHoldNextOn(t *testing.T) {
	s, a, _ := startExamples(t)
	before := len(s.Replies(45))
	arrived, release := s.HoldNextOn("POST", "/support-ticket/reply/")
	done := heldReply(context.Background(), t, a, "held")
	<-arrived
	wantStatus(t, a.do("POST", "/support-ticket/reply/"+exampleUUID(45), map[string]any{"description": "other"}), 201)
	eq(t, replyTexts(s)[before:], []string{"other"}, "only the held request waits, unapplied")
	select {
	case err := <-done:
		t.Fatalf("answered while held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eq(t, replyTexts(s)[before:], []string{"other", "held"}, "applied once released")
	eq(t, s.PendingFaults(), 0, "consumed")
}

// A held request whose client goes is never applied, even when released.
func TestHoldNextOnClientGone(t *testing.T) {
	s, a, _ := startExamples(t)
	before := len(s.Replies(45))
	arrived, release := s.HoldNextOn("POST", "/support-ticket/reply/")
	ctx, cancel := context.WithCancel(context.Background())
	done := heldReply(ctx, t, a, "abandoned")
	<-arrived
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled client got an answer")
	}
	last := waitDropped(t, s)
	release()
	eq(t, []any{last.Status, string(last.Body)}, []any{0, `{"description":"abandoned"}`}, "log entry")
	eq(t, len(s.Replies(45)), before, "never applied")
}

func TestHoldResponseNextOn(t *testing.T) {
	s, a, _ := startExamples(t)
	before := len(s.Replies(45))
	arrived, release := s.HoldResponseNextOn("POST", "/support-ticket/reply/")
	done := heldReply(context.Background(), t, a, "applied")
	<-arrived
	eq(t, replyTexts(s)[before:], []string{"applied"}, "applied before the answer")
	select {
	case err := <-done:
		t.Fatalf("answered while held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	eq(t, []any{reqs[len(reqs)-1].Status, reqs[len(reqs)-1].Dropped}, []any{201, false}, "log entry")
}

// The client of a held answer that goes has changed TaskIP without
// learning of it.
func TestHoldResponseNextOnClientGone(t *testing.T) {
	s, a, _ := startExamples(t)
	before := len(s.Replies(45))
	arrived, release := s.HoldResponseNextOn("POST", "/support-ticket/reply/")
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := heldReply(ctx, t, a, "unanswered")
	<-arrived
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled client got an answer")
	}
	eq(t, waitDropped(t, s).Status, 201, "the status never delivered")
	eq(t, replyTexts(s)[before:], []string{"unanswered"}, "applied")
}
