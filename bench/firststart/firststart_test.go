package firststart

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// TestFirstStart measures the intake's first start on a large mailbox
// (bench/README.md):
//
//	TICKETSYNC_BENCH=1 go test -run TestFirstStart -v -count=1 -timeout 30m ./bench/firststart/
//
// Without TICKETSYNC_BENCH=1 it skips, so `go test ./...` only compiles it.
func TestFirstStart(t *testing.T) {
	benchkit.RequireBench(t)
	s := loadSettings(t)
	bin := buildDaemon(t, s.profileDir != "")
	printHeader(os.Stdout, bin, s)
	// The mailbox of only the unread mail comes first: it is the baseline
	// the large ones are compared with.
	var results []*result
	for _, kind := range append([]string{"only"}, s.placements...) {
		t.Run(kind, func(t *testing.T) {
			results = append(results, runScenario(t, bin, s, kind))
		})
	}
	printResults(os.Stdout, results, s)
	if s.strict {
		for _, r := range results {
			if r.kind == "only" {
				continue // the baseline of the ratio; the targets are the large mailbox's
			}
			for _, m := range r.misses(s) {
				t.Errorf("%s: target missed: %s", r.kind, m)
			}
		}
	}
}

const seen = string(imap.FlagSeen)

// Targets of the issue, for the large mailboxes.
const (
	targetBaseline = 5 * time.Second
	targetRSS      = 40 << 20
)

type settings struct {
	messages   int           // BENCH_MESSAGES: size of the large mailbox
	unread     int           // BENCH_UNREAD: unread and recent messages in it
	placements []string      // BENCH_PLACEMENT: where the unread ones are (top, random)
	topWindow  int           // "top" places them among this many newest messages
	poll       time.Duration // BENCH_POLL: the daemon's IMAP poll
	settle     int           // polls waited after the last ticket before counting again
	logLevel   string        // BENCH_LOG_LEVEL: info, or debug for a finer timeline
	profileDir string        // BENCH_PROFILE_DIR: CPU and heap profiles of the daemon
	strict     bool          // BENCH_STRICT=1: a missed target fails the test
}

func loadSettings(t testing.TB) settings {
	s := settings{
		messages:   benchkit.EnvInt(t, "BENCH_MESSAGES", 50000),
		unread:     benchkit.EnvInt(t, "BENCH_UNREAD", 50),
		placements: benchkit.EnvList("BENCH_PLACEMENT", "top,random"),
		topWindow:  500,
		poll:       benchkit.EnvPositiveDuration(t, "BENCH_POLL", 2*time.Second),
		settle:     3,
		logLevel:   os.Getenv("BENCH_LOG_LEVEL"),
		profileDir: os.Getenv("BENCH_PROFILE_DIR"),
		strict:     os.Getenv("BENCH_STRICT") == "1",
	}
	if s.logLevel == "" {
		s.logLevel = "info"
	}
	if s.logLevel != "info" && s.logLevel != "debug" {
		t.Fatalf("BENCH_LOG_LEVEL=%q: want info or debug (the baseline's line is at info)", s.logLevel)
	}
	if s.unread > s.messages || s.unread > s.topWindow {
		t.Fatalf("BENCH_UNREAD=%d: at most BENCH_MESSAGES (%d) and %d", s.unread, s.messages, s.topWindow)
	}
	for _, p := range s.placements {
		if p != "top" && p != "random" {
			t.Fatalf("BENCH_PLACEMENT: %q is neither top nor random", p)
		}
	}
	if s.profileDir != "" {
		abs, err := filepath.Abs(s.profileDir)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.profileDir = abs
	}
	return s
}

