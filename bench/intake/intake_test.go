package intake

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// TestIntakeE2E measures the inbound-mail intake end to end (bench/README.md):
//
//	TICKETSYNC_BENCH=1 go test -run TestIntakeE2E -v -count=1 -timeout 30m ./bench/intake/
//
// Without TICKETSYNC_BENCH=1 it skips, so `go test ./...` stays fast.
func TestIntakeE2E(t *testing.T) {
	benchkit.RequireBench(t)
	s := loadSettings(t)
	bin := buildDaemon(t, s.profileDir != "")
	printHeader(os.Stdout, bin, s)
	var results []*result
	for _, server := range s.servers {
		t.Run(server, func(t *testing.T) {
			r := runScenario(t, server, bin, s)
			results = append(results, r)
			printResult(os.Stdout, r, s)
		})
	}
	printSummary(os.Stdout, results, s)
	if s.strict {
		for _, r := range results {
			for _, m := range r.misses(s) {
				t.Errorf("%s: target missed: %s", r.server, m)
			}
		}
	}
}

type settings struct {
	emails      int           // BENCH_EMAILS: backlog of the throughput phase
	latency     int           // BENCH_LATENCY: messages of the IDLE latency phase
	interval    time.Duration // BENCH_INTERVAL: spacing of those messages
	attachBytes int64         // BENCH_ATTACH_MIB: the big attachment (0: none)
	servers     []string      // BENCH_SERVERS: mem,dovecot
	profileDir  string        // BENCH_PROFILE_DIR: CPU and heap profiles of the daemon
	strict      bool          // BENCH_STRICT=1: a missed target fails the test
	probe       bool          // BENCH_PROBE=0 skips the server push-delay probe
}

func loadSettings(t testing.TB) settings {
	s := settings{emails: 2000, latency: 200, interval: 50 * time.Millisecond, attachBytes: 20 << 20,
		servers: []string{"mem", "dovecot"}}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a non-negative integer", name, v)
			}
			*dst = n
		}
	}
	num("BENCH_EMAILS", &s.emails)
	num("BENCH_LATENCY", &s.latency)
	mib := int(s.attachBytes >> 20)
	num("BENCH_ATTACH_MIB", &mib)
	s.attachBytes = int64(mib) << 20
	if v := os.Getenv("BENCH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("BENCH_INTERVAL=%q: %v", v, err)
		}
		s.interval = d
	}
	if v := os.Getenv("BENCH_SERVERS"); v != "" {
		s.servers = strings.Split(v, ",")
	}
	s.profileDir = os.Getenv("BENCH_PROFILE_DIR")
	if s.profileDir != "" {
		if err := os.MkdirAll(s.profileDir, 0o755); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(s.profileDir)
		if err != nil {
			t.Fatal(err)
		}
		s.profileDir = abs
	}
	s.strict = os.Getenv("BENCH_STRICT") == "1"
	s.probe = os.Getenv("BENCH_PROBE") != "0"
	if s.emails == 0 {
		t.Fatal("BENCH_EMAILS must be at least 1")
	}
	return s
}

// result is everything one scenario measured.
type result struct {
	server, version      string
	loadStart, loadEnd   string
	emails, latencyCount int

	// N sequential creates (median of 3): from a child process, as the
	// daemon makes them (the target's baseline), and from the test process.
	baseChild, baseClient, baseRaw time.Duration
	baseChildRuns                  []time.Duration
	baseTraffic                    time.Duration // N sequential contact lookups + creates, child process

	probeTrickle, probeIsolated []time.Duration // the server's own IDLE push delay

	appendBacklog time.Duration // APPEND of the backlog, daemon stopped
	wall          time.Duration // daemon start -> Nth create answered
	steady        time.Duration // first create arrived -> Nth create answered
	cpuBacklog    time.Duration // daemon CPU during that
	cpuHarness    time.Duration // this process's CPU during that: the IMAP server and the fake
	busyBacklog   float64       // share of all CPUs busy during that
	hwmBacklog    int64
	mixBacklog    requestMix

	lat, appendDur []time.Duration // sorted
	mixLatency     requestMix
	cpuLatency     time.Duration

	bigSize                         int64
	bigAppend, bigCreate, bigUpload time.Duration
	mixBig                          requestMix
	cpuBig                          time.Duration

	hwm, rssEnd int64
	metrics     map[string]float64
	shutdown    time.Duration
	exitCode    int
	daemonLog   string
}

