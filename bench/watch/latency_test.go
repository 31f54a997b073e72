package watch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/bridge"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip"
)

// TestWatchBaseline times a new watch's first poll (the baseline: list every
// ticket, store a snapshot of each, post nothing) against BENCH_TICKETS
// tickets, with fsync on commit (the daemon) and without.
func TestWatchBaseline(t *testing.T) {
	benchkit.RequireBench(t)
	n := ticketCount()
	fmt.Printf("\n#### Baseline of %d tickets (first run)\n\n| state | time | load before |\n|---|---|---|\n", n)
	for _, noSync := range []bool{false, true} {
		load := benchkit.LoadAvg()
		took, err := recordBaseline(filepath.Join(t.TempDir(), "state.db"), n, noSync)
		if err != nil {
			t.Fatal(err)
		}
		mode := "fsync"
		if noSync {
			mode = "nosync"
		}
		fmt.Printf("| %s | %.2f s | %s |\n", mode, took.Seconds(), load)
	}
}

// countingTickets counts what the watch asks TaskIP.
type countingTickets struct {
	next         bridge.WatchTickets
	polls, lists atomic.Int64 // polls = list requests for page 1
	gets         atomic.Int64
}

func (c *countingTickets) ListTickets(ctx context.Context, p taskip.ListParams) (taskip.TicketPage, error) {
	c.lists.Add(1)
	if p.Page == 1 {
		c.polls.Add(1)
	}
	return c.next.ListTickets(ctx, p)
}

func (c *countingTickets) GetTicket(ctx context.Context, id taskip.ID) (taskip.Ticket, error) {
	c.gets.Add(1)
	return c.next.GetTicket(ctx, id)
}

// TestWatchChangeLatency runs the watch's Run loop on "@every 1s" against
// BENCH_TICKETS tickets and makes BENCH_CHANGES server-side changes (a
// status flip on a ticket that already has its Slack thread) at uniformly
// random moments over BENCH_SPREAD. Latency = slackfake's arrival time of
// the thread reply − the moment taskipfake.Mutate returned.
//
// BENCH_PACING lists Poster pacings to run: "off" (PerChannelInterval -1:
// the watch's own latency, which is also the daemon's while Slack accepts
// every post) and/or a duration; "1s" is the fixed pace the daemon used
// before it paced by Slack's 429 answers (one message per second per
// channel, chat.update included);
// "posts=1s" paces only chat.postMessage, in the bench (see postPacer), to
// show what leaving chat.update out of that budget would give, and
// "posts=1s/3" does so with a token bucket allowing bursts of 3 (Slack:
// "short bursts >1 allowed"). Default "off,1s".
func TestWatchChangeLatency(t *testing.T) {
	benchkit.RequireBench(t)
	changes := envInt("BENCH_CHANGES", 200)
	spread := envDuration("BENCH_SPREAD", 60*time.Second)
	pacings := os.Getenv("BENCH_PACING")
	if pacings == "" {
		pacings = "off,1s"
	}
	fmt.Printf("\n#### Change → thread reply, 1 s poll, %d tickets, %d changes over %s\n\n", ticketCount(), changes, spread)
	fmt.Println("| pacing | p50 | p90 | p99 | max | target p99 ≤ 1.5 s | polls | TaskIP req/poll | load start / end |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, p := range strings.Split(pacings, ",") {
		pacing, postsEvery, burst := time.Duration(-1), time.Duration(0), 1
		var err error
		if p != "off" {
			spec, postsOnly := strings.CutPrefix(p, "posts=")
			if postsOnly {
				if d, b, ok := strings.Cut(spec, "/"); ok {
					spec = d
					if burst, err = strconv.Atoi(b); err != nil {
						t.Fatalf("BENCH_PACING: %v", err)
					}
				}
			}
			d, err := time.ParseDuration(spec)
			if err != nil {
				t.Fatalf("BENCH_PACING: %v", err)
			}
			if postsOnly {
				postsEvery = d
			} else {
				pacing = d
			}
		}
		t.Run("pacing="+p, func(t *testing.T) { runChangeLatency(t, p, pacing, postsEvery, burst, changes, spread) })
	}
}