// result is what one mailbox measured; times are from the daemon's exec.
type result struct {
	kind          string
	total, unread int
	mailboxBytes  int64
	fill          time.Duration // Preload of the whole mailbox, daemon not running

	// The server's own share of the survey, asked by the harness before
	// the daemon starts: EXAMINE, the daemon's SEARCH, and the FETCH of
	// the matches' INTERNALDATE.
	probeSelect, probeSearch, probeFetch time.Duration

	running, connected      time.Duration // log lines "ticketsync running" and "imap connected"
	baseline                time.Duration // the baseline's log line
	firstCreate, lastTicket time.Duration // create arrived at the fake; Nth answered 201
	allSeen                 time.Duration // harness saw every imported message \Seen

	cpuBaseline, cpuEnd   time.Duration // daemon CPU at the baseline and at the end
	cpuSettle             time.Duration // daemon CPU over the settle polls
	harnessCPU            time.Duration // this process (IMAP server, fake) from start to the baseline
	hwmBaseline, hwm, rss int64
	metrics               map[string]float64

	tickets, ticketsLate int // tickets after the last one, and after settle polls
	wrongSubjects        []string
	historyChanged       []string // UIDs of read mail whose flags changed
	importedUnmarked     int
	missing              int // messages gone from the mailbox
	requests             string
	failed               int
	shutdown             time.Duration
	exitCode             int
	loadStart, loadEnd   string
}

func (r *result) misses(s settings) []string {
	var m []string
	if r.baseline >= targetBaseline {
		m = append(m, fmt.Sprintf("baseline after %v (target under %v)", r.baseline.Round(time.Millisecond), targetBaseline))
	}
	if r.hwm >= targetRSS {
		m = append(m, fmt.Sprintf("peak RSS %.1f MiB (target under %d MiB)", benchkit.MiB(r.hwm), targetRSS>>20))
	}
	if r.tickets != s.unread || r.ticketsLate != s.unread {
		m = append(m, fmt.Sprintf("%d tickets, %d after %d polls (target exactly %d)", r.tickets, r.ticketsLate, s.settle, s.unread))
	}
	return m
}

