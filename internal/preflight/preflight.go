// Package preflight tries every connection a configuration describes
// (TaskIP, IMAP, SMTP, Slack) the way the daemon would make it, and says
// for each whether it works and, when not, which key to change. It is what
// `ticketsync check-config --connect` runs.
//
// A check does what the daemon does at start and nothing more: it reads one
// ticket page, logs in to the mailbox and selects it (creating missing
// processed and failed folders, as the daemon would), greets and
// authenticates to the SMTP server without sending mail, and asks Slack who
// the bot is and whether it is in its channel. No line ever contains a
// secret of the configuration.
package preflight

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ticketsync/ticketsync/internal/config"
)

// DefaultTimeout bounds each check when Options.Timeout is zero. A healthy
// server answers in well under a second; ten leave room for a slow
// provider without making a wrong address wait long.
const DefaultTimeout = 10 * time.Second

// Options carry what does not come from the configuration file.
type Options struct {
	// Timeout bounds each check (one service) from dial to logout;
	// default DefaultTimeout.
	Timeout time.Duration
	// IMAPTLS and SMTPTLS replace the system roots the mail connections
	// trust (tests and the demo use self-signed certificates).
	IMAPTLS, SMTPTLS *tls.Config
}

// Status is how one check ended.
type Status string

// The statuses of a Result.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "FAIL"
	// StatusSkip: the configuration switches the service off; nothing to
	// try, and no failure.
	StatusSkip Status = "skip"
)

// Service names, in the order Run reports them.
const (
	ServiceTaskIP = "taskip"
	ServiceIMAP   = "imap"
	ServiceSMTP   = "smtp"
	ServiceSlack  = "slack"
)

// Result is one check.
type Result struct {
	Service string
	Status  Status
	// Detail says what was done, or what failed and which configuration
	// key to change. It never contains a secret.
	Detail   string
	Duration time.Duration // zero for a skipped check
}

// String is the result's line, without a newline, e.g.
//
//	ok    imap   login support@example.com at imap.example.com:993, SELECT INBOX (1,204 messages), folders Processed, Failed exist   (38 ms)
func (r Result) String() string {
	line := fmt.Sprintf("%-6s%-7s%s", r.Status, r.Service, r.Detail)
	if r.Status == StatusSkip {
		return line
	}
	return line + "   (" + formatDuration(r.Duration) + ")"
}

// Passed reports whether no check failed; skipped checks pass.
func Passed(results []Result) bool {
	for _, r := range results {
		if r.Status == StatusFail {
			return false
		}
	}
	return true
}

// Write prints one line per result; with failuresOnly the passed and
// skipped ones are left out.
func Write(w io.Writer, results []Result, failuresOnly bool) error {
	for _, r := range results {
		if failuresOnly && r.Status != StatusFail {
			continue
		}
		if _, err := fmt.Fprintln(w, r); err != nil {
			return fmt.Errorf("preflight: write results: %w", err)
		}
	}
	return nil
}

// Run tries every service cfg configures, concurrently, each within
// opts.Timeout, and returns the results in a fixed order: taskip, imap,
// smtp, slack (the bot and its channel, then Socket Mode when an app token
// is set). Sections that are absent are reported as skipped. cfg must
// have passed validation. Run returns when every check has ended; ending
// ctx ends them early, as failures.
func Run(ctx context.Context, cfg *config.Config, opts Options) []Result {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	c := &checker{cfg: cfg, opts: opts}
	checks := []func(context.Context) []Result{c.taskip, c.imap, c.smtp, c.slack}
	out := make([][]Result, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { out[i] = check(ctx) })
	}
	wg.Wait()
	var results []Result
	for _, rs := range out {
		results = append(results, rs...)
	}
	scrub := secretScrubber(cfg)
	for i := range results {
		results[i].Detail = scrub.Replace(results[i].Detail)
	}
	return results
}

// checker holds what every check needs.
type checker struct {
	cfg  *config.Config
	opts Options
}

// timed runs one check under its own timeout and stamps its duration.
func (c *checker) timed(ctx context.Context, service string, f func(ctx context.Context) (detail string, err error)) Result {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	start := time.Now()
	detail, err := f(ctx)
	r := Result{Service: service, Status: StatusOK, Detail: detail, Duration: time.Since(start)}
	if err != nil {
		r.Status, r.Detail = StatusFail, err.Error()
	}
	return r
}

func skipped(service, why string) Result {
	return Result{Service: service, Status: StatusSkip, Detail: why}
}

// problem is a failed check's explanation: what went wrong and what to
// change. Its text is the Result's Detail.
type problem struct{ text string }

func (p *problem) Error() string { return p.text }

func failf(format string, args ...any) error {
	return &problem{text: fmt.Sprintf(format, args...)}
}

// secretScrubber replaces every secret of cfg, and the password of a URL's
// user info, by config.RedactedText. The messages are built not to contain
// any; this holds even when a server quotes back what it was sent.
func secretScrubber(cfg *config.Config) *strings.Replacer {
	var secrets []string
	add := func(s string) {
		if s != "" {
			secrets = append(secrets, s, config.RedactedText)
		}
	}
	addURL := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			add(u.User.String())
			if pw, ok := u.User.Password(); ok {
				add(pw)
			}
		}
	}
	add(cfg.TaskIP.SecretKey.Reveal())
	addURL(cfg.TaskIP.BaseURL)
	if m := cfg.Mail; m != nil {
		add(m.IMAP.Password.Reveal())
		add(m.SMTP.Password.Reveal())
	}
	if s := cfg.Slack; s != nil {
		add(s.BotToken.Reveal())
		add(s.SigningSecret.Reveal())
		add(s.AppToken.Reveal())
		addURL(s.APIURL)
	}
	return strings.NewReplacer(secrets...)
}

func formatDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// formatCount writes n with thousands separators: 1,204.
func formatCount(n uint32) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
