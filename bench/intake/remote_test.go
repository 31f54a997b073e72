package intake

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// TestIntakeRemoteTaskIP measures the intake draining a backlog of
// conversations against a TaskIP far away (bench/README.md):
//
//	TICKETSYNC_BENCH=1 go test -run TestIntakeRemoteTaskIP -v -count=1 -timeout 30m ./bench/intake/
//
// Every TaskIP request is answered BENCH_TASKIP_RTT (100 ms) after it
// arrived. The backlog (200 new conversations from distinct known senders,
// 100 replies to them) is APPENDed before the daemon starts; the daemon's
// emails/s (start → last TaskIP write answered) with mail.write_concurrency
// 8 is compared with a plain loop making the same writes 8 at a time, and
// with the daemon writing one mail at a time (write_concurrency 1). Without
// TICKETSYNC_BENCH=1 it skips.
func TestIntakeRemoteTaskIP(t *testing.T) {
	benchkit.RequireBench(t)
	s := loadRemoteSettings(t)
	bin := benchkit.BuildStatic(t)
	printRemoteHeader(os.Stdout, bin, s)
	var results []*remoteResult
	for _, server := range s.servers {
		t.Run(server, func(t *testing.T) {
			r := runRemote(t, server, bin, s)
			results = append(results, r)
			printRemote(os.Stdout, r, s)
		})
	}
	printRemoteSummary(os.Stdout, results, s)
	if s.strict {
		for _, r := range results {
			for _, m := range r.misses(s) {
				t.Errorf("%s: target missed: %s", r.server, m)
			}
		}
	}
}

// The targets: the daemon drains the backlog at ≥ 0.8× the plain loop's
// emails/s, and its peak RSS over the burst stays ≤ 32 MiB.
const (
	remoteTargetRatio = 0.8
	remoteTargetRSS   = 32 << 20
)

type remoteSettings struct {
	rtt           time.Duration // BENCH_TASKIP_RTT
	conversations int           // BENCH_CONVERSATIONS: new conversations, one ticket each
	replies       int           // BENCH_REPLIES: replies to the first of them
	replyGap      int           // BENCH_REPLY_GAP: the reply to conversation i follows the first mail of i+gap
	width         int           // BENCH_WRITE_CONCURRENCY: the daemon's, and the loop's requests in flight
	sequential    bool          // BENCH_SEQUENTIAL=0 skips the write_concurrency 1 daemon and the 1-in-flight loop
	servers       []string      // BENCH_SERVERS
	strict        bool          // BENCH_STRICT=1: a missed target fails the test
}

func loadRemoteSettings(t testing.TB) remoteSettings {
	s := remoteSettings{
		rtt:           benchkit.EnvDuration(t, "BENCH_TASKIP_RTT", 100*time.Millisecond),
		conversations: benchkit.EnvInt(t, "BENCH_CONVERSATIONS", 200),
		replies:       benchkit.EnvInt(t, "BENCH_REPLIES", 100),
		replyGap:      benchkit.EnvInt(t, "BENCH_REPLY_GAP", 7),
		width:         benchkit.EnvInt(t, "BENCH_WRITE_CONCURRENCY", 8),
		sequential:    os.Getenv("BENCH_SEQUENTIAL") != "0",
		servers:       benchkit.EnvList("BENCH_SERVERS", "mem,dovecot"),
		strict:        os.Getenv("BENCH_STRICT") == "1",
	}
	if s.replies > s.conversations {
		t.Fatalf("BENCH_REPLIES=%d: at most one reply per conversation (%d)", s.replies, s.conversations)
	}
	if s.width > 64 {
		t.Fatalf("BENCH_WRITE_CONCURRENCY=%d: the daemon takes 1 to 64", s.width)
	}
	return s
}

func (s remoteSettings) mails() int { return s.conversations + s.replies }

// remoteResult is what one server's scenario measured.
type remoteResult struct {
	server, version    string
	loadStart, loadEnd string
	mails              int

	loop     time.Duration // plain loop, width in flight: median of 3
	loopRuns []loopRun     // sorted by time
	loopSeq  *loopRun      // plain loop, 1 in flight

	seq, conc *daemonRun // daemon with write_concurrency 1, and width
}

