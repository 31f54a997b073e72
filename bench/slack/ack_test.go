package slack_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// TestSlackE2EAck: n signed slash commands released together at the real
// HTTP handler, TaskIP answering late; each request is timed from send to
// response headers. Then every command's work must finish: n status
// updates answered by the fake and n answers at the response_url.
//
// Phases (BENCH_ACK_CONNS, default "new,kept"): "new" sends over a fresh
// transport, so every request also opens its TCP connection; "kept" first
// opens n connections (a warm-up that holds n requests until all arrived)
// and sends over them, as Slack does with keep-alive.
func TestSlackE2EAck(t *testing.T) {
	benchkit.RequireBench(t)
	n := benchkit.EnvInt(t, "BENCH_COMMANDS", 100)
	latency := benchkit.EnvDuration(t, "BENCH_TASKIP_LATENCY", 500*time.Millisecond)
	phases := benchkit.EnvList("BENCH_ACK_CONNS", "new,kept")
	var tickets []taskipfake.Ticket
	e := newEnv(t, envConfig{seed: func(f *taskipfake.Server) {
		for i := range n * len(phases) {
			tickets = append(tickets, f.SeedTicket(taskipfake.Ticket{Subject: fmt.Sprintf("Bench ticket %d", i),
				Priority: taskipfake.PriorityNormal, Status: taskipfake.StatusOpen,
				User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}}))
		}
	}})
	e.fake.SetLatency(latency)
	e.start(t)

	fmt.Printf("\n### Slash command acknowledgement: %d concurrent `/ticket status <id> in_progress`, TaskIP latency %s\n", n, latency)
	fmt.Printf("\nLoad average at start: %s. Commands queue 256, 4 workers (defaults); watch running as Events; Poster paced 1/s/channel (daemon default).\n", benchkit.LoadAvg())
	fmt.Println("\n| connections | commands | conns reused | ack p50 | p90 | p99 | max | HTTP 200 | \"Working on it…\" | busy | all work done after | target p99 ≤ 50 ms | load (1/5/15) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	var lines []string
	for pi, phase := range phases {
		r := runAckPhase(t, e, phase, tickets[pi*n:(pi+1)*n])
		s := benchkit.Summarize(r.acks)
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %s | %d | %d | %d | %s | %s | %s |\n", phase, n, r.reused,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), r.ok200, r.working, r.busy,
			fmt.Sprintf("%.1f s", r.allDone.Seconds()), benchkit.Verdict(s.P99 <= 50*time.Millisecond), benchkit.LoadAvg())
		lines = append(lines, fmt.Sprintf("| %s | %.1f s | %.1f s | %.1f s | %d/%d | %d/%d | %.1f |", phase,
			r.firstResp.Seconds(), r.lastUpdate.Seconds(), r.allDone.Seconds(), r.updates, n, r.answers, n,
			float64(n)/r.allDone.Seconds()))
	}
	fmt.Println("\nWork after the acknowledgement (from the release of the requests):")
	fmt.Println("\n| connections | first response_url answer | last status update answered by TaskIP | last response_url answer | status updates 2xx | answers \"status: In Progress.\" | commands/s |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("\nModel: each command makes 2 TaskIP calls (GET the ticket to resolve the id, POST status-update) of ≥ %s each, so 4 workers finish at most %.1f commands/s; the agent lookup (users.info + team-member search) is cached after the first command.\n",
		latency, 4/(2*latency.Seconds()))
	e.logs.report(t)
	fmt.Printf("\nLoad average at end: %s\n", benchkit.LoadAvg())
}

type ackResult struct {
	acks                           []time.Duration
	reused, ok200, working, busy   int
	updates, answers               int
	firstResp, lastUpdate, allDone time.Duration
}

func runAckPhase(t *testing.T, e *env, phase string, tickets []taskipfake.Ticket) ackResult {
	t.Helper()
	n := len(tickets)
	tr := &http.Transport{MaxIdleConns: n + 10, MaxIdleConnsPerHost: n + 10, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	switch phase {
	case "new":
	case "kept":
		e.warm.expect(n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := client.Get(e.inbound.URL + "/warm")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	default:
		t.Fatalf("BENCH_ACK_CONNS: unknown phase %q (new, kept)", phase)
	}

	reqs := make([]*http.Request, n)
	for i, tk := range tickets {
		form := url.Values{"command": {"/ticket"}, "text": {fmt.Sprintf("status %d in_progress", tk.ID)},
			"user_id": {agentUser}, "user_name": {"sarah"}, "channel_id": {channel}, "team_id": {"T1"},
			"response_url": {e.responses.srv.URL + fmt.Sprintf("/resp/%s/%d", phase, i)}, "trigger_id": {"1.2.3"}}
		reqs[i] = e.signed("commands", "application/x-www-form-urlencoded", []byte(form.Encode()))
	}
	var (
		res     ackResult
		mu      sync.Mutex
		wg      sync.WaitGroup
		release = make(chan struct{})
	)
	res.acks = make([]time.Duration, n)
	for i, req := range reqs {
		wg.Go(func() {
			reused := false
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused },
			}))
			<-release
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			if err != nil {
				t.Errorf("command %d: %v", i, err)
				return
			}
			var ack struct {
				Text string `json:"text"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&ack)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			res.acks[i] = took
			if reused {
				res.reused++
			}
			if resp.StatusCode == http.StatusOK {
				res.ok200++
			}
			switch {
			case strings.Contains(ack.Text, "busy"):
				res.busy++
			case strings.HasPrefix(ack.Text, "Working on it"):
				res.working++
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // every goroutine is parked on release
	released := time.Now()
	close(release)
	wg.Wait()

	// The work: n status updates answered 2xx, n answers at response_url.
	uuids := map[string]bool{}
	for _, tk := range tickets {
		uuids["/support-ticket/status-update/"+tk.UUID] = true
	}
	prefix := "/resp/" + phase + "/"
	deadline := time.Now().Add(5 * time.Minute)
	for {
		res.updates, res.lastUpdate = 0, 0
		for _, a := range e.stopwatch.writes() {
			if uuids[a.path] && a.status/100 == 2 {
				res.updates++
				res.lastUpdate = max(res.lastUpdate, a.answered.Sub(released))
			}
		}
		res.answers, res.firstResp, res.allDone = 0, 0, 0
		got := 0
		for path, rs := range e.responses.snapshot() {
			if !strings.HasPrefix(path, prefix) {
				continue
			}
			for _, r := range rs {
				got++
				if strings.Contains(r.text, "status: In Progress.") {
					res.answers++
				}
				d := r.at.Sub(released)
				res.allDone = max(res.allDone, d)
				if res.firstResp == 0 || d < res.firstResp {
					res.firstResp = d
				}
			}
		}
		if (res.updates >= n && got >= n) || time.Now().After(deadline) {
			if res.updates != n || res.answers != n || got != n {
				t.Errorf("%s: %d status updates, %d answers (%d right) for %d commands", phase, res.updates, got, res.answers, n)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, tk := range tickets {
		if after, _ := e.fake.Ticket(tk.ID); after.Status != taskipfake.StatusInProgress {
			t.Errorf("ticket %d: status %v, want in progress", tk.ID, after.Status)
		}
	}
	return res
}
