package hostile_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	secretKey     = "bench-secret-key"
	signingSecret = "bench-signing-secret"
	supportAddr   = "support@example.com"
	channel       = "C0TICKETS"
)

// config switches on every flow the attack could starve: mail intake with
// IDLE, the outbox acknowledging new tickets, the ticket watch, Slack
// commands over HTTP. The HTTP limits are the defaults (256 connections,
// webserver's timeouts); metricsKey is "" or the metrics_listen line.
const config = `# written by bench/hostile
taskip:
  base_url: %q
  secret_key: %q
state:
  path: %q
http:
  listen: %q
%slog:
  level: warn
  format: json
mail:
  address: %s
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
    idle: true
  smtp:
    addr: %q
    tls: none
slack:
  bot_token: %q
  signing_secret: %q
  api_url: %q
  channel: %s
`

// TestHostileTraffic runs, for each scenario (BENCH_SCENARIOS: split, with
// http.metrics_listen; shared, without), a daemon first undisturbed and
// then under attack, with the same probes and mail in both windows, and
// prints a table per scenario.
func TestHostileTraffic(t *testing.T) {
	benchkit.RequireBench(t)
	holders := benchkit.EnvInt(t, "BENCH_HOLDERS", 400)
	idle := benchkit.EnvInt(t, "BENCH_IDLE", 20000)
	window := benchkit.EnvPositiveDuration(t, "BENCH_WINDOW", 20*time.Second)
	interval := benchkit.EnvPositiveDuration(t, "BENCH_INTERVAL", 20*time.Millisecond)
	ramp := benchkit.EnvDuration(t, "BENCH_RAMP", 2*time.Second)
	redial := benchkit.EnvDuration(t, "BENCH_REDIAL", 10*time.Second)
	mails := benchkit.EnvInt(t, "BENCH_MAILS", 20)
	procs := benchkit.EnvInt(t, "BENCH_ATTACKERS", 2)
	pin := os.Getenv("BENCH_PIN") == "1"
	if pin {
		// The harness and its attackers on CPU 0; the daemon gets CPU 1
		// (runScenario): a daemon whose attacker does not share its CPUs.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			t.Fatalf("taskset: %v\n%s", err, out)
		}
	}
	strict := os.Getenv("BENCH_STRICT") == "1"

	bin := benchkit.BuildStatic(t)
	for _, scenario := range benchkit.EnvList("BENCH_SCENARIOS", "split,shared") {
		t.Run(scenario, func(t *testing.T) {
			runScenario(t, bin, scenario == "split", attackCfg{holders, idle, procs, ramp, redial}, window, interval, mails, strict, pin)
		})
	}
}

// attackCfg is the attack's size.
type attackCfg struct {
	holders, idle, procs int
	ramp, redial         time.Duration
}

