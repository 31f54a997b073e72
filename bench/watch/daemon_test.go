package watch_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const supportAddr = "support@example.com"

const daemonConfig = `# written by bench/watch
taskip:
  base_url: %q
  secret_key: %q
  timeout: 15s
  poll_schedule: "@every 30s"
state:
  path: %q
http:
  listen: "127.0.0.1:0"
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
    idle: true
  acknowledge_new: false
  send_agent_replies: false
slack:
  bot_token: %q
  signing_secret: bench-signing-secret
  api_url: %q
  channel: %s
`

// TestWatchDaemonEmailToSlack runs the real daemon (`ticketsync run`, built
// from cmd/ticketsync, as a child process) with IMAP IDLE against
// imapmemserver, taskipfake holding BENCH_TICKETS tickets and slackfake, all
// on 127.0.0.1 in this process. Once the daemon is ready and the watch's
// baseline is recorded, BENCH_EMAILS emails are APPENDed one at a time for
// each spacing in BENCH_EMAIL_INTERVALS (default "200ms,1200ms"), each from
// a different known customer. Latency = slackfake's arrival time of the
// parent message naming the email's subject − the APPEND's OK received.
func TestWatchDaemonEmailToSlack(t *testing.T) {
	requireBench(t)
	emails := envInt("BENCH_EMAILS", 100)
	intervals := os.Getenv("BENCH_EMAIL_INTERVALS")
	if intervals == "" {
		intervals = "200ms,1200ms"
	}
	var phases []time.Duration
	for _, s := range strings.Split(intervals, ",") {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BENCH_EMAIL_INTERVALS: %v", err)
		}
		phases = append(phases, d)
	}
	n := ticketCount()

	tk := taskipfake.New(taskipfake.Options{SecretKey: secretKey})
	seedTickets(tk, n)
	creates := &stopwatch{}
	tsrv := httptest.NewServer(creates.wrap(tk.Handler()))
	t.Cleanup(tsrv.Close)
	base := tsrv.URL + taskipfake.BasePath
	sender := func(k int) (name, email string) {
		return fmt.Sprintf("Customer %04d", k), fmt.Sprintf("customer%04d@client%03d.example", k, k%97)
	}
	for k := range emails * len(phases) {
		name, email := sender(k)
		tk.SeedContact(taskipfake.Contact{Name: name, Email: email})
	}
	sf := slackfake.New(t)
	sf.SetChannels(channel)
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ticketsync.yaml")
	cfg := fmt.Sprintf(daemonConfig, base, secretKey, filepath.Join(dir, "state.db"), supportAddr,
		imap.Addr(), imap.Username(), imap.Password(), slackfake.DefaultToken, sf.URL(), channel)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "ticketsync")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/ticketsync/ticketsync/cmd/ticketsync").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}

	d := startJSONDaemon(t, bin, cfgPath)
	started := time.Now()
	httpAddr := d.await(t, "ticketsync running", "http", 30*time.Second)
	d.await(t, "watch baseline recorded", "tickets", 10*time.Minute)
	baselineTook := time.Since(started)
	waitReady(t, "http://"+httpAddr+"/readyz", 30*time.Second)
	time.Sleep(time.Second)

	c, err := imapclient.DialInsecure(imap.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(imap.Username(), imap.Password()).Wait(); err != nil {
		t.Fatal(err)
	}

	run := strconv.FormatInt(time.Now().Unix()%100000, 36)
	fmt.Printf("\n#### Email → Slack parent through the daemon (IMAP IDLE), %d tickets in TaskIP\n\n", n)
	fmt.Printf("Daemon start → watch baseline recorded: %.1f s.\n\n", baselineTook.Seconds())
	fmt.Println("| spacing | emails | p50 | p90 | p99 | max | target p99 ≤ 500 ms | parent gap min / p50 | daemon CPU | load start / end |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	k := 0
	var split []string
	for pi, interval := range phases {
		if pi > 0 {
			// The Poster paces writes from the previous one; let the
			// last phase's last parent age so phases do not interact.
			time.Sleep(3 * time.Second)
		}
		load0, cpu0 := loadAvg(), d.cpu()
		appended := make([]time.Time, emails)
		tick := time.NewTicker(interval)
		for i := range emails {
			name, email := sender(k)
			k++
			subject := fmt.Sprintf("wb-%s-%d-%03d Printer on floor 2 jams on tray 2", run, pi, i)
			raw := mailtest.Message(fmt.Sprintf("%s <%s>", name, email), supportAddr, subject,
				"Hello,\n\nthe printer jams again whenever we print duplex from tray 2.\n\nThanks,\n"+name+"\n")
			cmd := c.Append("INBOX", int64(len(raw)), nil)
			if _, err := cmd.Write(raw); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			appended[i] = time.Now()
			if i < emails-1 {
				<-tick.C
			}
		}
		tick.Stop()

		re := regexp.MustCompile(fmt.Sprintf(`wb-%s-%d-(\d{3}) `, run, pi))
		arrived := make([]time.Time, emails)
		seen := 0
		deadline := time.Now().Add(30*time.Second + time.Duration(emails)*1500*time.Millisecond)
		dups := 0
		for seen < emails && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			seen, dups = 0, 0
			clear(arrived)
			for _, m := range sf.Messages(channel) {
				g := re.FindStringSubmatch(m.Text)
				if g == nil {
					continue
				}
				i, _ := strconv.Atoi(g[1])
				if !arrived[i].IsZero() {
					dups++
					continue
				}
				arrived[i] = m.At
				seen++
			}
		}
		if seen < emails {
			t.Fatalf("spacing %s: %d of %d parents arrived; daemon log:\n%s", interval, seen, emails, d.problems())
		}
		if dups > 0 {
			t.Errorf("spacing %s: %d duplicate parents", interval, dups)
		}
		lat := make([]time.Duration, emails)
		var intake, watch []time.Duration // APPEND → create at TaskIP, create → parent at Slack
		for i := range emails {
			lat[i] = arrived[i].Sub(appended[i])
			if at, ok := creates.find(re, i); ok {
				intake = append(intake, at.Sub(appended[i]))
				watch = append(watch, arrived[i].Sub(at))
			}
		}
		at := slices.Clone(arrived)
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		gaps := make([]time.Duration, 0, emails-1)
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
		s, g := summarize(lat), summarize(gaps)
		slices.Sort(gaps)
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s / %s | %.2f s | %s / %s |\n", interval, emails,
			ms(s.p50), ms(s.p90), ms(s.p99), ms(s.maxD), verdict(s.p99 <= 500*time.Millisecond),
			ms(gaps[0]), ms(g.p50), (d.cpu() - cpu0).Seconds(), load0, loadAvg())
		si, sw := summarize(intake), summarize(watch)
		split = append(split, fmt.Sprintf("| %s | %s / %s / %s | %s / %s / %s |", interval,
			ms(si.p50), ms(si.p99), ms(si.maxD), ms(sw.p50), ms(sw.p99), ms(sw.maxD)))
	}
	fmt.Println("\nSplit at the TaskIP create (its arrival at taskipfake):\n\n| spacing | APPEND → create p50 / p99 / max | create → Slack parent p50 / p99 / max |\n|---|---|---|")
	for _, l := range split {
		fmt.Println(l)
	}

	// Every email must have given exactly one parent and nothing else: the
	// watch's next poll sees the intake's tickets and must find no change.
	time.Sleep(32 * time.Second) // one more "@every 30s" poll after the last parent
	var parents, replies, updates, failed int
	for _, call := range sf.Calls() {
		switch {
		case call.Error != "":
			failed++
		case call.Method == "chat.postMessage" && call.ThreadTS == "":
			parents++
		case call.Method == "chat.postMessage":
			replies++
		case call.Method == "chat.update":
			updates++
		}
	}
	fmt.Printf("\nSlack calls over the run: %d parents, %d thread replies, %d updates, %d failed (emails: %d).\n",
		parents, replies, updates, failed, emails*len(phases))
	if parents != emails*len(phases) || replies != 0 || updates != 0 || failed != 0 {
		t.Errorf("unexpected Slack traffic; daemon log:\n%s", d.problems())
	}
	took, code := d.stop(t)
	if code != 0 {
		t.Errorf("daemon exited %d after SIGTERM (%s); log:\n%s", code, took, d.problems())
	}
}