func (r *result) emailsPerSec() float64    { return float64(r.emails) / r.wall.Seconds() }
func (r *result) steadyPerSec() float64    { return float64(r.emails) / r.steady.Seconds() }
func (r *result) baseChildPerSec() float64 { return float64(r.emails) / r.baseChild.Seconds() }
func (r *result) baseClientPerSec() float64 {
	return float64(r.emails) / r.baseClient.Seconds()
}
func (r *result) baseRawPerSec() float64 { return float64(r.emails) / r.baseRaw.Seconds() }
func (r *result) baseTrafficPerSec() float64 {
	return float64(r.emails) / r.baseTraffic.Seconds()
}

// ratio is the throughput target's: intake emails/s over the plain loop's
// creates/s, both from a process of their own.
func (r *result) ratio() float64 { return r.emailsPerSec() / r.baseChildPerSec() }

func (r *result) misses(s settings) []string {
	var m []string
	if r.ratio() < 0.5 {
		m = append(m, fmt.Sprintf("throughput %.2f× the baseline (target ≥ 0.5×)", r.ratio()))
	}
	if len(r.lat) > 0 && benchkit.Percentile(r.lat, 99) > 250*time.Millisecond {
		m = append(m, fmt.Sprintf("IDLE latency p99 %v (target ≤ 250 ms)", benchkit.Percentile(r.lat, 99).Round(time.Millisecond)))
	}
	if r.hwm > 60<<20 {
		m = append(m, fmt.Sprintf("peak RSS %.1f MiB (target ≤ 60 MiB)", benchkit.MiB(r.hwm)))
	}
	if r.mixBacklog.writes != r.emails {
		m = append(m, fmt.Sprintf("%d TaskIP writes for %d emails (target: exactly one each)", r.mixBacklog.writes, r.emails))
	}
	return m
}

