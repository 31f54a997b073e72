package idle_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	secretKey   = "bench-secret-key"
	supportAddr = "support@example.com"
	channel     = "C0TICKETS"
)

// config switches every flow on (mail intake with IDLE, the outbox with
// acknowledgements and agents' replies, the ticket watch, Slack commands
// over HTTP, the digest) and leaves every poll at its default schedule:
// taskip.poll_schedule "@every 30s", mail.imap.poll_schedule "@every 1m".
const config = `# written by bench/idle
taskip:
  base_url: %q
  secret_key: %q
state:
  path: %q
http:
  listen: %q
log:
  level: info
  format: json
mail:
  address: %s
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
  smtp:
    addr: %q
    tls: none
slack:
  bot_token: %q
  signing_secret: bench-signing-secret
  api_url: %q
  channel: %s
  digest_schedule: "0 9 * * 1-5"
`

// TestIdleFootprint reports the binary size, the start-up time to /readyz
// 200 (first start on a new state file, then the median of restarts), and
// over BENCH_IDLE_WINDOW (default 60 s) of a ready daemon with nothing to
// do: resident memory from /proc/PID/status and CPU from /proc/PID/stat.
func TestIdleFootprint(t *testing.T) {
	requireBench(t)
	starts := envInt(t, "BENCH_STARTS", 7)
	window := envDuration(t, "BENCH_IDLE_WINDOW", 60*time.Second)
	settle := envDuration(t, "BENCH_SETTLE", 10*time.Second)
	tickets := envInt(t, "BENCH_TICKETS", 100)
	strict := os.Getenv("BENCH_STRICT") == "1"

	bin := buildStatic(t)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}

	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(tk, tickets)
	tsrv := httptest.NewServer(tk.Handler())
	t.Cleanup(tsrv.Close)
	sf := slackfake.New(t)
	sf.SetChannels(channel)
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})

	dir := t.TempDir()
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "ticketsync.yaml")
	cfg := fmt.Sprintf(config, tsrv.URL+taskipfake.BasePath, secretKey, filepath.Join(dir, "state.db"), listen,
		supportAddr, imap.Addr(), imap.Username(), imap.Password(), smtp.Addr(),
		slackfake.DefaultToken, sf.URL(), channel)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	readyURL := "http://" + listen + "/readyz"

	// Start-up. The first start creates the state file and records the
	// watch baseline; the others are restarts on that file, which is what
	// a container restart or a rollout costs.
	load0 := loadAvg()
	var first time.Duration
	var restarts []time.Duration
	var d *daemon
	for i := range starts {
		d = startDaemon(t, bin, cfgPath)
		took := d.awaitReady(t, readyURL, 30*time.Second)
		if i == 0 {
			first = took
			d.await(t, "watch baseline recorded", 30*time.Second)
		} else {
			restarts = append(restarts, took)
		}
		if i < starts-1 {
			if code := d.stop(t); code != 0 {
				t.Fatalf("start %d: exit %d after SIGTERM; log:\n%s", i, code, d.problems())
			}
		}
	}
	slices.Sort(restarts)

	// Idle: the last daemon keeps running. The settle time lets start-up
	// garbage be collected so the window sees the steady state.
	time.Sleep(settle)
	taskip0, slack0, smtp0 := tk.RequestCount(), len(sf.Calls()), len(smtp.Messages())
	cpu0, t0 := d.cpu(t), time.Now()
	var rss []int64
	threads := int64(0)
	tick := time.NewTicker(time.Second)
	for time.Since(t0) < window {
		<-tick.C
		s := d.status(t)
		rss = append(rss, s["VmRSS"])
		threads = max(threads, s["Threads"])
	}
	tick.Stop()
	cpu, elapsed := d.cpu(t)-cpu0, time.Since(t0)
	hwm := d.status(t)["VmHWM"]
	taskipN, slackN, smtpN := tk.RequestCount()-taskip0, len(sf.Calls())-slack0, len(smtp.Messages())-smtp0
	load1 := loadAvg()
	gauges := scrape(t, "http://"+listen+"/metrics",
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes")
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, d.problems())
	}
	if notes := d.problems(); notes != "" {
		t.Logf("warnings from the daemon:\n%s", notes)
	}

	sortedRSS := slices.Clone(rss)
	slices.Sort(sortedRSS)
	medRSS, maxRSS := sortedRSS[len(sortedRSS)/2], sortedRSS[len(sortedRSS)-1]
	cpuPct := 100 * cpu.Seconds() / elapsed.Seconds()
	rssOK := float64(maxRSS) <= 30*1024
	cpuOK := cpuPct <= 1

	fmt.Printf("\n#### Idle footprint: every flow on, default schedules, %d tickets in TaskIP\n\n", tickets)
	fmt.Println("| measure | value | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| binary size (`scripts/build-static.sh`: static, stripped) | %.1f MiB (%d bytes) | |\n", mib(st.Size()), st.Size())
	fmt.Printf("| start-up, exec → `/readyz` 200, first start (new state file) | %s | |\n", msf(first))
	if len(restarts) > 0 {
		fmt.Printf("| start-up, exec → `/readyz` 200, restart: median of %d (min – max) | **%s** (%s – %s) | |\n",
			len(restarts), msf(restarts[len(restarts)/2]), msf(restarts[0]), msf(restarts[len(restarts)-1]))
	}
	fmt.Printf("| idle RSS (VmRSS), median / max over %s | %.1f / **%.1f MiB** | ≤ 30 MiB: %s |\n",
		window.Round(time.Second), kib(medRSS), kib(maxRSS), verdict(rssOK))
	// First and last sample side by side show growth that a median hides.
	fmt.Printf("| idle RSS (VmRSS), first → last sample of the window | %.1f → %.1f MiB | |\n", kib(rss[0]), kib(rss[len(rss)-1]))
	fmt.Printf("| peak RSS since exec (VmHWM) | %.1f MiB | |\n", kib(hwm))
	// One 10 ms tick is the resolution; say so, or a quiet minute reads as
	// a daemon that costs nothing.
	fmt.Printf("| idle CPU over %s (utime+stime) | %d ms = **%.3f %% of one core** (resolution %.3f %%) | ≤ 1 %%: %s |\n",
		elapsed.Round(time.Second), cpu.Milliseconds(), cpuPct, 100*0.01/elapsed.Seconds(), verdict(cpuOK))
	fmt.Printf("| OS threads (max) | %d | |\n", threads)
	fmt.Printf("| Go heap in use / memory from the OS (`/metrics`) | %.1f / %.1f MiB | |\n",
		mib(int64(gauges["go_memstats_heap_inuse_bytes"])), mib(int64(gauges["go_memstats_sys_bytes"])))
	fmt.Printf("| goroutines | %.0f | |\n", gauges["go_goroutines"])
	fmt.Printf("| traffic in the window: TaskIP requests / Slack calls / mails sent | %d / %d / %d | |\n", taskipN, slackN, smtpN)
	fmt.Printf("| load average start / end | %s / %s | |\n", load0, load1)

	if slackN != 0 || smtpN != 0 {
		t.Errorf("an idle daemon talked: %d Slack calls, %d mails", slackN, smtpN)
	}
	if strict && (!rssOK || !cpuOK) {
		t.Errorf("target missed: RSS max %.1f MiB, CPU %.3f %%", kib(maxRSS), cpuPct)
	}
}

func seedTickets(s *taskipfake.Server, n int) {
	base := time.Now().Add(-30 * 24 * time.Hour)
	for i := 1; i <= n; i++ {
		s.SeedTicket(taskipfake.Ticket{
			ID:        i,
			UUID:      fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Subject:   fmt.Sprintf("Cannot export invoice batch %d to PDF", i),
			User:      &taskipfake.Person{ID: 1000 + i, Name: fmt.Sprintf("Customer %d", i), Email: fmt.Sprintf("customer%d@acme.example", i)},
			Priority:  i % 5,
			Status:    i % 5,
			CreatedAt: base.Add(time.Duration(i) * time.Hour),
			UpdatedAt: base.Add(time.Duration(i) * time.Hour),
		})
	}
}

// freeAddr is a loopback address that was free a moment ago. A fixed port,
// rather than ":0" and the log line naming it, lets the start-up clock poll
// /readyz from the first millisecond.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads the named unlabelled series from a Prometheus text page.
func scrape(t *testing.T, url string, names ...string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			out[name] = v
		}
	}
	return out
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func kib(kb int64) float64       { return float64(kb) / 1024 }
func msf(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
