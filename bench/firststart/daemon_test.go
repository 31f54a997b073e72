package firststart

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
)

// buildDaemon returns the binary to run: cmd/ticketsync (or BENCH_BIN), or
// with BENCH_PROFILE_DIR bench/intake's profiling wrapper, which is the
// same wiring with a CPU profiler around it and a heap profile at each cut.
func buildDaemon(t testing.TB, profile bool) string {
	t.Helper()
	if profile {
		return benchkit.GoBuild(t, "github.com/ticketsync/ticketsync/bench/intake/profrun")
	}
	return benchkit.BuildDaemon(t)
}

type daemonConfig struct {
	APIBase, StatePath, Listen string
	IMAPAddr, User, Pass       string
	LogLevel                   string
	Poll                       time.Duration
}

// The import window is left at its default (168h): that is what a first
// start without configuration does.
const configTemplate = `# written by bench/firststart
taskip:
  base_url: %q
  secret_key: %q
  poll_schedule: "@every 1h"   # the ticket watch is not measured here
state:
  path: %q
http:
  listen: %q
log:
  level: %s
  format: json
mail:
  address: %s
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
    idle: true
    poll_schedule: "@every %s"
  lookup_contacts: true
  create_contacts: false
  acknowledge_new: false
  send_agent_replies: false
`

func writeConfig(t testing.TB, dir string, c daemonConfig) string {
	t.Helper()
	return benchkit.WriteConfig(t, dir, fmt.Sprintf(configTemplate, c.APIBase, secretKey, c.StatePath, c.Listen, c.LogLevel,
		supportAddr, c.IMAPAddr, c.User, c.Pass, c.Poll))
}

// entry is one line of the daemon's JSON log.
type entry struct {
	at  time.Time
	msg string
	raw string
}

// entries parses what the daemon logged so far. benchkit's Await wants the
// exact message, and the baseline's line carries the mailbox's figures,
// which are what is being checked.
func entries(d *benchkit.Daemon) []entry {
	var out []entry
	for line := range strings.Lines(d.Log()) {
		line = strings.TrimSpace(line)
		var e struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		out = append(out, entry{at: e.Time, msg: e.Msg, raw: line})
	}
	return out
}

// awaitEntry waits for the first entry whose message starts with prefix.
func awaitEntry(t testing.TB, d *benchkit.Daemon, prefix string, timeout time.Duration) entry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range entries(d) {
			if strings.HasPrefix(e.msg, prefix) {
				return e
			}
		}
		if !d.Alive() {
			t.Fatalf("daemon exited before %q; log:\n%s", prefix, d.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v; log:\n%s", prefix, timeout, d.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timeline is the daemon's log as offsets from start, with the run of
// "email handled" lines cut to its first and last.
func timeline(es []entry, start time.Time) string {
	var b strings.Builder
	handled := 0
	for i, e := range es {
		if e.msg == "email handled" {
			handled++
			if next := i + 1; handled > 1 && next < len(es) && es[next].msg == "email handled" {
				continue
			}
		}
		fmt.Fprintf(&b, "%+9.1f ms  %s\n", float64(e.at.Sub(start).Microseconds())/1000, e.raw)
	}
	return b.String()
}

// revision says which daemon was measured: BENCH_REVISION, else the
// binary's build info, else git (read-only).
func revision(bin string) string {
	if rev := os.Getenv("BENCH_REVISION"); rev != "" {
		return rev
	}
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil {
		var vcs []string
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "build" && (strings.HasPrefix(f[1], "vcs.revision=") || strings.HasPrefix(f[1], "vcs.modified=")) {
				vcs = append(vcs, f[1])
			}
		}
		if len(vcs) > 0 {
			return strings.Join(vcs, " ")
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev := strings.TrimSpace(string(out))
		if exec.Command("git", "diff", "--quiet", "HEAD", "--", "../../cmd", "../../internal", "../../go.mod", "../../go.sum").Run() != nil {
			rev += " + uncommitted changes"
		}
		return rev
	}
	return "unknown"
}

func printHeader(w io.Writer, bin string, s settings) {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Fprintf(w, "\n## First start on a large mailbox, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "daemon %s (%s); %s; %d × %s; load average %s\n", bin, revision(bin), runtime.Version(), runtime.NumCPU(), cpu, benchkit.LoadAvg())
	fmt.Fprintf(w, "settings: %s messages, %d unread and recent (placements %s; \"top\" = among the newest %d), IMAP poll every %v, log level %s\n",
		count(s.messages), s.unread, strings.Join(s.placements, ","), s.topWindow, s.poll, s.logLevel)
}
