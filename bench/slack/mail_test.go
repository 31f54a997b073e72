package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mime"
	"github.com/ticketsync/ticketsync/internal/mail/smtp"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// TestSlackE2EReplyMail: n "reply:" messages in one ticket thread, one every
// interval. Latency = the customer's email arriving at the go-smtp server −
// the event's request being sent: verification, the TaskIP reply, the
// outbox commit, and the SMTP transaction with its two fsynced state
// commits. Baselines in the same run: the same events' TaskIP write (the
// part without mail), and a bare SMTP send of the same kind of message.
func TestSlackE2EReplyMail(t *testing.T) {
	benchkit.RequireBench(t)
	n := benchkit.EnvInt(t, "BENCH_MESSAGES", 200)
	interval := benchkit.EnvDuration(t, "BENCH_INTERVAL", 20*time.Millisecond)
	e := newEnv(t, envConfig{pacing: 0, mail: true})
	tk := e.fake.SeedTicket(taskipfake.Ticket{Subject: "Printer on fire", Priority: taskipfake.PriorityNormal, Status: taskipfake.StatusOpen,
		User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	if err := e.watch.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := e.threadTS(t, tk.ID)
	e.start(t)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	sent := make([]time.Time, n)
	begin := time.Now()
	for i := range n {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		ev := map[string]any{"type": "event_callback", "event_id": fmt.Sprintf("EvMail%04d", i), "team_id": "T1",
			"event_time": time.Now().Unix(),
			"event": map[string]any{"type": "message", "channel": channel, "user": agentUser,
				"text": fmt.Sprintf("reply: bmsg%04dx Hi John, the relay is fixed.", i),
				"ts":   fmt.Sprintf("%d.%06d", time.Now().Unix(), i), "thread_ts": ts}}
		body, _ := json.Marshal(ev)
		req := e.signed("events", "application/json", body)
		sent[i] = time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(e.smtp.Messages()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var toMail, toTaskIP []time.Duration
	seen := map[int]int{}
	for _, m := range e.smtp.Messages() {
		mm := markerRE.FindSubmatch(m.Data)
		if mm == nil {
			t.Errorf("mail without marker")
			continue
		}
		i, _ := strconv.Atoi(string(mm[1]))
		if seen[i]++; seen[i] > 1 {
			t.Errorf("reply %d mailed twice", i)
			continue
		}
		toMail = append(toMail, m.At.Sub(sent[i]))
	}
	for _, a := range e.stopwatch.writes() {
		if m := markerRE.FindStringSubmatch(a.body); m != nil {
			i, _ := strconv.Atoi(m[1])
			toTaskIP = append(toTaskIP, a.at.Sub(sent[i]))
		}
	}
	if len(toMail) != n {
		t.Errorf("%d of %d replies mailed", len(toMail), n)
	}
	base := bareSend(t, e, n)
	sm, st, sb := benchkit.Summarize(toMail), benchkit.Summarize(toTaskIP), benchkit.Summarize(base)
	fmt.Printf("\n### Slack `reply:` → customer's email at the SMTP server: %d events one every %s\n", n, interval)
	fmt.Printf("\nLoad average: %s. State file fsync on; daemon's Slack pacing; one SMTP connection, reused.\n\n", benchkit.LoadAvg())
	fmt.Println("| measure | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| event → email accepted by SMTP (target p99 ≤ 500 ms) | %s | %s | %s | %s |\n", ms(sm.P50), ms(sm.P90), ms(sm.P99), ms(sm.Max))
	fmt.Printf("| event → TaskIP reply write (same run) | %s | %s | %s | %s |\n", ms(st.P50), ms(st.P90), ms(st.P99), ms(st.Max))
	fmt.Printf("| baseline: bare SMTP send, reused connection | %s | %s | %s | %s |\n", ms(sb.P50), ms(sb.P90), ms(sb.P99), ms(sb.Max))
	fmt.Printf("\nRatio p99 email / p99 TaskIP write: %.2f×. %s\n", float64(sm.P99)/float64(max(st.P99, 1)), benchkit.Verdict(sm.P99 <= 500*time.Millisecond))
}

// bareSend times n sends of the same shape of message on one connection.
func bareSend(t *testing.T, e *env, n int) []time.Duration {
	s := smtp.NewSender(smtp.Config{Addr: e.smtp.Addr(), TLS: mail.TLSNone, LocalName: "bench.example"})
	defer s.Close()
	out := make([]time.Duration, 0, n)
	for i := range n {
		m := mime.Outgoing{From: mime.Address{Email: "support@example.com"}, To: mime.Address{Email: "john@acme.com"},
			Subject: "Re: Printer on fire", MessageID: mime.NewMessageID("example.com"), Text: fmt.Sprintf("baseline %d", i)}
		start := time.Now()
		if err := s.Deliver(context.Background(), m, nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}