func runChangeLatency(t *testing.T, name string, pacing, postsEvery time.Duration, burst, changes int, spread time.Duration) {
	n := ticketCount()
	if changes > n {
		t.Fatalf("BENCH_CHANGES %d > %d tickets", changes, n)
	}
	ct := &countingTickets{}
	e := newEnv(t, envConfig{pacing: pacing, postsEvery: postsEvery, postsBurst: burst, schedule: "@every 1s",
		wrap: func(w bridge.WatchTickets) bridge.WatchTickets { ct.next = w; return ct }})
	sf := e.fakes.(*inProc).sf

	// Warm-up: the changed tickets get their threads first, through an
	// unpaced watch on the same state, so the measured changes are thread
	// replies and the paced run does not start with a backlog of parents.
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	ids := rng.Perm(n)[:changes]
	for i := range ids {
		ids[i]++
		if err := e.fakes.Mutate(ids[i], time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	warmPoster, err := slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: sf.URL(), PerChannelInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	wcfg := e.cfg
	wcfg.Chat, wcfg.Tickets = warmPoster, e.client
	warm, err := bridge.NewWatch(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	threads := make(map[int]string, len(ids))
	for _, id := range ids {
		if threads[id] = e.threadTS(t, id); threads[id] == "" {
			t.Fatalf("ticket %d has no thread after the warm-up", id)
		}
	}
	// A second change to a ticket within the same wall-clock second would
	// make the fake bump updated_at one second ahead (see Mutate); start
	// the measured changes in a later second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.watch.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(1500 * time.Millisecond) // the first poll of the Run loop
	load0 := benchkit.LoadAvg()
	polls0, lists0, gets0 := ct.polls.Load(), ct.lists.Load(), ct.gets.Load()

	offsets := make([]time.Duration, len(ids))
	for i := range offsets {
		offsets[i] = time.Duration(rng.Int64N(int64(spread)))
	}
	slices.Sort(offsets)
	changedAt := make(map[int]time.Time, len(ids))
	var mu sync.Mutex
	start := time.Now()
	for i, off := range offsets {
		time.Sleep(time.Until(start.Add(off)))
		if err := e.fakes.Mutate(ids[i], time.Time{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		changedAt[ids[i]] = time.Now()
		mu.Unlock()
	}

	// Wait for every thread reply. A paced Poster may need two writes per
	// change (reply + parent update), so allow for that backlog.
	wait := 30 * time.Second
	if p := max(pacing, postsEvery); p > 0 {
		wait += time.Duration(3*changes) * p
	}
	deadline := time.Now().Add(wait)
	lat := make(map[int]time.Duration, len(ids))
	for len(lat) < len(ids) && time.Now().Before(deadline) {
		for _, id := range ids {
			if _, ok := lat[id]; ok {
				continue
			}
			if replies := sf.Thread(channel, threads[id]); len(replies) > 0 {
				lat[id] = replies[0].At.Sub(changedAt[id])
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	load1 := benchkit.LoadAvg()
	polls := ct.polls.Load() - polls0
	reqs := ct.lists.Load() - lists0 + ct.gets.Load() - gets0
	if len(lat) < len(ids) {
		t.Fatalf("only %d of %d thread replies arrived within %s", len(lat), len(ids), wait)
	}
	for _, id := range ids {
		replies := sf.Thread(channel, threads[id])
		if len(replies) != 1 || !strings.HasPrefix(replies[0].Text, "Status: ") {
			t.Errorf("ticket %d: thread replies %+v, want one status line", id, replies)
		}
	}
	all := make([]time.Duration, 0, len(lat))
	for _, d := range lat {
		all = append(all, d)
	}
	s, ms := benchkit.Summarize(all), benchkit.Millis
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %d | %.2f | %s / %s |\n", name, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max),
		benchkit.Verdict(s.P99 <= 1500*time.Millisecond), polls, float64(reqs)/float64(max(polls, 1)), load0, load1)
}
