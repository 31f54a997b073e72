package idle_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
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
	burst := benchkit.EnvInt(t, "BENCH_BURST", 300)
	burstTail := benchkit.EnvDuration(t, "BENCH_BURST_TAIL", 10*time.Second)
	strict := os.Getenv("BENCH_STRICT") == "1"
	// The daemon needs nothing from the environment here; an empty one
	// also proves the distroless image's situation. BENCH_ENV adds to it
	// (GOGC=100, GODEBUG=...) to measure a runtime setting.
	env := append([]string{}, strings.Fields(os.Getenv("BENCH_ENV"))...)

	bin := benchkit.BuildStatic(t)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}

	r := newRig(t, tickets, burst)
	tk, sf, smtp := r.tk, r.sf, r.smtp

	// Start-up. The first start creates the state file and records the
	// watch baseline; the others are restarts on that file, which is what
	// a container restart or a rollout costs.
	load0 := benchkit.LoadAvg()
	var first time.Duration
	var restarts []time.Duration
	var d *benchkit.Daemon
	for i := range starts {
		d = benchkit.StartDaemon(t, bin, r.config, env)
		took := d.AwaitReady(t, r.readyURL(), 30*time.Second)
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
	var rss, anon, file []int64
	threads := int64(0)
	tick := time.NewTicker(time.Second)
	for time.Since(t0) < window {
		<-tick.C
		s := status()
		rss = append(rss, s["VmRSS"])
		anon, file = append(anon, s["RssAnon"]), append(file, s["RssFile"])
		threads = max(threads, s["Threads"])
	}
	tick.Stop()
	cpu, elapsed := d.CPU()-cpu0, time.Since(t0)
	hwm := status()["VmHWM"]
	taskipN, slackN, smtpN := tk.RequestCount()-taskip0, len(sf.Calls())-slack0, len(smtp.Messages())-smtp0
	load1 := benchkit.LoadAvg()
	gauges, err := benchkit.Scrape(r.metricsURL(),
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes")
	if err != nil {
		t.Fatal(err)
	}
	// The burst comes after the window and the scrape, so neither sees it.
	b := runBurst(t, r, d, burst, burstTail)
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
	rssOK := float64(maxRSS) <= 15*1024
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
	fmt.Printf("| idle RSS (VmRSS), median / max over %s | %.1f / **%.1f MiB** | ≤ 15 MiB: %s |\n",
		window.Round(time.Second), kib(medRSS), kib(maxRSS), benchkit.Verdict(rssOK))
	// First and last sample side by side show growth that a median hides.
	fmt.Printf("| idle RSS (VmRSS), first → last sample of the window | %.1f → %.1f MiB | |\n", kib(rss[0]), kib(rss[len(rss)-1]))
	// File-backed is the executable's pages the daemon has touched (and
	// the state file's map); the kernel maps them 64 KiB at a time.
	fmt.Printf("| idle RSS, median: anonymous / file-backed (RssAnon / RssFile) | %.1f / %.1f MiB | |\n", kib(median(anon)), kib(median(file)))
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
	// VmHWM is the kernel's own peak but is updated lazily; the 10 ms
	// samples catch what it may miss. The larger of the two is the figure.
	fmt.Printf("\n#### Burst: %d mails from known customers delivered at once into the IDLE mailbox\n\n", b.mails)
	fmt.Println("| measure | value | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| peak RSS during the burst: max(VmRSS every 10 ms, VmHWM) | **%.1f MiB** (samples %.1f, VmHWM %.1f; %d samples) | ≤ 32 MiB: %s |\n",
		kib(max(b.peak, b.hwm)), kib(b.peak), kib(b.hwm), b.samples, benchkit.Verdict(max(b.peak, b.hwm) <= 32*1024))
	fmt.Printf("| RSS before → after the burst (VmRSS) | %.1f → %.1f MiB | |\n", kib(b.before), kib(b.after))
	fmt.Printf("| delivery → last mail a ticket and \\Seen | %s | |\n", b.took.Round(10*time.Millisecond))
	fmt.Printf("| by %s later: tickets created / Slack calls / mails sent | %d / %d / %d | |\n", burstTail, b.created, b.posts, b.acks)
	fmt.Printf("| load average at the end | %s | |\n", b.load)

	if slackN != 0 || smtpN != 0 {
		t.Errorf("an idle daemon talked: %d Slack calls, %d mails", slackN, smtpN)
	}
	burstOK := max(b.peak, b.hwm) <= 32*1024
	if strict && (!rssOK || !cpuOK || !burstOK) {
		t.Errorf("target missed: idle RSS max %.1f MiB, CPU %.3f %%, burst peak %.1f MiB", kib(maxRSS), cpuPct, kib(max(b.peak, b.hwm)))
	}
}

func median(v []int64) int64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// kib is a size in kB (from /proc/PID/status) as MiB.
func kib(kb int64) float64 { return float64(kb) / 1024 }