func (r *remoteResult) loopPerSec() float64 { return float64(r.mails) / r.loop.Seconds() }

// ratio is the target's: the daemon's emails/s (write_concurrency width)
// over the plain loop's with width in flight.
func (r *remoteResult) ratio() float64 { return r.conc.perSec(r.mails) / r.loopPerSec() }

func (r *remoteResult) misses(s remoteSettings) []string {
	var m []string
	if r.ratio() < remoteTargetRatio {
		m = append(m, fmt.Sprintf("emails/s %.2f× the %d-in-flight loop (target ≥ %.1f×)", r.ratio(), s.width, remoteTargetRatio))
	}
	if r.conc.peakRSS() > remoteTargetRSS {
		m = append(m, fmt.Sprintf("peak RSS over the burst %.1f MiB (target ≤ 32 MiB)", benchkit.MiB(r.conc.peakRSS())))
	}
	return m
}

// daemonRun is one daemon draining the backlog.
type daemonRun struct {
	width         int
	appendBacklog time.Duration // APPEND of the backlog, daemon stopped
	wall          time.Duration // daemon start -> last TaskIP write answered
	firstWrite    time.Duration // daemon start -> first TaskIP write arrived
	allSeen       time.Duration // daemon start -> every mail \Seen (seen by polling, 100 ms)
	writes        int
	maxInFlight   int // TaskIP writes in flight at once
	mix           requestMix
	cpu           time.Duration // daemon CPU, start -> all \Seen
	busy          float64       // share of all CPUs busy, start -> last write
	rssPeak       int64         // largest VmRSS sample (every 10 ms), start -> all \Seen
	rssSamples    int
	hwm, rssEnd   int64 // VmHWM and VmRSS when all mail is \Seen
	shutdown      time.Duration
	exitCode      int
	problems      []string // correctness: each fails the test
}

func (d *daemonRun) perSec(mails int) float64 { return float64(mails) / d.wall.Seconds() }

// peakRSS is as bench/idle reports it: the larger of the 10 ms VmRSS
// samples and VmHWM (which the kernel updates lazily).
func (d *daemonRun) peakRSS() int64 { return max(d.rssPeak, d.hwm) }

func runRemote(t *testing.T, server, bin string, s remoteSettings) *remoteResult {
	run := strings.ToLower(rand.Text()[:8])
	r := &remoteResult{server: server, mails: s.mails(), loadStart: benchkit.LoadAvg()}
	t.Logf("%s: load average at start %s", server, r.loadStart)

	var srv mailtest.Server
	switch server {
	case "mem":
		srv = mailtest.StartMemServer(t, mailtest.MemOptions{})
		r.version = "imapmemserver (go-imap v2.0.0-beta.8)"
	case "dovecot":
		d := mailtest.StartDovecot(t)
		srv = d
		r.version = "Dovecot " + d.Version()
	default:
		t.Fatalf("unknown server %q (want mem or dovecot)", server)
	}

	// The plain loop first, three times on fresh fakes (each lasts a few
	// seconds); the median is the baseline and the spread is printed.
	for k := range 3 {
		r.loopRuns = append(r.loopRuns, remoteLoopChild(t, fmt.Sprintf("%sl%d", run, k), s.conversations, s.replies, s.width, s.rtt))
	}
	slices.SortFunc(r.loopRuns, func(a, b loopRun) int { return int(a.took - b.took) })
	r.loop = r.loopRuns[1].took

	// The daemon as it was (one write at a time), then as it is; each on a
	// mailbox, fake and state file of its own.
	if s.sequential {
		r.seq = drainBacklog(t, srv, bin, s, run+"s", 1)
	}
	r.conc = drainBacklog(t, srv, bin, s, run+"c", s.width)
	if s.sequential {
		lr := remoteLoopChild(t, run+"q", s.conversations, s.replies, 1, s.rtt)
		r.loopSeq = &lr
	}
	r.loadEnd = benchkit.LoadAvg()
	for _, d := range []*daemonRun{r.seq, r.conc} {
		if d == nil {
			continue
		}
		for _, p := range d.problems {
			t.Errorf("write_concurrency %d: %s", d.width, p)
		}
	}
	return r
}