func runScenario(t *testing.T, bin string, s settings, kind string) *result {
	total := s.messages
	if kind == "only" {
		total = s.unread
	}
	r := &result{kind: kind, total: total, unread: s.unread, loadStart: benchkit.LoadAvg()}
	run := strings.ToLower(rand.Text()[:6])

	// The mailbox, filled before the daemon starts.
	srv := mailtest.StartMemServer(t, mailtest.MemOptions{})
	now := time.Now()
	unreadAt := layout(kind, total, s.unread, s.topWindow)
	wantSubjects := map[string]bool{}
	unreadUIDs := map[uint32]bool{}
	var senders []int
	k := 0
	start := time.Now()
	for i := range total {
		if unreadAt[i] {
			subject, raw := message(run, i, unreadDate(now, k, s.unread))
			uid := srv.Preload(t, "INBOX", raw, unreadDate(now, k, s.unread))
			wantSubjects[subject], unreadUIDs[uid] = true, true
			senders = append(senders, i)
			r.mailboxBytes += int64(len(raw))
			k++
			continue
		}
		_, raw := message(run, i, readDate(now, i, total))
		srv.Preload(t, "INBOX", raw, readDate(now, i, total), seen)
		r.mailboxBytes += int64(len(raw))
	}
	r.fill = time.Since(start)
	if n := srv.Unseen(t, "INBOX"); n != s.unread {
		t.Fatalf("%d unread messages after the fill, want %d", n, s.unread)
	}
	r.probeSelect, r.probeSearch, r.probeFetch = probeSurvey(t, srv, now, s.unread)

	a := startAPI(t, senders)
	dir := t.TempDir()
	listen := benchkit.FreeAddr(t)
	cfg := writeConfig(t, dir, daemonConfig{
		APIBase: a.base, StatePath: filepath.Join(dir, "state.db"), Listen: listen,
		IMAPAddr: srv.Addr(), User: srv.Username(), Pass: srv.Password(), LogLevel: s.logLevel, Poll: s.poll,
	})
	env := os.Environ()
	if s.profileDir != "" {
		env = append(env, "TICKETSYNC_BENCH_CPUPROFILE="+filepath.Join(s.profileDir, kind))
	}
	// The fill left garbage in this process; collected now, its GC does
	// not compete with the daemon for the CPUs during the measurement.
	runtime.GC()

	self0 := benchkit.SelfCPU()
	t0 := time.Now()
	d := benchkit.StartDaemon(t, bin, cfg, env)

	base := awaitEntry(t, d, "INBOX: ", 3*time.Minute)
	r.harnessCPU = benchkit.SelfCPU() - self0
	r.hwmBaseline, _ = d.Memory()
	r.cpuBaseline = d.CPU()
	r.baseline = base.at.Sub(t0)
	if s.profileDir != "" {
		d.Signal(syscall.SIGUSR1) // profrun only: cuts the profile at the baseline
	}
	if want := fmt.Sprintf("INBOX: %s; %s unread in the last 7 days imported; the rest left as history",
		messages(total), count(s.unread)); base.msg != want {
		t.Errorf("baseline logged %q, want %q", base.msg, want)
	}

	deadline := time.Now().Add(3 * time.Minute)
	for {
		if n, _, _ := a.progress(); n >= s.unread {
			break
		}
		if !d.Alive() || time.Now().After(deadline) {
			n, _, _ := a.progress()
			t.Fatalf("%d of %d tickets; log:\n%s", n, s.unread, d.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	n, first, last := a.progress()
	r.tickets, r.firstCreate, r.lastTicket = n, first.Sub(t0), last.Sub(t0)
	for srv.Unseen(t, "INBOX") > 0 {
		if !d.Alive() || time.Now().After(deadline) {
			t.Fatalf("%d imported messages not marked \\Seen; log:\n%s", srv.Unseen(t, "INBOX"), d.Log())
		}
		// Counting walks the whole mailbox under its lock: not so often
		// that it slows the server the daemon is marking through.
		time.Sleep(20 * time.Millisecond)
	}
	r.allSeen = time.Since(t0)

	// A few polls more: a survey that misplaced the cursor would import
	// history now.
	cpu0 := d.CPU()
	time.Sleep(time.Duration(s.settle) * s.poll)
	r.cpuSettle = d.CPU() - cpu0
	r.ticketsLate, _, _ = a.progress()

	r.cpuEnd = d.CPU()
	r.hwm, r.rss = d.Memory()
	r.metrics, _ = benchkit.Scrape("http://"+listen+"/metrics", "go_memstats_sys_bytes", "go_memstats_heap_inuse_bytes",
		"go_memstats_heap_sys_bytes", "go_memstats_stack_sys_bytes", "go_gc_duration_seconds_count", "go_goroutines")
	es := entries(d)
	if e, ok := find(es, "ticketsync running"); ok {
		r.running = e.at.Sub(t0)
	}
	if e, ok := find(es, "imap connected"); ok {
		r.connected = e.at.Sub(t0)
	}
	r.shutdown, r.exitCode = d.Stop(t)
	r.loadEnd = benchkit.LoadAvg()
	t.Logf("daemon log, ms from exec:\n%s", timeline(entries(d), t0))

	// History untouched: every read message still carries exactly \Seen,
	// and the imported ones are marked.
	flags := srv.Flags(t, "INBOX")
	r.missing = total - len(flags)
	for uid, f := range flags {
		switch {
		case unreadUIDs[uid]:
			if !slices.Contains(f, seen) {
				r.importedUnmarked++
			}
		case len(f) != 1 || f[0] != seen:
			r.historyChanged = append(r.historyChanged, fmt.Sprintf("%d %v", uid, f))
		}
	}
	got := map[string]bool{}
	for _, tk := range a.fake.Tickets() {
		if !wantSubjects[tk.Subject] || got[tk.Subject] {
			r.wrongSubjects = append(r.wrongSubjects, tk.Subject)
		}
		got[tk.Subject] = true
	}
	r.requests, r.failed = routes(a.fake.Requests())

	if got := len(a.fake.Tickets()); got != s.unread || r.ticketsLate != s.unread {
		t.Errorf("%d tickets in TaskIP (%d creates answered after %d polls), want exactly %d", got, r.ticketsLate, s.settle, s.unread)
	}
	if len(r.wrongSubjects) > 0 {
		t.Errorf("tickets for mail that is history, or made twice: %q", r.wrongSubjects)
	}
	if r.missing != 0 || len(r.historyChanged) > 0 || r.importedUnmarked > 0 {
		t.Errorf("mailbox changed: %d messages gone, %d read messages with other flags (%s), %d imported not \\Seen",
			r.missing, len(r.historyChanged), strings.Join(first10(r.historyChanged), "; "), r.importedUnmarked)
	}
	if r.failed > 0 {
		t.Errorf("%d TaskIP requests answered outside 2xx: %s", r.failed, r.requests)
	}
	if r.exitCode != 0 {
		t.Errorf("daemon exited %d after SIGTERM", r.exitCode)
	}
	if p := d.Problems(); p != "" {
		t.Logf("daemon warnings:\n%s", p)
	}
	return r
}

// probeSurvey asks the server what the daemon's survey asks, from a
// session of the harness's own: the time the server alone needs, which a
// real server with an index (Dovecot) spends differently from the memory
// server, which reads every message's header for a SEARCH.
func probeSurvey(t testing.TB, srv *mailtest.MemServer, now time.Time, unread int) (sel, search, fetch time.Duration) {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Username(), srv.Password()).Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	sel = time.Since(start)
	// As mail.Inbox.Survey asks: a day early, since SINCE ignores the time.
	criteria := &imap.SearchCriteria{Since: now.Add(-7*24*time.Hour).AddDate(0, 0, -1), NotFlag: []imap.Flag{imap.FlagSeen}}
	start = time.Now()
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	search = time.Since(start)
	uids := data.AllUIDs()
	if len(uids) != unread {
		t.Fatalf("probe: SEARCH found %d, want %d", len(uids), unread)
	}
	start = time.Now()
	if _, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, InternalDate: true}).Collect(); err != nil {
		t.Fatal(err)
	}
	fetch = time.Since(start)
	_ = c.Logout().Wait()
	return sel, search, fetch
}

