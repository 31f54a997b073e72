package idle_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
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
	benchkit.RequireBench(t)
	starts := benchkit.EnvInt(t, "BENCH_STARTS", 7)
	window := benchkit.EnvPositiveDuration(t, "BENCH_IDLE_WINDOW", 60*time.Second)
	settle := benchkit.EnvPositiveDuration(t, "BENCH_SETTLE", 10*time.Second)
	tickets := benchkit.EnvInt(t, "BENCH_TICKETS", 100)
	strict := os.Getenv("BENCH_STRICT") == "1"

	bin := benchkit.BuildStatic(t)
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
	listen := benchkit.FreeAddr(t)
	cfgPath := benchkit.WriteConfig(t, dir, fmt.Sprintf(config, tsrv.URL+taskipfake.BasePath, secretKey, filepath.Join(dir, "state.db"), listen,
		supportAddr, imap.Addr(), imap.Username(), imap.Password(), smtp.Addr(),
		slackfake.DefaultToken, sf.URL(), channel))
	readyURL := "http://" + listen + "/readyz"

	// Start-up. The first start creates the state file and records the
	// watch baseline; the others are restarts on that file, which is what
	// a container restart or a rollout costs.
	load0 := benchkit.LoadAvg()
	var first time.Duration
	var restarts []time.Duration
	var d *benchkit.Daemon
	for i := range starts {
		// The daemon needs nothing from the environment here; an empty one
		// also proves the distroless image's situation.
		d = benchkit.StartDaemon(t, bin, cfgPath, []string{})
		took := d.AwaitReady(t, readyURL, 30*time.Second)
		if i == 0 {
			first = took
			d.Await(t, "watch baseline recorded", 30*time.Second)
		} else {
			restarts = append(restarts, took)
		}
		if i < starts-1 {
			if _, code := d.Stop(t); code != 0 {
				t.Fatalf("start %d: exit %d after SIGTERM; log:\n%s", i, code, d.Problems())
			}
		}
	}
	slices.Sort(restarts)

	// Idle: the last daemon keeps running. The settle time lets start-up
	// garbage be collected so the window sees the steady state.
	time.Sleep(settle)
	// A daemon that is gone has no /proc/PID/status: that fails the run
	// rather than reading as zero.
	status := func() map[string]int64 {
		t.Helper()
		s := d.Status()
		if s == nil {
			t.Fatalf("daemon gone: no /proc/%d/status; log:\n%s", d.Pid(), d.Problems())
		}
		return s
	}
	taskip0, slack0, smtp0 := tk.RequestCount(), len(sf.Calls()), len(smtp.Messages())
	cpu0, t0 := d.CPU(), time.Now()
	var rss []int64
	threads := int64(0)
	tick := time.NewTicker(time.Second)
	for time.Since(t0) < window {
		<-tick.C
		s := status()
		rss = append(rss, s["VmRSS"])
		threads = max(threads, s["Threads"])
	}
	tick.Stop()
	cpu, elapsed := d.CPU()-cpu0, time.Since(t0)
	hwm := status()["VmHWM"]
	taskipN, slackN, smtpN := tk.RequestCount()-taskip0, len(sf.Calls())-slack0, len(smtp.Messages())-smtp0
	load1 := benchkit.LoadAvg()
	gauges, err := benchkit.Scrape("http://"+listen+"/metrics",
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if _, code := d.Stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, d.Problems())
	}
	if notes := d.Problems(); notes != "" {
		t.Logf("warnings from the daemon:\n%s", notes)
	}

	sortedRSS := slices.Clone(rss)
	slices.Sort(sortedRSS)
	medRSS, maxRSS := sortedRSS[len(sortedRSS)/2], sortedRSS[len(sortedRSS)-1]
	cpuPct := 100 * cpu.Seconds() / elapsed.Seconds()
	rssOK := float64(maxRSS) <= 30*1024
	cpuOK := cpuPct <= 1

	ms, mib := benchkit.Millis, benchkit.MiB
	fmt.Printf("\n#### Idle footprint: every flow on, default schedules, %d tickets in TaskIP\n\n", tickets)
	fmt.Println("| measure | value | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| binary size (`scripts/build-static.sh`: static, stripped) | %.1f MiB (%d bytes) | |\n", mib(st.Size()), st.Size())
	fmt.Printf("| start-up, exec → `/readyz` 200, first start (new state file) | %s | |\n", ms(first))
	if len(restarts) > 0 {
		fmt.Printf("| start-up, exec → `/readyz` 200, restart: median of %d (min – max) | **%s** (%s – %s) | |\n",
			len(restarts), ms(restarts[len(restarts)/2]), ms(restarts[0]), ms(restarts[len(restarts)-1]))
	}
	fmt.Printf("| idle RSS (VmRSS), median / max over %s | %.1f / **%.1f MiB** | ≤ 30 MiB: %s |\n",
		window.Round(time.Second), kib(medRSS), kib(maxRSS), benchkit.Verdict(rssOK))
	// First and last sample side by side show growth that a median hides.
	fmt.Printf("| idle RSS (VmRSS), first → last sample of the window | %.1f → %.1f MiB | |\n", kib(rss[0]), kib(rss[len(rss)-1]))
	fmt.Printf("| peak RSS since exec (VmHWM) | %.1f MiB | |\n", kib(hwm))
	// One 10 ms tick is the resolution; say so, or a quiet minute reads as
	// a daemon that costs nothing.
	fmt.Printf("| idle CPU over %s (utime+stime) | %d ms = **%.3f %% of one core** (resolution %.3f %%) | ≤ 1 %%: %s |\n",
		elapsed.Round(time.Second), cpu.Milliseconds(), cpuPct, 100*0.01/elapsed.Seconds(), benchkit.Verdict(cpuOK))
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

// kib is a size in kB (from /proc/PID/status) as MiB.
func kib(kb int64) float64 { return float64(kb) / 1024 }
