package intake

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
)

// buildDaemon returns the binary the benchmark runs as a child process:
// cmd/ticketsync (or BENCH_BIN), or with BENCH_PROFILE_DIR the profiling
// wrapper bench/intake/profrun (the same wiring with a CPU profiler around
// it), always built.
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
	MaxMessageBytes            int64
	Mailbox                    string // default INBOX
	WriteConcurrency           int    // mail.write_concurrency; 0 leaves it at the daemon's default
}

const configTemplate = `# written by bench/intake
taskip:
  base_url: %q
  secret_key: %q
  timeout: 30s
  poll_schedule: "@every 1h"   # the ticket watch is not measured here
state:
  path: %q
http:
  listen: %q
log:
  level: warn
  format: text
mail:
  address: %s
  imap:
    addr: %q
    tls: none
    username: %q
    password: %q
    mailbox: %q
    idle: true
    poll_schedule: "@every 5s"
  max_message_bytes: %d
  lookup_contacts: true
  create_contacts: false
  acknowledge_new: false
  send_agent_replies: false
`

func writeConfig(t testing.TB, dir string, c daemonConfig) string {
	t.Helper()
	body := fmt.Sprintf(configTemplate, c.APIBase, secretKey, c.StatePath, c.Listen, supportAddr,
		c.IMAPAddr, c.User, c.Pass, cmp.Or(c.Mailbox, "INBOX"), c.MaxMessageBytes)
	if c.WriteConcurrency > 0 {
		body += fmt.Sprintf("  write_concurrency: %d\n", c.WriteConcurrency) // the template ends in mail:
	}
	return benchkit.WriteConfig(t, dir, body)
}