// drainBacklog APPENDs the backlog to a mailbox of its own while no daemon
// runs, starts the daemon on it with mail.write_concurrency width and a
// fresh fake and state file, and measures it until every mail is \Seen.
func drainBacklog(t *testing.T, srv mailtest.Server, bin string, s remoteSettings, run string, width int) *daemonRun {
	t.Helper()
	ctx := context.Background()
	dr := &daemonRun{width: width}
	mailbox := "Backlog-" + run
	srv.CreateMailbox(t, mailbox)
	api := startRemoteAPI(t, s.conversations, s.rtt)

	app, err := dialAppender(srv.Addr(), srv.Username(), srv.Password())
	if err != nil {
		t.Fatalf("appender: %v", err)
	}
	start := time.Now()
	for i, raw := range remoteBacklog(run, s.conversations, s.replies, s.replyGap, time.Now()) {
		if err := app.append(mailbox, raw); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	dr.appendBacklog = time.Since(start)
	app.close()

	dir := t.TempDir()
	listen := benchkit.FreeAddr(t)
	cfg := writeConfig(t, dir, daemonConfig{
		APIBase: api.base, StatePath: filepath.Join(dir, "state.db"), Listen: listen,
		IMAPAddr: srv.Addr(), User: srv.Username(), Pass: srv.Password(), MaxMessageBytes: 30 << 20,
		Mailbox: mailbox, WriteConcurrency: width,
	})
	machine := benchkit.MachineCPU()
	t0 := time.Now()
	// An empty environment, as bench/idle runs the release binary.
	d := benchkit.StartDaemon(t, bin, cfg, []string{})
	stop := sampleRSS(d, &dr.rssPeak, &dr.rssSamples)
	t.Cleanup(stop)

	timeout := 60*time.Second + time.Duration(s.mails())*(2*s.rtt+20*time.Millisecond)
	if !api.waitFor(ctx, timeout, func() bool { return api.nWrites >= s.mails() || !d.Alive() }) {
		stop()
		t.Fatalf("write_concurrency %d: %d of %d TaskIP writes after %v\ndaemon log:\n%s", width, api.nWritesNow(), s.mails(), timeout, d.Log())
	}
	if !d.Alive() {
		stop()
		t.Fatalf("write_concurrency %d: daemon exited\n%s", width, d.Log())
	}
	api.mu.Lock()
	dr.wall, dr.firstWrite, dr.writes = api.lastWrite.Sub(t0), api.firstWrite.Sub(t0), api.nWrites
	api.mu.Unlock()
	dr.busy = benchkit.MachineCPU().BusySince(machine)
	waitSeenIn(t, srv, mailbox, s.mails())
	dr.allSeen = time.Since(t0)
	dr.cpu = d.CPU()
	stop()
	dr.hwm, dr.rssEnd = d.Memory()
	time.Sleep(2 * s.rtt) // a write after the last expected one would show in the log
	api.mu.Lock()
	dr.maxInFlight, dr.writes = api.maxInFlight, api.nWrites
	api.mu.Unlock()
	dr.mix = summarise(api.fake.Requests())
	dr.shutdown, dr.exitCode = d.Stop(t)

	// Correctness: one ticket per conversation, each reply on its own
	// ticket, exactly one write per mail, nothing refused, a clean exit.
	dr.problems = checkThreads(api, run, s.conversations, s.replies)
	if dup := api.duplicates(); len(dup) > 0 {
		dr.problems = append(dr.problems, "created more than once: "+strings.Join(dup, ", "))
	}
	if dr.writes != s.mails() || dr.mix.byRoute["POST /support-ticket"] != s.conversations ||
		dr.mix.byRoute["POST /ticket/{id}/add-reply"] != s.replies {
		dr.problems = append(dr.problems, fmt.Sprintf("%d TaskIP writes for %d mails (%s), want %d creates and %d replies",
			dr.writes, s.mails(), dr.mix.routes(), s.conversations, s.replies))
	}
	if dr.mix.failed > 0 {
		dr.problems = append(dr.problems, fmt.Sprintf("%d TaskIP requests answered outside 2xx: %s", dr.mix.failed, dr.mix.routes()))
	}
	if dr.exitCode != 0 {
		dr.problems = append(dr.problems, fmt.Sprintf("daemon exited %d after SIGTERM", dr.exitCode))
	}
	if log := strings.TrimSpace(d.Log()); log != "" {
		t.Logf("write_concurrency %d: daemon log (level warn):\n%s", width, log)
	}
	return dr
}

// remoteBacklog is the backlog in mailbox order: the first mail of each
// conversation i (smallMail: customer i, a known TaskIP contact) and,
// for i < replies, the customer's reply to it right after the first mail
// of conversation i+gap (or at the end): a little later in the mailbox.
func remoteBacklog(run string, conversations, replies, gap int, when time.Time) [][]byte {
	var out [][]byte
	ids := make([]string, conversations)
	subjects := make([]string, conversations)
	reply := func(j int) {
		out = append(out, replyMail(run, j, ids[j], subjects[j], when.Add(time.Minute)))
	}
	for i := range conversations {
		subject, raw := smallMail(run, i, when)
		ids[i], subjects[i] = messageIDOf(raw), subject
		out = append(out, raw)
		if j := i - gap; j >= 0 && j < replies {
			reply(j)
		}
	}
	for j := max(conversations-gap, 0); j < replies; j++ {
		reply(j)
	}
	return out
}

// checkThreads checks the fake's tickets against the backlog: exactly one
// ticket per conversation, and on the ticket of conversation i < replies
// exactly its reply, on the others none.
func checkThreads(api *apiServer, run string, conversations, replies int) []string {
	var problems []string
	want := make(map[string]int, conversations)
	for i := range conversations {
		subject, _, _ := baselineFields(run, i)
		want[subject] = i
	}
	tickets := api.fake.Tickets()
	seen := map[int]int{}
	misplaced, missing, extra := 0, 0, 0
	for _, tk := range tickets {
		i, ok := want[tk.Subject]
		if !ok {
			problems = append(problems, fmt.Sprintf("ticket %d has an unknown subject %q", tk.ID, tk.Subject))
			continue
		}
		seen[i]++
		rs := api.fake.Replies(tk.ID)
		switch {
		case i >= replies && len(rs) > 0:
			extra += len(rs)
		case i < replies && len(rs) == 0:
			missing++
		case i < replies:
			if len(rs) > 1 {
				extra += len(rs) - 1
			}
			if !strings.Contains(rs[0].Message, replyMarker(run, i)) {
				misplaced++
			}
		}
	}
	if len(tickets) != conversations {
		problems = append(problems, fmt.Sprintf("%d tickets for %d conversations", len(tickets), conversations))
	}
	for i := range conversations {
		if n := seen[i]; n != 1 {
			subject, _, _ := baselineFields(run, i)
			problems = append(problems, fmt.Sprintf("%d tickets for %q", n, subject))
		}
	}
	if missing+misplaced+extra > 0 {
		problems = append(problems, fmt.Sprintf("replies: %d missing, %d on another conversation's ticket, %d extra", missing, misplaced, extra))
	}
	return problems
}

// nWritesNow is the writes answered so far.
func (tp *apiServer) nWritesNow() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.nWrites
}

