package watch_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
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
	benchkit.RequireBench(t)
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
	cfgPath := benchkit.WriteConfig(t, dir, fmt.Sprintf(daemonConfig, base, secretKey, filepath.Join(dir, "state.db"), supportAddr,
		imap.Addr(), imap.Username(), imap.Password(), slackfake.DefaultToken, sf.URL(), channel))
	bin := benchkit.BuildDaemon(t)

	d := benchkit.StartDaemon(t, bin, cfgPath, nil)
	started := time.Now()
	httpAddr := fmt.Sprint(d.Await(t, "ticketsync running", 30*time.Second)["http"])
	d.Await(t, "watch baseline recorded", 10*time.Minute)
	baselineTook := time.Since(started)
	d.AwaitReady(t, "http://"+httpAddr+"/readyz", 30*time.Second)
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
		load0, cpu0 := benchkit.LoadAvg(), d.CPU()
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
			t.Fatalf("spacing %s: %d of %d parents arrived; daemon log:\n%s", interval, seen, emails, d.Problems())
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
		s, g := benchkit.Summarize(lat), benchkit.Summarize(gaps)
		slices.Sort(gaps)
		ms := benchkit.Millis
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s / %s | %.2f s | %s / %s |\n", interval, emails,
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), benchkit.Verdict(s.P99 <= 500*time.Millisecond),
			ms(gaps[0]), ms(g.P50), (d.CPU() - cpu0).Seconds(), load0, benchkit.LoadAvg())
		si, sw := benchkit.Summarize(intake), benchkit.Summarize(watch)
		split = append(split, fmt.Sprintf("| %s | %s / %s / %s | %s / %s / %s |", interval,
			ms(si.P50), ms(si.P99), ms(si.Max), ms(sw.P50), ms(sw.P99), ms(sw.Max)))
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
		t.Errorf("unexpected Slack traffic; daemon log:\n%s", d.Problems())
	}
	took, code := d.Stop(t)
	if code != 0 {
		t.Errorf("daemon exited %d after SIGTERM (%s); log:\n%s", code, took, d.Problems())
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
