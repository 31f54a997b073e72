package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// TestSlackE2EThread: n message events in one ticket thread, sent one after
// another every interval, alternating a plain text (an internal note) and a
// "reply:" text (a customer reply). Latency = the matching POST arriving at
// taskipfake (stopwatch, before the fake handles it) − the event's request
// being sent. Each text carries a marker (bmsgNNNNx) to match them.
//
// Pacing modes (BENCH_PACING, default "daemon,fixed"): "daemon" is the
// daemon's Poster (post at once, wait only when Slack answers 429; slackfake
// here sets no limit), "fixed" the fixed pacing it replaced (a burst of 3,
// then one Slack post a second per channel), which the workers' thread
// confirmations wait for. "off" is accepted as another name for "daemon".
func TestSlackE2EThread(t *testing.T) {
	benchkit.RequireBench(t)
	n := benchkit.EnvInt(t, "BENCH_MESSAGES", 200)
	interval := benchkit.EnvDuration(t, "BENCH_INTERVAL", 20*time.Millisecond)
	modes := benchkit.EnvList("BENCH_PACING", "daemon,fixed")

	fmt.Printf("\n### Thread message → TaskIP write: %d events one every %s, alternating note and `reply:`, no injected latency\n", n, interval)
	fmt.Printf("\nLoad average at start: %s. Commands queue 256, 4 workers (defaults); watch running as Events; state file fsync on.\n", benchkit.LoadAvg())
	fmt.Println("\n| Poster pacing | messages | p50 | p90 | p99 | max | notes p99 | replies p99 | event ack p99 | last write after last send | confirmations done after last send | target p99 ≤ 300 ms | load (1/5/15) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, mode := range modes {
		var pacing time.Duration
		switch mode {
		case "off", "daemon":
			pacing = 0
		case "fixed":
			pacing = time.Second
		default:
			t.Fatalf("BENCH_PACING: unknown mode %q (daemon, fixed)", mode)
		}
		runThreadMode(t, mode, pacing, n, interval)
	}
	fmt.Printf("\nLoad average at end: %s\n", benchkit.LoadAvg())
}

var markerRE = regexp.MustCompile(`bmsg(\d{4})x`)

func runThreadMode(t *testing.T, mode string, pacing time.Duration, n int, interval time.Duration) {
	e := newEnv(t, envConfig{pacing: pacing})
	tk := e.fake.SeedTicket(taskipfake.Ticket{Subject: "Printer on fire", Priority: taskipfake.PriorityNormal, Status: taskipfake.StatusOpen,
		User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
	if err := e.watch.Poll(context.Background()); err != nil { // posts the ticket's parent: its thread
		t.Fatal(err)
	}
	ts := e.threadTS(t, tk.ID)
	e.start(t)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	sent := make([]time.Time, n)
	acks := make([]time.Duration, n)
	begin := time.Now()
	for i := range n {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		text := fmt.Sprintf("bmsg%04dx checked the logs, the relay is down", i)
		if i%2 == 1 {
			text = fmt.Sprintf("reply: bmsg%04dx Hi John, the relay is fixed.", i)
		}
		ev := map[string]any{"type": "event_callback", "event_id": fmt.Sprintf("EvBench%s%04d", mode, i), "team_id": "T1",
			"event_time": time.Now().Unix(),
			"event": map[string]any{"type": "message", "channel": channel, "user": agentUser, "text": text,
				"ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), i), "thread_ts": ts}}
		body, _ := json.Marshal(ev)
		req := e.signed("events", "application/json", body)
		sent[i] = time.Now()
		resp, err := client.Do(req)
		acks[i] = time.Since(sent[i])
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("event %d: HTTP %d", i, resp.StatusCode)
		}
	}
	lastSent := sent[n-1]

	notePath := "/support-ticket/" + tk.UUID + "/note-store"
	replyPath := "/support-ticket/reply/" + tk.UUID
	var (
		lat, notes, replies []time.Duration
		lastWrite           time.Time
		seen                map[int]int
	)
	deadline := time.Now().Add(benchkit.EnvDuration(t, "BENCH_WAIT", 10*time.Minute))
	for {
		lat, notes, replies, seen, lastWrite = nil, nil, nil, map[int]int{}, time.Time{}
		for _, a := range e.stopwatch.writes() {
			if a.path != notePath && a.path != replyPath {
				continue
			}
			m := markerRE.FindStringSubmatch(a.body)
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[1]) // not fmt.Sscan: it reads "0010" as octal
			seen[i]++
			if seen[i] > 1 || i >= n {
				continue
			}
			if (i%2 == 1) != (a.path == replyPath) {
				t.Errorf("message %d went to %s", i, a.path)
			}
			d := a.at.Sub(sent[i])
			lat = append(lat, d)
			if i%2 == 1 {
				replies = append(replies, d)
			} else {
				notes = append(notes, d)
			}
			if a.answered.After(lastWrite) {
				lastWrite = a.answered
			}
		}
		if len(lat) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(lat) != n {
		t.Errorf("%s: %d of %d messages reached TaskIP", mode, len(lat), n)
		for _, a := range e.stopwatch.writes() {
			t.Logf("TaskIP write: %s %s %d %s", a.method, a.path, a.status, cut(a.body, 100))
		}
		e.logs.report(t)
	}
	for i, c := range seen {
		if c > 1 {
			t.Errorf("message %d written %d times", i, c)
		}
	}
	// The thread confirmations are the end of each message's work.
	var confirmed int
	var lastConfirm time.Time
	for time.Now().Before(deadline) {
		confirmed, lastConfirm = 0, time.Time{}
		for _, c := range e.slack.Thread(channel, ts) {
			if c.ThreadTS != "" && c.Error == "" && (strings.HasPrefix(c.Text, "Note saved") || strings.HasPrefix(c.Text, "Sent to ")) {
				confirmed++
				if c.At.After(lastConfirm) {
					lastConfirm = c.At
				}
			}
		}
		if confirmed >= n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if confirmed != n {
		t.Errorf("%s: %d of %d thread confirmations", mode, confirmed, n)
		for _, c := range e.slack.Thread(channel, ts) {
			t.Logf("thread: %s thread_ts=%q err=%q %q", c.Method, c.ThreadTS, c.Error, cut(c.Text, 80))
		}
	}
	if got := len(e.fake.Notes(tk.ID)); got != (n+1)/2 {
		t.Errorf("%s: %d notes, want %d", mode, got, (n+1)/2)
	}
	if got := len(e.fake.Replies(tk.ID)); got != n/2 {
		t.Errorf("%s: %d replies, want %d", mode, got, n/2)
	}
	s, sn, sr, sa := benchkit.Summarize(lat), benchkit.Summarize(notes), benchkit.Summarize(replies), benchkit.Summarize(acks)
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mode, n,
		ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(sn.P99), ms(sr.P99), ms(sa.P99),
		ms(lastWrite.Sub(lastSent)), ms(lastConfirm.Sub(lastSent)), benchkit.Verdict(s.P99 <= 300*time.Millisecond), benchkit.LoadAvg())
	e.logs.report(t)
	e.cancel()
	e.done.Wait()
}