// sampleRSS reads the daemon's VmRSS every 10 ms, keeping the largest in
// *peak, until the returned stop is called (as bench/idle samples a burst).
func sampleRSS(d *benchkit.Daemon, peak *int64, samples *int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if st := d.Status(); st != nil {
				*peak = max(*peak, st["VmRSS"]<<10)
				*samples++
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func printRemoteHeader(w io.Writer, bin string, s remoteSettings) {
	fmt.Fprintf(w, "\n## Intake against a remote TaskIP, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "daemon %s (%s); %s; %d × %s; load average %s\n", bin, revision(bin), runtime.Version(), runtime.NumCPU(), cpuModel(), benchkit.LoadAvg())
	fmt.Fprintf(w, "settings: TaskIP round trip %v on every request; backlog %d conversations + %d replies (gap %d); %d in flight; servers %s\n",
		s.rtt, s.conversations, s.replies, s.replyGap, s.width, strings.Join(s.servers, ","))
}

func printRemote(w io.Writer, r *remoteResult, s remoteSettings) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	n := r.mails
	p("\n### %s — %s, TaskIP %v away", r.server, r.version, s.rtt)
	p("load average (1/5/15 min): %s at start, %s at end; %d CPUs", r.loadStart, r.loadEnd, runtime.NumCPU())
	p("")
	p("Backlog: %d mails, %d new conversations (distinct senders, known TaskIP contacts) + %d replies (In-Reply-To the first mail, placed after the first mail of the conversation %d later), APPENDed with the daemon stopped; every TaskIP request answered %v after it arrived.",
		n, s.conversations, s.replies, s.replyGap, s.rtt)
	p("")
	type col struct {
		name string
		d    *daemonRun
		lr   *loopRun
	}
	cols := []col{{name: fmt.Sprintf("plain loop, %d in flight (median of 3)", s.width), lr: &r.loopRuns[1]}}
	if r.loopSeq != nil {
		cols = append(cols, col{name: "plain loop, 1 in flight", lr: r.loopSeq})
	}
	if r.seq != nil {
		cols = append(cols, col{name: "daemon, write_concurrency 1 (before)", d: r.seq})
	}
	cols = append(cols, col{name: fmt.Sprintf("**daemon, write_concurrency %d**", s.width), d: r.conc})
	row := func(label string, f func(c col) string) {
		cells := []string{label}
		for _, c := range cols {
			cells = append(cells, f(c))
		}
		p("| %s |", strings.Join(cells, " | "))
	}
	row("", func(c col) string { return c.name })
	row("---", func(col) string { return "---" })
	took := func(c col) time.Duration {
		if c.d != nil {
			return c.d.wall
		}
		return c.lr.took
	}
	row("start → last TaskIP write answered", func(c col) string {
		if c.lr == &r.loopRuns[1] {
			return fmt.Sprintf("%v (runs %v-%v)", took(c).Round(10*time.Millisecond),
				r.loopRuns[0].took.Round(10*time.Millisecond), r.loopRuns[2].took.Round(10*time.Millisecond))
		}
		return took(c).Round(10 * time.Millisecond).String()
	})
	row("**emails/s**", func(c col) string { return fmt.Sprintf("**%.1f**", float64(n)/took(c).Seconds()) })
	row(fmt.Sprintf("÷ plain loop, %d in flight", s.width), func(c col) string {
		return fmt.Sprintf("%.3f×", (float64(n)/took(c).Seconds())/r.loopPerSec())
	})
	row("backlog APPENDed (daemon stopped) in", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return c.d.appendBacklog.Round(10 * time.Millisecond).String()
	})
	row("start → first write arrived", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return c.d.firstWrite.Round(time.Millisecond).String()
	})
	row("TaskIP writes in flight, most at once", func(c col) string {
		if c.d != nil {
			return fmt.Sprint(c.d.maxInFlight)
		}
		return fmt.Sprint(c.lr.maxInFlight)
	})
	row("TaskIP requests", func(c col) string {
		if c.d == nil {
			return fmt.Sprintf("%d writes", c.lr.writes)
		}
		return fmt.Sprintf("%d reads + %d writes: %s", c.d.mix.reads, c.d.mix.writes, c.d.mix.routes())
	})
	row("start → every mail \\Seen", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return c.d.allSeen.Round(10 * time.Millisecond).String()
	})
	row("daemon CPU to all \\Seen; machine busy to last write", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return fmt.Sprintf("%v; %.0f%% of %d CPUs", c.d.cpu.Round(10*time.Millisecond), 100*c.d.busy, runtime.NumCPU())
	})
	row("**peak RSS** over the burst: max(VmRSS every 10 ms, VmHWM)", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return fmt.Sprintf("**%.1f MiB** (samples %.1f, VmHWM %.1f; %d samples; RSS at the end %.1f)", benchkit.MiB(c.d.peakRSS()),
			benchkit.MiB(c.d.rssPeak), benchkit.MiB(c.d.hwm), c.d.rssSamples, benchkit.MiB(c.d.rssEnd))
	})
	row("correctness", func(c col) string {
		if c.d == nil {
			return "checked (tickets, replies)"
		}
		if len(c.d.problems) > 0 {
			return "**FAILED**: " + strings.Join(c.d.problems, "; ")
		}
		return fmt.Sprintf("%d tickets, each reply on its own, none twice, all %d \\Seen", s.conversations, n)
	})
	row("SIGTERM → exit", func(c col) string {
		if c.d == nil {
			return "–"
		}
		return fmt.Sprintf("%v, exit %d", c.d.shutdown.Round(time.Millisecond), c.d.exitCode)
	})
}