func runScenario(t *testing.T, bin string, split bool, ac attackCfg, window, interval time.Duration, mails int, strict, pin bool) {
	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	for i := range 4 * mails {
		name, email := customer(i)
		tk.SeedContact(taskipfake.Contact{Name: name, Email: email})
	}
	tsrv := httptest.NewServer(tk.Handler())
	t.Cleanup(tsrv.Close)
	sf := slackfake.New(t)
	sf.SetChannels(channel)
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})

	dir := t.TempDir()
	public := benchkit.FreeAddr(t)
	health, metricsKey, name := public, "", "shared"
	if split {
		health = benchkit.FreeAddr(t)
		metricsKey, name = fmt.Sprintf("  metrics_listen: %q\n", health), "split"
	}
	cfgPath := benchkit.WriteConfig(t, dir, fmt.Sprintf(config, tsrv.URL+taskipfake.BasePath, secretKey, filepath.Join(dir, "state.db"),
		public, metricsKey, supportAddr, imap.Addr(), imap.Username(), imap.Password(), smtp.Addr(),
		slackfake.DefaultToken, signingSecret, sf.URL(), channel))

	d := benchkit.StartDaemon(t, bin, cfgPath, []string{})
	cpus := "all CPUs"
	if pin {
		// Every thread; threads started later inherit from their creator.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(d.Pid())).CombinedOutput(); err != nil {
			t.Fatalf("taskset: %v\n%s", err, out)
		}
		cpus = "CPU 1 alone (harness and attackers on CPU 0)"
	}
	d.AwaitReady(t, "http://"+health+"/readyz", 30*time.Second)
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", d.Pid()))
	fdLine := regexp.MustCompile(`(?m)^Max open files.*$`).Find(limits)

	m := newMailRun(imap, tk, smtp)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watchWG sync.WaitGroup
	watchWG.Go(func() { m.watch(watchCtx) })
	defer func() { stopWatch(); watchWG.Wait() }()

	healthURL, commandURL := "http://"+health+"/healthz", "http://"+public+"/slack/commands"
	phase := func(run string, first int) *probes {
		var wg sync.WaitGroup
		var mailErr error
		wg.Go(func() { mailErr = m.deliver(run, first, mails, window) })
		p := runProbes(healthURL, commandURL, window, interval)
		wg.Wait()
		if mailErr != nil {
			t.Fatal(mailErr)
		}
		return p
	}

	// Baseline: nothing else going on.
	load0 := benchkit.LoadAvg()
	base := phase(name+"base", 0)

	// Attack: wait for the ramp, then the same window under it.
	a := startAttackers(t, ac.procs, public, ac.holders, ac.idle, ac.ramp, ac.redial)
	samples := &sampler{pid: d.Pid()}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var sampleWG sync.WaitGroup
	sampleWG.Go(func() { samples.run(sampleCtx) })
	rampStart := time.Now()
	for a.sum().IdleDialed < int64(ac.idle) && time.Since(rampStart) < ac.ramp+30*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	rampTook := time.Since(rampStart)
	load1 := benchkit.LoadAvg()
	cpu0, mcpu0, t0 := d.CPU(), benchkit.MachineCPU(), time.Now()
	under := phase(name+"attack", 2*mails)
	daemonCPU := float64(d.CPU()-cpu0) / float64(time.Since(t0))
	machineBusy := benchkit.MachineCPU().BusySince(mcpu0)
	load2 := benchkit.LoadAvg()
	a.stop()
	as := a.sum()
	stopSampling()
	sampleWG.Wait()

	// Every mail must reach TaskIP and be acknowledged, attack or not.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, tb, ab, _, _ := m.result(name + "base")
		_, tu, au, _, _ := m.result(name + "attack")
		if tb == mails && ab == mails && tu == mails && au == mails {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	hwm, _ := d.Memory()
	// Under a flood the attackers' connections still queued when they
	// stop can crowd out one request more; a few tries get through.
	var rejected string
	var gauges map[string]float64
	for try := 0; ; try++ {
		var err error
		rejected, err = scrapeRejected("http://" + health + "/metrics")
		if err == nil {
			gauges, err = benchkit.Scrape("http://"+health+"/metrics", "go_goroutines", "go_memstats_heap_inuse_bytes")
		}
		if err == nil {
			break
		}
		if try == 10 {
			t.Fatalf("/metrics: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, code := d.Stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, d.Problems())
	}
	refusedLines := strings.Count(d.Log(), `"msg":"http: request refused"`)

	hb, cb, hu, cu := base.health.summary(), base.command.summary(), under.health.summary(), under.command.summary()
	mdB, mtB, maB, ttB, taB := m.result(name + "base")
	mdU, mtU, maU, ttU, taU := m.result(name + "attack")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	row := func(s benchkit.Summary) string {
		return fmt.Sprintf("%s / %s / **%s** / %s (n=%d)", ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), s.N)
	}
	ratio := func(u, b time.Duration) string {
		return fmt.Sprintf("%.2f×", float64(u)/float64(max(b, time.Microsecond)))
	}
	where := "`metrics_listen`"
	if !split {
		where = "the public listener (no `metrics_listen`)"
	}
	healthOK, commandOK, rssOK := hu.P99 <= 50*time.Millisecond, cu.P99 <= 100*time.Millisecond, hwm <= 64<<20
	mailOK := mtB == mails && maB == mails && mtU == mails && maU == mails

	fmt.Printf("\n#### Hostile traffic, %s: %d holders of unsigned 1 MiB bodies + %d idle connections from %d processes, redial %s\n\n",
		name, ac.holders, ac.idle, ac.procs, ac.redial)
	fmt.Printf("Daemon: `%s`, on %s; max_connections 256 (default). Load average %s (start) / %s (attack ramped) / %s (end). Ramp to %d idle connections made: %s.\n\n",
		strings.Join(strings.Fields(string(fdLine)), " "), cpus, load0, load1, load2, ac.idle, rampTook.Round(10*time.Millisecond))
	fmt.Println("| measure | baseline (no attack) | under attack | ratio p99 | target |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| `/healthz` on %s, new connection each, p50 / p90 / **p99** / max | %s | %s | %s | p99 ≤ 50 ms: %s |\n",
		where, row(hb), row(hu), ratio(hu.P99, hb.P99), benchkit.Verdict(healthOK))
	fmt.Printf("| signed `/ticket help` acknowledged, new connection each | %s | %s | %s | p99 ≤ 100 ms: %s |\n",
		row(cb), row(cu), ratio(cu.P99, cb.P99), benchkit.Verdict(commandOK))
	fmt.Printf("| probe errors: `/healthz` / command | %d / %d | %d / %d | | |\n",
		base.healthErr.Load(), base.commandErr.Load(), under.healthErr.Load(), under.commandErr.Load())
	fmt.Printf("| mails delivered → tickets / acknowledgements | %d → %d / %d | %d → %d / %d | | all: %s |\n",
		mdB, mtB, maB, mdU, mtU, maU, benchkit.Verdict(mailOK))
	fmt.Printf("| mail → ticket at TaskIP, p50 / max | %s / %s | %s / %s | | |\n", ms(ttB.P50), ms(ttB.Max), ms(ttU.P50), ms(ttU.Max))
	fmt.Printf("| mail → acknowledgement at SMTP, p50 / max | %s / %s | %s / %s | | |\n", ms(taB.P50), ms(taB.Max), ms(taU.P50), ms(taU.Max))
	fmt.Printf("| peak RSS, whole run (VmHWM) | | **%.1f MiB** | | ≤ 64 MiB: %s |\n", benchkit.MiB(hwm), benchkit.Verdict(rssOK))
	fmt.Printf("| daemon: open file descriptors, max / RSS max (sampled every 100 ms) | | %d / %.1f MiB | | |\n", samples.maxFDs, benchkit.MiB(samples.maxRSS))
	fmt.Printf("| attacker: idle connections made / most open at once / closed by the server / dial errors | | %d / %d / %d / %d | | |\n",
		as.IdleDialed, as.IdleMaxOpen, as.IdleClosed, as.IdleDialErr)
	bs := benchkit.Summarize(as.BodyAnswer)
	fmt.Printf("| attacker: body requests / answered 401 / other answer / closed unanswered; head → 401 p50 / p99 | | %d / %d / %d / %d; %s / %s | | |\n",
		as.BodyDialed, as.Body401, as.BodyOther, as.BodyNoReply, ms(bs.P50), ms(bs.P99))
	fmt.Printf("| CPU in the attack window: daemon (share of one core) / whole machine busy | | %.0f %% / %.0f %% of %d CPUs | | |\n",
		100*daemonCPU, 100*machineBusy, runtime.NumCPU())
	fmt.Printf("| `ticketsync_http_rejected_total` | | %s | | |\n", rejected)
	fmt.Printf("| log lines `http: request refused` (whole run) | | %d | | |\n", refusedLines)
	fmt.Printf("| Go heap in use / goroutines after the attack | | %.1f MiB / %.0f | | |\n",
		benchkit.MiB(int64(gauges["go_memstats_heap_inuse_bytes"])), gauges["go_goroutines"])
	if len(as.BodyErrors) > 0 {
		fmt.Printf("\nHolders closed unanswered: %v\n", as.BodyErrors)
	}
	if e, ok := under.errSample.Load().(string); ok {
		fmt.Printf("\nA probe error under attack: %s\n", e)
	}

	if !mailOK {
		t.Errorf("mail: baseline %d → %d tickets / %d acks, attack %d → %d / %d", mdB, mtB, maB, mdU, mtU, maU)
	}
	if strict && (!healthOK || !commandOK || !rssOK) {
		t.Errorf("target missed: healthz p99 %v, command p99 %v, peak RSS %.1f MiB", hu.P99, cu.P99, benchkit.MiB(hwm))
	}
}

// sampler reads the daemon's open file descriptors and RSS every 100 ms.
type sampler struct {
	pid    int
	maxFDs int
	maxRSS int64
}

func (s *sampler) run(ctx context.Context) {
	tick(ctx, 100*time.Millisecond, func() {
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid)); err == nil {
			s.maxFDs = max(s.maxFDs, len(fds))
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid)); err == nil {
			if m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b); m != nil {
				kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
				s.maxRSS = max(s.maxRSS, kb<<10)
			}
		}
	})
}

// scrapeRejected lists the non-zero ticketsync_http_rejected_total series.
func scrapeRejected(url string) (string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, m := range regexp.MustCompile(`(?m)^ticketsync_http_rejected_total\{reason="([a-z_]+)"\} (\d+)$`).FindAllSubmatch(body, -1) {
		if string(m[2]) != "0" {
			parts = append(parts, string(m[1])+" "+string(m[2]))
		}
	}
	return strings.Join(parts, ", "), nil
}