func runScenario(t *testing.T, server, bin string, s settings) *result {
	ctx := context.Background()
	run := strings.ToLower(rand.Text()[:8])
	r := &result{server: server, emails: s.emails, latencyCount: s.latency, loadStart: benchkit.LoadAvg()}
	t.Logf("%s: load average at start %s", server, r.loadStart)

	total := s.emails + s.latency + 1

	// Baselines first, in this same run, each on fresh fakes holding the
	// same contacts; a loop of 2,000 creates lasts ~0.2-0.4 s, so each is
	// run three times and the median is kept (the spread is printed). The
	// target's baseline runs in a child process like the daemon: the same
	// loop inside the test process skips the cross-process hand-off every
	// request of the daemon pays, and is shown beside it.
	r.baseChild, r.baseChildRuns = median3(func(k int) time.Duration {
		return baselineChild(t, fmt.Sprintf("%sp%d", run, k), s.emails, total, false)
	})
	r.baseClient, _ = median3(func(k int) time.Duration {
		return baselineClient(t, fmt.Sprintf("%sc%d", run, k), s.emails, total, false)
	})
	r.baseRaw, _ = median3(func(k int) time.Duration { return baselineRaw(t, fmt.Sprintf("%sr%d", run, k), s.emails, total) })
	r.baseTraffic, _ = median3(func(k int) time.Duration {
		return baselineChild(t, fmt.Sprintf("%st%d", run, k), s.emails, total, true)
	})

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
	api := startAPI(t, total)

	// Phase 1, throughput: the backlog is delivered while the daemon is down.
	app, err := dialAppender(srv.Addr(), srv.Username(), srv.Password())
	if err != nil {
		t.Fatalf("appender: %v", err)
	}
	defer app.close()
	start := time.Now()
	for i := range s.emails {
		_, raw := smallMail(run, i, time.Now())
		if err := app.append("INBOX", raw); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	r.appendBacklog = time.Since(start)

	// The server's own push delay, measured before the daemon runs.
	if s.probe {
		if r.probeTrickle, err = probePush(t, srv, app, run, 900000, 40, s.interval); err != nil {
			t.Fatalf("probe: %v", err)
		}
		if r.probeIsolated, err = probePush(t, srv, app, run, 900100, 5, 1200*time.Millisecond); err != nil {
			t.Fatalf("probe: %v", err)
		}
	}

	dir := t.TempDir()
	listen := benchkit.FreeAddr(t) // for /metrics at the end
	cfg := writeConfig(t, dir, daemonConfig{
		APIBase: api.base, StatePath: filepath.Join(dir, "state.db"), Listen: listen,
		IMAPAddr: srv.Addr(), User: srv.Username(), Pass: srv.Password(), MaxMessageBytes: 30 << 20,
	})
	var env []string
	if s.profileDir != "" {
		env = append(env, "TICKETSYNC_BENCH_CPUPROFILE="+filepath.Join(s.profileDir, server))
	}
	selfBefore, machineBefore := benchkit.SelfCPU(), benchkit.MachineCPU()
	t0 := time.Now()
	d := benchkit.StartDaemon(t, bin, cfg, append(os.Environ(), env...))
	timeout := 60*time.Second + time.Duration(s.emails)*20*time.Millisecond
	if !api.waitFor(ctx, timeout, func() bool { return api.nCreated >= s.emails || !d.Alive() }) {
		t.Fatalf("%d of %d tickets after %v\ndaemon log:\n%s", api.creates(), s.emails, timeout, d.Log())
	}
	if !d.Alive() {
		t.Fatalf("daemon exited\n%s", d.Log())
	}
	api.mu.Lock()
	r.wall, r.steady = api.last.Sub(t0), api.last.Sub(api.first)
	api.mu.Unlock()
	r.cpuBacklog = d.CPU()
	r.cpuHarness, r.busyBacklog = benchkit.SelfCPU()-selfBefore, benchkit.MachineCPU().BusySince(machineBefore)
	waitSeen(t, srv, s.emails)
	r.hwmBacklog, _ = d.Memory()
	r.mixBacklog = summarise(api.fake.Requests())
	rotateProfile(d, s)
	api.reset()

	// Phase 2, latency with IDLE: one message every interval.
	time.Sleep(time.Second) // the daemon is back in IDLE
	cpu0 := d.CPU()
	if s.latency > 0 {
		appended := make(map[string]time.Time, s.latency)
		subjects := make([]string, 0, s.latency)
		base := time.Now()
		for i := range s.latency {
			subject, raw := smallMail(run, s.emails+i, time.Now())
			before := time.Now()
			if err := app.append("INBOX", raw); err != nil {
				t.Fatalf("append (latency) %d: %v", i, err)
			}
			done := time.Now()
			appended[subject] = done
			subjects = append(subjects, subject)
			r.appendDur = append(r.appendDur, done.Sub(before))
			time.Sleep(time.Until(base.Add(time.Duration(i+1) * s.interval)))
		}
		if !api.waitFor(ctx, 60*time.Second, func() bool { return api.nCreated >= s.latency }) {
			t.Fatalf("latency phase: %d of %d tickets\n%s", api.creates(), s.latency, d.Log())
		}
		api.mu.Lock()
		for _, subj := range subjects {
			r.lat = append(r.lat, api.arrived[subj].Sub(appended[subj]))
		}
		api.mu.Unlock()
		slices.Sort(r.lat)
		slices.Sort(r.appendDur)
		waitSeen(t, srv, s.emails+s.latency)
	}
	r.cpuLatency = d.CPU() - cpu0
	r.mixLatency = summarise(api.fake.Requests())
	rotateProfile(d, s)
	api.reset()

	// Phase 3, one big attachment: what it adds to the peak RSS.
	cpu0 = d.CPU()
	if s.attachBytes > 0 {
		idx := s.emails + s.latency
		when := time.Now()
		var cw countWriter
		if _, _, err := bigMail(&cw, run, idx, s.attachBytes, when); err != nil {
			t.Fatal(err)
		}
		r.bigSize = cw.n
		var subject, sum string
		before := time.Now()
		err := app.appendStream("INBOX", cw.n, func(w io.Writer) error {
			var err error
			subject, sum, err = bigMail(w, run, idx, s.attachBytes, when)
			return err
		})
		if err != nil {
			t.Fatalf("append big message: %v", err)
		}
		done := time.Now()
		r.bigAppend = done.Sub(before)
		if !api.waitFor(ctx, 3*time.Minute, func() bool { return len(api.uploads) >= 1 || !d.Alive() }) || !d.Alive() {
			t.Fatalf("the attachment was not uploaded\n%s", d.Log())
		}
		api.mu.Lock()
		r.bigCreate, r.bigUpload = api.arrived[subject].Sub(done), api.uploads[0].Sub(done)
		api.mu.Unlock()
		checkAttachment(t, api, subject, s.attachBytes, sum)
		waitSeen(t, srv, total)
	}
	r.cpuBig = d.CPU() - cpu0
	r.mixBig = summarise(api.fake.Requests())

	// Just before SIGTERM: the peak over the whole run.
	r.hwm, r.rssEnd = d.Memory()
	r.metrics, _ = benchkit.Scrape("http://"+listen+"/metrics", runtimeGauges...)
	r.shutdown, r.exitCode = d.Stop(t)
	r.daemonLog = d.Log()
	r.loadEnd = benchkit.LoadAvg()

	// Exactly once: one ticket per message, none twice.
	want := s.emails + s.latency
	if s.attachBytes > 0 {
		want++
	}
	if got := len(api.fake.Tickets()); got != want {
		t.Errorf("%d tickets in TaskIP, want %d (one per email)", got, want)
	}
	if dup := api.duplicates(); len(dup) > 0 {
		t.Errorf("created more than once: %s", strings.Join(dup, ", "))
	}
	if r.mixBacklog.writes != s.emails || r.mixBacklog.byRoute["POST /support-ticket"] != s.emails {
		t.Errorf("backlog: %d writes for %d emails (%s), want exactly one create each", r.mixBacklog.writes, s.emails, r.mixBacklog.routes())
	}
	if r.mixLatency.writes != s.latency {
		t.Errorf("latency phase: %d writes for %d emails (%s)", r.mixLatency.writes, s.latency, r.mixLatency.routes())
	}
	for _, m := range []requestMix{r.mixBacklog, r.mixLatency, r.mixBig} {
		if m.failed > 0 {
			t.Errorf("%d TaskIP requests failed: %s", m.failed, m.routes())
		}
	}
	if r.exitCode != 0 {
		t.Errorf("daemon exited %d after SIGTERM", r.exitCode)
	}
	if strings.TrimSpace(r.daemonLog) != "" {
		t.Logf("daemon log (level warn):\n%s", r.daemonLog)
	}
	return r
}

func rotateProfile(d *benchkit.Daemon, s settings) {
	if s.profileDir != "" {
		d.Signal(syscall.SIGUSR1) // profrun only: the real binary would die of it
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSeen waits until n messages of INBOX carry \Seen: the daemon has
// marked them processed, the end of their pipeline.
func waitSeen(t testing.TB, srv mailtest.Server, n int) {
	t.Helper()
	waitSeenIn(t, srv, "INBOX", n)
}

// waitSeenIn is waitSeen on another mailbox.
func waitSeenIn(t testing.TB, srv mailtest.Server, mailbox string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := 0
		for _, m := range srv.Messages(t, mailbox) {
			if slices.Contains(m.Flags, `\Seen`) {
				seen++
			}
		}
		if seen >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages marked \\Seen after 60 s", seen, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkAttachment(t testing.TB, api *apiServer, subject string, size int64, sum string) {
	t.Helper()
	for _, tk := range api.fake.Tickets() {
		if tk.Subject != subject {
			continue
		}
		atts := api.fake.Attachments(tk.ID)
		if len(atts) != 1 || atts[0].Size != size || atts[0].SHA256 != sum {
			t.Errorf("ticket %d attachments %+v, want one of %d bytes sha256 %s", tk.ID, atts, size, sum)
		}
		return
	}
	t.Errorf("no ticket with subject %q", subject)
}

// runtimeGauges are the process and Go runtime gauges read from the
// daemon's /metrics at the end (they explain where the resident memory is).
var runtimeGauges = []string{"process_resident_memory_bytes", "go_memstats_sys_bytes", "go_memstats_heap_sys_bytes",
	"go_memstats_heap_inuse_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_sys_bytes",
	"go_gc_duration_seconds_count", "go_goroutines"}

// median3 runs f three times and returns the median and all three, sorted.
func median3(f func(k int) time.Duration) (time.Duration, []time.Duration) {
	runs := []time.Duration{f(0), f(1), f(2)}
	slices.Sort(runs)
	return runs[1], runs
}

// ms prints a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	if d < 0 && d > -50*time.Microsecond {
		d = 0 // EXISTS overtook the APPEND's OK by a few µs
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// printHeader says what was measured where: the daemon's revision
// (BENCH_REVISION, else the binary's build info, else git), the machine
// and the settings.
func printHeader(w io.Writer, bin string, s settings) {
	fmt.Fprintf(w, "\n## Intake end-to-end benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "daemon %s (%s); %s; %d × %s; load average %s\n", bin, revision(bin), runtime.Version(), runtime.NumCPU(), cpuModel(), benchkit.LoadAvg())
	fmt.Fprintf(w, "settings: %d backlog emails, %d latency emails every %v, %d MiB attachment, servers %s\n",
		s.emails, s.latency, s.interval, s.attachBytes>>20, strings.Join(s.servers, ","))
}

// revision is the daemon's revision: BENCH_REVISION, else the binary's
// build info, else git.
func revision(bin string) string {
	rev := os.Getenv("BENCH_REVISION")
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil {
		var vcs []string
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "build" && (strings.HasPrefix(f[1], "vcs.revision=") || strings.HasPrefix(f[1], "vcs.modified=")) {
				vcs = append(vcs, f[1])
			}
		}
		if len(vcs) > 0 && rev == "" {
			rev = strings.Join(vcs, " ")
		}
	}
	if rev == "" {
		// Built with -buildvcs=false: ask git (read-only). The work tree
		// may hold uncommitted changes; say so only when it does.
		if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
			rev = strings.TrimSpace(string(out))
			if exec.Command("git", "diff", "--quiet", "HEAD", "--", "../../cmd", "../../internal", "../../go.mod", "../../go.sum").Run() != nil {
				rev += " + uncommitted changes"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return rev
}

// cpuModel is the machine's CPU model from /proc/cpuinfo, "?" when unknown.
func cpuModel() string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "?"
}

func printResult(w io.Writer, r *result, s settings) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	pct := benchkit.Percentile
	n := float64(r.emails)
	p("\n### %s — %s", r.server, r.version)
	p("load average (1/5/15 min): %s at start, %s at end; %d CPUs", r.loadStart, r.loadEnd, runtime.NumCPU())
	p("")
	p("| measure | value |")
	p("|---|---|")
	p("| backlog | %d emails (2-4 KB, distinct known senders), APPENDed in %v with the daemon stopped |", r.emails, r.appendBacklog.Round(time.Millisecond))
	p("| intake, daemon start → last ticket | %v → **%.0f emails/s** |", r.wall.Round(time.Millisecond), r.emailsPerSec())
	p("| intake, first → last ticket (steady) | %v → %.0f emails/s |", r.steady.Round(time.Millisecond), r.steadyPerSec())
	p("| daemon CPU during the backlog | %v (%.0f µs/email; %.0f%% of one core) |", r.cpuBacklog.Round(10*time.Millisecond),
		float64(r.cpuBacklog.Microseconds())/n, 100*r.cpuBacklog.Seconds()/r.wall.Seconds())
	p("| IMAP server + TaskIP fake CPU during the backlog (this process) | %v (%.0f µs/email) |", r.cpuHarness.Round(10*time.Millisecond), float64(r.cpuHarness.Microseconds())/n)
	p("| machine busy during the backlog | %.0f%% of %d CPUs |", 100*r.busyBacklog, runtime.NumCPU())
	p("| **baseline**: %d × `taskip.Client.CreateTicket` from a child process (median of 3) | %v → **%.0f creates/s** (runs: %.0f-%.0f/s) |", r.emails, r.baseChild.Round(time.Millisecond), r.baseChildPerSec(),
		n/r.baseChildRuns[2].Seconds(), n/r.baseChildRuns[0].Seconds())
	p("| same loop inside the test process | %v → %.0f creates/s |", r.baseClient.Round(time.Millisecond), r.baseClientPerSec())
	p("| same as bare `net/http` POSTs inside the test process | %v → %.0f creates/s |", r.baseRaw.Round(time.Millisecond), r.baseRawPerSec())
	p("| reference: %d × (`SearchContacts` + `CreateTicket`) from a child process: one search per sender, as the daemon made before it read the contact list | %v → %.0f emails/s |", r.emails, r.baseTraffic.Round(time.Millisecond), r.baseTrafficPerSec())
	p("| **intake / baseline** | **%.3f×** (intake / in-process loop: %.3f×; intake / bare in-process: %.3f×; intake / search + create loop: %.3f×) |", r.ratio(),
		r.emailsPerSec()/r.baseClientPerSec(), r.emailsPerSec()/r.baseRawPerSec(), r.emailsPerSec()/r.baseTrafficPerSec())
	m := r.mixBacklog
	p("| TaskIP requests per email (backlog) | %.2f = %.2f reads + **%.2f writes** (%s) |", float64(m.total)/n, float64(m.reads)/n, float64(m.writes)/n, m.routes())
	if len(r.lat) > 0 {
		p("| IDLE latency APPEND done → create arrives, %d msgs every %v | p50 %s, p90 %s, **p99 %s**, max %s |", len(r.lat), s.interval,
			ms(pct(r.lat, 50)), ms(pct(r.lat, 90)), ms(pct(r.lat, 99)), ms(r.lat[len(r.lat)-1]))
		p("| APPEND round trip (latency phase) | p50 %s, p99 %s |", ms(pct(r.appendDur, 50)), ms(pct(r.appendDur, 99)))
		if len(r.probeTrickle) > 0 {
			p("| server's own IDLE push delay (no daemon): APPEND done → EXISTS | %d msgs every %v: p50 %s, p99 %s, max %s; %d msgs 1.2 s apart: p50 %s, max %s |",
				len(r.probeTrickle), s.interval, ms(pct(r.probeTrickle, 50)), ms(pct(r.probeTrickle, 99)), ms(r.probeTrickle[len(r.probeTrickle)-1]),
				len(r.probeIsolated), ms(pct(r.probeIsolated, 50)), ms(r.probeIsolated[len(r.probeIsolated)-1]))
		}
		ml := r.mixLatency
		p("| TaskIP requests per email (latency phase) | %.2f = %.2f reads + %.2f writes; daemon CPU %v |", float64(ml.total)/float64(r.latencyCount),
			float64(ml.reads)/float64(r.latencyCount), float64(ml.writes)/float64(r.latencyCount), r.cpuLatency.Round(10*time.Millisecond))
	}
	if r.bigSize > 0 {
		p("| big message (%d MiB attachment, %.1f MiB on the wire) | APPEND %v; create after %v; upload done after %v; daemon CPU %v; requests: %s |",
			s.attachBytes>>20, benchkit.MiB(r.bigSize), r.bigAppend.Round(time.Millisecond), r.bigCreate.Round(time.Millisecond),
			r.bigUpload.Round(time.Millisecond), r.cpuBig.Round(10*time.Millisecond), r.mixBig.routes())
	}
	p("| peak RSS (VmHWM) after the backlog | %.1f MiB |", benchkit.MiB(r.hwmBacklog))
	p("| **peak RSS (VmHWM) at the end**, incl. the big message | **%.1f MiB** (RSS at end %.1f MiB) |", benchkit.MiB(r.hwm), benchkit.MiB(r.rssEnd))
	if len(r.metrics) > 0 {
		p("| Go runtime at the end (/metrics) | sys %.1f MiB, heap sys %.1f / in use %.1f / released %.1f MiB, stacks %.1f MiB, %0.f GCs, %0.f goroutines |",
			r.metrics["go_memstats_sys_bytes"]/(1<<20), r.metrics["go_memstats_heap_sys_bytes"]/(1<<20), r.metrics["go_memstats_heap_inuse_bytes"]/(1<<20),
			r.metrics["go_memstats_heap_released_bytes"]/(1<<20), r.metrics["go_memstats_stack_sys_bytes"]/(1<<20),
			r.metrics["go_gc_duration_seconds_count"], r.metrics["go_goroutines"])
	}
	p("| SIGTERM → exit | %v, exit code %d |", r.shutdown.Round(time.Millisecond), r.exitCode)
}

func printSummary(w io.Writer, results []*result, s settings) {
	if len(results) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("\n### Targets")
	p("")
	p("| server | emails/s (ratio, target ≥ 0.5×) | IDLE p99 (≤ 250 ms) | peak RSS (≤ 60 MiB) | writes/email (= 1) |")
	p("|---|---|---|---|---|")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**MISSED**"
	}
	for _, r := range results {
		p99 := benchkit.Percentile(r.lat, 99)
		wpe := float64(r.mixBacklog.writes) / float64(r.emails)
		p("| %s | %.0f vs %.0f (%.3f×) %s | %s %s | %.1f MiB %s | %.3f %s |", r.server,
			r.emailsPerSec(), r.baseChildPerSec(), r.ratio(), mark(r.ratio() >= 0.5),
			ms(p99), mark(len(r.lat) == 0 || p99 <= 250*time.Millisecond),
			benchkit.MiB(r.hwm), mark(r.hwm <= 60<<20), wpe, mark(r.mixBacklog.writes == r.emails))
	}
}