func printRemoteSummary(w io.Writer, results []*remoteResult, s remoteSettings) {
	if len(results) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("\n### Targets, TaskIP %v away", s.rtt)
	p("")
	p("| server | daemon (%d) vs loop (%d in flight), emails/s | ratio (target ≥ %.1f×) | daemon (1), emails/s | peak RSS (≤ 32 MiB) | correct |",
		s.width, s.width, remoteTargetRatio)
	p("|---|---|---|---|---|---|")
	for _, r := range results {
		seq := "–"
		if r.seq != nil {
			seq = fmt.Sprintf("%.1f (%.3f×)", r.seq.perSec(r.mails), r.seq.perSec(r.mails)/r.loopPerSec())
		}
		correct := len(r.conc.problems) == 0 && (r.seq == nil || len(r.seq.problems) == 0)
		p("| %s | %.1f vs %.1f | %.3f× %s | %s | %.1f MiB %s | %s |", r.server,
			r.conc.perSec(r.mails), r.loopPerSec(), r.ratio(), benchkit.Verdict(r.ratio() >= remoteTargetRatio), seq,
			benchkit.MiB(r.conc.peakRSS()), benchkit.Verdict(r.conc.peakRSS() <= remoteTargetRSS), benchkit.Verdict(correct))
	}
}