// stopwatch timestamps every ticket create as it reaches taskipfake.
type stopwatch struct {
	mu    sync.Mutex
	at    []time.Time
	bodys []string
}

func (s *stopwatch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/support-ticket") {
			at := time.Now()
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.mu.Lock()
			s.at, s.bodys = append(s.at, at), append(s.bodys, string(body))
			s.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// find is the arrival of the first create whose body matches re with index i.
func (s *stopwatch) find(re *regexp.Regexp, i int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, b := range s.bodys {
		if g := re.FindStringSubmatch(b); g != nil {
			if n, _ := strconv.Atoi(g[1]); n == i {
				return s.at[k], true
			}
		}
	}
	return time.Time{}, false
}

// jsonDaemon is `ticketsync run` with log format json, its stderr parsed.
type jsonDaemon struct {
	cmd    *exec.Cmd
	exited chan struct{}

	mu      sync.Mutex
	entries []map[string]any
	notes   []string // warn and error lines
	changed chan struct{}
}

func startJSONDaemon(t *testing.T, bin, config string) *jsonDaemon {
	t.Helper()
	d := &jsonDaemon{cmd: exec.Command(bin, "run", "--config", config), exited: make(chan struct{}), changed: make(chan struct{}, 1)}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e map[string]any
			line := sc.Text()
			if json.Unmarshal([]byte(line), &e) != nil {
				e = map[string]any{"msg": line, "level": "RAW"}
			}
			d.mu.Lock()
			d.entries = append(d.entries, e)
			if lvl, _ := e["level"].(string); lvl != "INFO" && lvl != "DEBUG" {
				d.notes = append(d.notes, line)
			}
			d.mu.Unlock()
			select {
			case d.changed <- struct{}{}:
			default:
			}
		}
		_ = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d
}

// await waits for a log entry with message msg and returns its attribute key.
func (d *jsonDaemon) await(t *testing.T, msg, key string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for _, e := range d.entries {
			if e["msg"] == msg {
				d.mu.Unlock()
				return fmt.Sprint(e[key])
			}
		}
		d.mu.Unlock()
		select {
		case <-d.changed:
		case <-d.exited:
			t.Fatalf("daemon exited before %q; log:\n%s", msg, d.problems())
		case <-deadline:
			t.Fatalf("no %q within %s; log:\n%s", msg, timeout, d.problems())
		}
	}
}

func (d *jsonDaemon) problems() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.notes) > 40 {
		return strings.Join(d.notes[:40], "\n") + fmt.Sprintf("\n... %d more", len(d.notes)-40)
	}
	return strings.Join(d.notes, "\n")
}

// cpu is the daemon's user+system CPU so far (/proc/PID/stat, 10 ms ticks).
func (d *jsonDaemon) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func (d *jsonDaemon) stop(t *testing.T) (time.Duration, int) {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("daemon did not exit within 15 s of SIGTERM")
	}
	return time.Since(start), d.cmd.ProcessState.ExitCode()
}

func waitReady(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within %s (last: %v)", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