func find(es []entry, msg string) (entry, bool) {
	for _, e := range es {
		if e.msg == msg {
			return e, true
		}
	}
	return entry{}, false
}

func first10(s []string) []string { return s[:min(len(s), 10)] }

func printResults(w io.Writer, results []*result, s settings) {
	if len(results) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	row := func(label string, f func(r *result) string) {
		cells := make([]string, len(results))
		for i, r := range results {
			cells[i] = f(r)
		}
		p("| %s | %s |", label, strings.Join(cells, " | "))
	}
	var only *result
	for _, r := range results {
		if r.kind == "only" {
			only = r
		}
	}
	var head, rule []string
	for _, r := range results {
		head = append(head, describe(r, s))
		rule = append(rule, "---")
	}
	p("")
	p("| measure | %s |", strings.Join(head, " | "))
	p("|---|%s|", strings.Join(rule, "|"))
	row("mailbox", func(r *result) string {
		return fmt.Sprintf("%s messages, %.1f MiB (generated and stored in %v)", count(r.total), benchkit.MiB(r.mailboxBytes), r.fill.Round(time.Millisecond))
	})
	row("server alone, no daemon: EXAMINE / `UID SEARCH UNSEEN SINCE` / `UID FETCH` of the matches' INTERNALDATE", func(r *result) string {
		return fmt.Sprintf("%s / %s / %s", ms(r.probeSelect), ms(r.probeSearch), ms(r.probeFetch))
	})
	row("exec → `ticketsync running` (process start, config, state file opened)", func(r *result) string { return ms(r.running) })
	row("→ `imap connected` (login, SELECT)", func(r *result) string { return ms(r.connected - r.running) })
	row("→ baseline logged (the survey: SEARCH, FETCH, cursor committed)", func(r *result) string { return ms(r.baseline - r.connected) })
	row("**exec → baseline recorded** (target < 5 s)", func(r *result) string { return "**" + ms(r.baseline) + "**" })
	row("exec → first create at TaskIP", func(r *result) string { return ms(r.firstCreate) })
	row(fmt.Sprintf("**exec → %dth ticket**", s.unread), func(r *result) string { return "**" + ms(r.lastTicket) + "**" })
	row("exec → all imported mail `\\Seen`", func(r *result) string { return ms(r.allSeen) })
	row(fmt.Sprintf("time to %d tickets / the same with only the unread mail", s.unread), func(r *result) string {
		if only == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", r.lastTicket.Seconds()/only.lastTicket.Seconds())
	})
	row("daemon CPU: exec → baseline / whole run", func(r *result) string {
		return fmt.Sprintf("%v / %v", r.cpuBaseline.Round(10*time.Millisecond), r.cpuEnd.Round(10*time.Millisecond))
	})
	row(fmt.Sprintf("daemon CPU over %d polls after the last ticket", s.settle), func(r *result) string {
		return r.cpuSettle.Round(10 * time.Millisecond).String()
	})
	row("test process CPU (IMAP server, fake): exec → baseline", func(r *result) string {
		return r.harnessCPU.Round(10 * time.Millisecond).String()
	})
	row("peak RSS (VmHWM) at the baseline", func(r *result) string { return fmt.Sprintf("%.1f MiB", benchkit.MiB(r.hwmBaseline)) })
	row("**peak RSS (VmHWM), whole run** (target < 40 MiB)", func(r *result) string {
		return fmt.Sprintf("**%.1f MiB** (RSS at end %.1f)", benchkit.MiB(r.hwm), benchkit.MiB(r.rss))
	})
	row("Go runtime at the end: sys / heap sys / heap in use / stacks (MiB), GCs", func(r *result) string {
		m := r.metrics
		return fmt.Sprintf("%.1f / %.1f / %.1f / %.1f, %.0f", m["go_memstats_sys_bytes"]/(1<<20), m["go_memstats_heap_sys_bytes"]/(1<<20),
			m["go_memstats_heap_inuse_bytes"]/(1<<20), m["go_memstats_stack_sys_bytes"]/(1<<20), m["go_gc_duration_seconds_count"])
	})
	row(fmt.Sprintf("tickets (target exactly %d), after %d more polls", s.unread, s.settle), func(r *result) string {
		return fmt.Sprintf("%d, %d", r.tickets, r.ticketsLate)
	})
	row("history untouched: read mail still exactly `\\Seen`, none gone; imported mail `\\Seen`", func(r *result) string {
		if r.missing == 0 && len(r.historyChanged) == 0 && r.importedUnmarked == 0 {
			return fmt.Sprintf("yes (%s + %d)", count(r.total-r.unread), r.unread)
		}
		return fmt.Sprintf("**no**: %d gone, %d changed, %d unmarked", r.missing, len(r.historyChanged), r.importedUnmarked)
	})
	row("TaskIP requests", func(r *result) string { return r.requests })
	row("SIGTERM → exit", func(r *result) string {
		return fmt.Sprintf("%v, code %d", r.shutdown.Round(time.Millisecond), r.exitCode)
	})
	row("load average start / end", func(r *result) string { return r.loadStart + " / " + r.loadEnd })

	p("")
	p("| mailbox | baseline < 5 s | peak RSS < 40 MiB | exactly %d tickets |", s.unread)
	p("|---|---|---|---|")
	for _, r := range results {
		p("| %s | %s %s | %.1f MiB %s | %d %s |", describe(r, s), ms(r.baseline), benchkit.Verdict(r.baseline < targetBaseline),
			benchkit.MiB(r.hwm), benchkit.Verdict(r.hwm < targetRSS),
			r.ticketsLate, benchkit.Verdict(r.tickets == s.unread && r.ticketsLate == s.unread))
	}
}

func describe(r *result, s settings) string {
	switch r.kind {
	case "only":
		return fmt.Sprintf("%d unread only", r.unread)
	case "top":
		return fmt.Sprintf("%s, unread among the newest %d", count(r.total), s.topWindow)
	}
	return fmt.Sprintf("%s, unread at random UIDs", count(r.total))
}

func messages(n int) string {
	if n == 1 {
		return "1 message"
	}
	return count(n) + " messages"
}

// count writes n with thousands separators, as the daemon's log line does.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