// The backlog's layout, checked without the bench gate: every reply comes
// after the first mail it answers, gap first mails later, and names it.
func TestRemoteBacklog(t *testing.T) {
	const conversations, replies, gap = 20, 15, 7
	mails := remoteBacklog("run1", conversations, replies, gap, time.Now())
	if len(mails) != conversations+replies {
		t.Fatalf("%d mails, want %d", len(mails), conversations+replies)
	}
	first := map[string]int{} // Message-ID -> conversation
	opened := 0
	for pos, raw := range mails {
		irt := inReplyToHeader.FindSubmatch(raw)
		if irt == nil {
			first[messageIDOf(raw)] = opened
			opened++
			continue
		}
		i, ok := first[string(irt[1])]
		if !ok {
			t.Fatalf("mail %d answers %s, which is not an earlier first mail", pos, irt[1])
		}
		if want := min(i+gap+1, conversations); opened != want {
			t.Errorf("the reply to conversation %d follows %d first mails, want %d", i, opened, want)
		}
		if !strings.Contains(string(raw), replyMarker("run1", i)) {
			t.Errorf("the reply to conversation %d lacks its marker", i)
		}
		delete(first, string(irt[1])) // one reply each
	}
	if opened != conversations || len(first) != conversations-replies {
		t.Errorf("%d first mails, %d unanswered; want %d and %d", opened, len(first), conversations, conversations-replies)
	}
}

var inReplyToHeader = regexp.MustCompile(`(?m)^In-Reply-To: <([^>]+)>\r$`)
