package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// TestSlackPacing: new tickets handed to the watch at once, as the intake
// hands over a batch it created, against slackfake limiting
// chat.postMessage (and chat.update) per channel the way Slack does: a
// token bucket, one a second after a burst, 429 with Retry-After beyond.
//
//   - generous: a burst of 50, BENCH_BURST_TICKETS (40) tickets. Latency =
//     the parent's post arriving at slackfake − the ticket handed to the
//     watch. Target p90 ≤ 5 s.
//   - strict: a burst of 1, BENCH_STRICT_TICKETS (60) tickets. The time
//     from the hand-over to the last parent, against the limit's own
//     minimum ((n−1) s). Target within 10 % of it.
//
// Pacing modes (BENCH_PACE, default "daemon,fixed"): "daemon" is the
// daemon's Poster (post at once, hold a channel only for a 429's
// Retry-After), "fixed" the fixed pacing it replaced (a burst of 3, then
// one post a second per channel, PerChannelInterval 1s).
func TestSlackPacing(t *testing.T) {
	benchkit.RequireBench(t)
	generous := benchkit.EnvInt(t, "BENCH_BURST_TICKETS", 40)
	strict := benchkit.EnvInt(t, "BENCH_STRICT_TICKETS", 60)
	modes := benchkit.EnvList("BENCH_PACE", "daemon,fixed")
	pacing := func(mode string) time.Duration {
		switch mode {
		case "daemon":
			return 0
		case "fixed":
			return time.Second
		}
		t.Fatalf("BENCH_PACE: unknown mode %q (daemon, fixed)", mode)
		return 0
	}

	fmt.Printf("\n### New tickets → Slack parents under Slack's limit (slackfake: a token bucket per channel, 1 post/s after a burst, 429 + Retry-After)\n")
	fmt.Printf("\nLoad average at start: %s. Watch running, tickets handed over with TicketCreated as the intake does; state file fsync on.\n", benchkit.LoadAvg())

	fmt.Printf("\n#### Generous limit: a burst of 50, %d tickets at once\n\n", generous)
	fmt.Println("| Poster pacing | parents | first | p50 | p90 | last | 429s | target p90 ≤ 5 s | load (1/5/15) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var logs []*countingHandler
	for _, mode := range modes {
		r := runPace(t, pacing(mode), 50, generous)
		s := benchkit.Summarize(r.latencies)
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %d | %s | %s |\n", mode, len(r.latencies), ms(r.first), ms(s.P50), ms(s.P90), ms(s.Max),
			r.refused, benchkit.Verdict(s.P90 <= 5*time.Second), benchkit.LoadAvg())
		logs = append(logs, r.logs)
	}
	reportLogs(t, modes, logs)

	minimum := time.Duration(strict-1) * time.Second
	fmt.Printf("\n#### Strict limit: a burst of 1, %d tickets at once (the limit's minimum: %s)\n\n", strict, ms(minimum))
	fmt.Println("| Poster pacing | parents | all posted after | / minimum | 429s | target ≤ 110 % | load (1/5/15) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	logs = nil
	for _, mode := range modes {
		r := runPace(t, pacing(mode), 1, strict)
		ratio := float64(r.last) / float64(minimum)
		fmt.Printf("| %s | %d | %s | %.1f %% | %d | %s | %s |\n", mode, len(r.latencies), ms(r.last), 100*ratio, r.refused,
			benchkit.Verdict(ratio <= 1.10), benchkit.LoadAvg())
		logs = append(logs, r.logs)
	}
	reportLogs(t, modes, logs)
	fmt.Printf("\nLoad average at end: %s\n", benchkit.LoadAvg())
}

type paceResult struct {
	latencies   []time.Duration // hand-over → parent arrived, per ticket
	first, last time.Duration   // the first and last parent after the hand-over
	refused     int             // 429s slackfake answered
	logs        *countingHandler
}

// reportLogs prints each mode's warnings below its table.
func reportLogs(t *testing.T, modes []string, logs []*countingHandler) {
	for i, l := range logs {
		fmt.Printf("\n%s:", modes[i])
		l.report(t)
	}
}

// runPace hands n new tickets to a running watch at once and waits for
// their parents. Any ticket without exactly one parent fails the test.
func runPace(t *testing.T, pacing time.Duration, burst, n int) paceResult {
	e := newEnv(t, envConfig{pacing: pacing})
	e.slack.SetRateLimit("chat.postMessage", burst, time.Second)
	e.slack.SetRateLimit("chat.update", burst, time.Second)
	e.start(t)
	defer func() { e.cancel(); e.done.Wait() }()
	for e.watch.LastPoll().IsZero() { // the first poll must not see the new tickets
		time.Sleep(5 * time.Millisecond)
	}

	ctx := context.Background()
	tickets := make([]taskip.Ticket, n)
	for i := range n {
		tk := e.fake.SeedTicket(taskipfake.Ticket{Subject: fmt.Sprintf("Printer %02d on fire", i), Priority: taskipfake.PriorityNormal,
			Status: taskipfake.StatusOpen, User: &taskipfake.Person{ID: 15, Name: "John Smith", Email: "john@acme.com"}})
		got, err := e.client.GetTicket(ctx, taskip.ID(tk.ID))
		if err != nil {
			t.Fatal(err)
		}
		tickets[i] = got
	}
	handed := time.Now()
	for _, tk := range tickets {
		e.watch.TicketCreated(tk, state.Conversation{Email: "john@acme.com", Name: "John Smith"})
	}

	deadline := time.Now().Add(time.Duration(n)*2*time.Second + 30*time.Second)
	var parents map[string][]slackfake.Call
	for {
		parents = parentsByUUID(e.slack.Messages(channel))
		if len(parents) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := paceResult{refused: e.slack.RateLimited(), logs: e.logs}
	for _, tk := range tickets {
		ps := parents[tk.UUID]
		if len(ps) != 1 {
			t.Errorf("ticket %d: %d parents", tk.ID, len(ps))
			continue
		}
		d := ps[0].At.Sub(handed)
		r.latencies = append(r.latencies, d)
		if r.first == 0 || d < r.first {
			r.first = d
		}
		r.last = max(r.last, d)
	}
	return r
}

// parentsByUUID groups top-level messages by the ticket their metadata
// names.
func parentsByUUID(msgs []slackfake.Call) map[string][]slackfake.Call {
	out := map[string][]slackfake.Call{}
	for _, m := range msgs {
		var md struct {
			Payload struct {
				UUID string `json:"uuid"`
			} `json:"event_payload"`
		}
		if json.Unmarshal(m.Metadata, &md) == nil && md.Payload.UUID != "" {
			out[md.Payload.UUID] = append(out[md.Payload.UUID], m)
		}
	}
	return out
}
