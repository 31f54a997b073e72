package main

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// Secrets of the connect tests. Each is distinctive, so finding one in the
// output cannot be a coincidence; the wrong ones are secrets too.
const (
	ccTaskIPKey     = "tk-secret-5d0e9a71"
	ccIMAPPassword  = "imap-secret-7f3a2c"
	ccSMTPPassword  = "smtp-secret-91c2bb"
	ccBotToken      = "xoxb-secret-bot-4417"
	ccSigningSecret = "sign-secret-abcd8e"
	ccAppToken      = "xapp-secret-app-3390"
	ccURLPassword   = "url-secret-66e1"
	ccChannel       = "C0SUPPORT"
	ccAddress       = "support@example.com"

	ccWrongKey      = "tk-secret-wrong-0001"
	ccWrongPassword = "pw-secret-wrong-0002"
	ccWrongToken    = "xoxb-secret-wrong-0003"
)

var ccSecrets = []string{ccTaskIPKey, ccIMAPPassword, ccSMTPPassword, ccBotToken, ccSigningSecret, ccAppToken,
	ccURLPassword, ccWrongKey, ccWrongPassword, ccWrongToken}

// Problems print one per line as FILE:LINE: path: message, syntax errors
// at the line of the mistake, and a URL's password never.
func TestCheckConfigProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct{ name, yaml, stderr string }{
		{
			name: "validation",
			yaml: "taskip:\n  base_url: \"http://ops:" + ccURLPassword + "@taskip.example.com/api\"\n" +
				"  secret_key: " + ccTaskIPKey + "\n  timout: 3s\n",
			stderr: "FILE:2: taskip.base_url: http:// would send taskip.secret_key in clear to a host other than loopback: " +
				"use https, or set taskip.allow_insecure: true\n" +
				"FILE:4: taskip.timout: unknown key, did you mean \"timeout\"?\n",
		},
		{
			name:   "missing section",
			yaml:   "log:\n  level: info\n",
			stderr: "FILE: taskip.secret_key: required\n",
		},
		{
			name: "unterminated quote",
			yaml: "taskip:\n  secret_key: \"" + ccTaskIPKey + "\n  timeout: 3s\n" +
				"slack:\n  reply_prefix: \"@support\"\n",
			stderr: "FILE:2: YAML syntax error: a quoted value starts on this line and its closing quote is missing\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			writeFile(t, path, tc.yaml)
			code, out, errOut := run(t, "check-config", "--config", path)
			if want := strings.ReplaceAll(tc.stderr, "FILE", path); code != 1 || out != "" || errOut != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
			}
		})
	}

	path := filepath.Join(dir, "valid.yaml")
	writeFile(t, path, "taskip:\n  base_url: http://ops:"+ccURLPassword+"@127.0.0.1:1/api\n  secret_key: "+ccTaskIPKey+"\n")
	code, out, errOut := run(t, "check-config", "--config", path)
	if code != 0 || !strings.Contains(out, "base_url: http://ops:xxxxx@127.0.0.1:1/api\n") ||
		strings.Contains(out+errOut, ccURLPassword) || strings.Contains(out+errOut, ccTaskIPKey) {
		t.Errorf("valid file with a URL password: exit %d\n%s%s", code, out, errOut)
	}
}

// checkEnv is every server check-config --connect talks to, on loopback,
// and the values of the configuration file pointing at them. Tests change
// the values (or the servers) to break one thing at a time.
type checkEnv struct {
	t     *testing.T
	dir   string
	imap  *mailtest.MemServer
	smtp  *mailtest.SMTPServer
	slack *slackfake.Server

	BaseURL, SecretKey                   string
	IMAPAddr, IMAPTLS, IMAPPassword      string
	Mailbox, Processed, Failed           string
	SMTPAddr, SMTPTLS, SMTPPassword      string
	SlackAPI, BotToken, AppToken         string
	IMAPUser, SMTPUser, Channel, Timeout string
}

func newCheckEnv(t *testing.T) *checkEnv {
	t.Helper()
	_, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: ccTaskIPKey})
	imapSrv := mailtest.StartMemServer(t, mailtest.MemOptions{Password: ccIMAPPassword, Mailboxes: []string{"Processed"}})
	smtpSrv := mailtest.StartSMTP(t, mailtest.SMTPOptions{Username: ccAddress, Password: ccSMTPPassword, AllowInsecureAuth: true})
	sl := slackfake.New(t)
	sl.SetToken(ccBotToken)
	sl.SetChannels(ccChannel, "C0OTHER")
	sl.NameChannel(ccChannel, "support")
	sl.SetMemberOf(ccChannel)
	return &checkEnv{
		t: t, dir: t.TempDir(), imap: imapSrv, smtp: smtpSrv, slack: sl,
		BaseURL: base, SecretKey: ccTaskIPKey,
		IMAPAddr: imapSrv.Addr(), IMAPTLS: "none", IMAPUser: imapSrv.Username(), IMAPPassword: ccIMAPPassword,
		Mailbox: "INBOX", Processed: "Processed", Failed: "Failed",
		SMTPAddr: smtpSrv.Addr(), SMTPTLS: "none", SMTPUser: ccAddress, SMTPPassword: ccSMTPPassword,
		SlackAPI: sl.URL(), BotToken: ccBotToken, Channel: ccChannel,
		Timeout: "5s",
	}
}

func (e *checkEnv) writeConfig() string {
	e.t.Helper()
	slackAuth := "  signing_secret: " + ccSigningSecret + "\n"
	if e.AppToken != "" {
		slackAuth = "  app_token: " + e.AppToken + "\n"
	}
	cfg := fmt.Sprintf(`taskip:
  base_url: %s
  secret_key: %s
state:
  path: %s
mail:
  address: %s
  imap:
    addr: %q
    tls: %s
    username: %s
    password: %s
    mailbox: %s
    processed_mailbox: %s
    failed_mailbox: %s
  smtp:
    addr: %q
    tls: %s
    username: %s
    password: %s
slack:
  bot_token: %s
%s  api_url: %s
  channel: %s
`, e.BaseURL, e.SecretKey, filepath.Join(e.dir, "state.db"), ccAddress,
		e.IMAPAddr, e.IMAPTLS, e.IMAPUser, e.IMAPPassword, e.Mailbox, e.Processed, e.Failed,
		e.SMTPAddr, e.SMTPTLS, e.SMTPUser, e.SMTPPassword,
		e.BotToken, slackAuth, e.SlackAPI, e.Channel)
	path := filepath.Join(e.dir, "ticketsync.yaml")
	writeFile(e.t, path, cfg)
	return path
}

// checkRun is one `check-config --connect` run: its exit code and the
// lines of its checks by service.
type checkRun struct {
	code   int
	out    string
	lines  []string
	byName map[string][]string
}

var durationRe = regexp.MustCompile(`   \((\d+ ms|\d+\.\d s)\)$`)

// connect runs check-config --connect on the env's configuration and
// asserts what holds for every run: no secret anywhere in the output, one
// line per check in the fixed order, each with its duration.
func (e *checkEnv) connect() checkRun {
	e.t.Helper()
	code, out, errOut := run(e.t, "check-config", "--connect", "--timeout", e.Timeout, "--config", e.writeConfig())
	for _, s := range ccSecrets {
		if strings.Contains(out+errOut, s) {
			e.t.Errorf("secret %q in the output:\n%s%s", s, out, errOut)
		}
	}
	r := checkRun{code: code, out: out, byName: map[string][]string{}}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || !strings.HasSuffix(lines[0], "ok; trying its connections (at most "+e.Timeout+" each)") {
		e.t.Fatalf("exit %d, unexpected output:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var order []string
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) < 3 {
			e.t.Fatalf("short line %q in\n%s", l, out)
		}
		if !durationRe.MatchString(l) {
			e.t.Errorf("line without a duration: %q", l)
		}
		name := fields[1]
		if len(order) == 0 || order[len(order)-1] != name {
			order = append(order, name)
		}
		r.lines = append(r.lines, l)
		r.byName[name] = append(r.byName[name], l)
	}
	if got := strings.Join(order, ","); got != "taskip,imap,smtp,slack" {
		e.t.Errorf("services in order %s, want taskip,imap,smtp,slack:\n%s", got, out)
	}
	return r
}

// expect asserts the exit code, that the failing services are exactly
// failing and that each of their lines contains the wanted texts.
func (r checkRun) expect(t *testing.T, failing map[string][]string) {
	t.Helper()
	wantCode := 0
	if len(failing) > 0 {
		wantCode = 1
	}
	if r.code != wantCode {
		t.Errorf("exit code %d, want %d:\n%s", r.code, wantCode, r.out)
	}
	for name, lines := range r.byName {
		for _, l := range lines {
			want, fails := failing[name]
			prefix := fmt.Sprintf("%-6s%-7s", "ok", name)
			if fails {
				prefix = fmt.Sprintf("%-6s%-7s", "FAIL", name)
			}
			if !strings.HasPrefix(l, prefix) {
				t.Errorf("line %q does not start with %q", l, prefix)
				continue
			}
			for _, w := range want {
				if !strings.Contains(l, w) {
					t.Errorf("%s line lacks %q:\n%s", name, w, l)
				}
			}
		}
	}
}

func TestCheckConfigConnectAllPass(t *testing.T) {
	t.Parallel()
	e := newCheckEnv(t)
	r := e.connect()
	r.expect(t, nil)
	if len(r.lines) != 4 {
		t.Errorf("%d check lines, want 4:\n%s", len(r.lines), r.out)
	}
	wants := map[string][]string{
		"taskip": {"GET " + e.BaseURL + "/support-ticket?limit=1: key accepted"},
		"imap":   {"login support@example.com at " + e.IMAPAddr, "SELECT INBOX (0 messages)", "folder Processed exists", "created folder Failed"},
		"smtp":   {"EHLO at " + e.SMTPAddr + " without TLS", "AUTH as support@example.com accepted", "QUIT (no mail sent)"},
		"slack":  {"auth.test: @ticketsync (" + slackfake.BotUserID + ")", "member of #support (" + ccChannel + ")"},
	}
	for name, w := range wants {
		for _, s := range w {
			if !strings.Contains(r.byName[name][0], s) {
				t.Errorf("%s line lacks %q:\n%s", name, s, r.byName[name][0])
			}
		}
	}
	if n := len(e.smtp.Messages()); n != 0 {
		t.Errorf("the SMTP check sent %d messages", n)
	}

	// The folder made by the first run is found by the second.
	r = e.connect()
	r.expect(t, map[string][]string{})
	if !strings.Contains(r.byName["imap"][0], "folders Processed, Failed exist") {
		t.Errorf("second run:\n%s", r.out)
	}
}

func TestCheckConfigConnectSocketMode(t *testing.T) {
	t.Parallel()
	e := newCheckEnv(t)
	in := slackfake.NewInbound(t, e.slack)
	in.SetAppToken(ccAppToken)
	e.SlackAPI, e.AppToken = in.URL(), ccAppToken
	r := e.connect()
	r.expect(t, nil)
	if got := r.byName["slack"]; len(got) != 2 || !strings.Contains(got[1], "Socket Mode: apps.connections.open accepted slack.app_token (no connection opened)") {
		t.Errorf("slack lines:\n%s", strings.Join(got, "\n"))
	}

	in.SetAppToken("xapp-secret-other-0004")
	r = e.connect()
	got := r.byName["slack"]
	if r.code != 1 || len(got) != 2 || !strings.HasPrefix(got[0], "ok") ||
		!strings.Contains(got[1], "Slack refused the token (invalid_auth): check slack.app_token") {
		t.Errorf("slack lines with a wrong app token:\n%s", strings.Join(got, "\n"))
	}
}

// closedPort is an address on loopback where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestCheckConfigConnectFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		breakIt func(e *checkEnv)
		failing map[string][]string
	}{
		{
			name:    "wrong IMAP password",
			breakIt: func(e *checkEnv) { e.IMAPPassword = ccWrongPassword },
			failing: map[string][]string{"imap": {"login as support@example.com refused", "check mail.imap.username and password"}},
		},
		{
			name:    "mailbox to read missing",
			breakIt: func(e *checkEnv) { e.Mailbox = "Support" },
			failing: map[string][]string{"imap": {"mailbox Support does not exist: create it or fix mail.imap.mailbox"}},
		},
		{
			name:    "SMTP refuses AUTH",
			breakIt: func(e *checkEnv) { e.SMTPPassword = ccWrongPassword },
			failing: map[string][]string{"smtp": {"AUTH refused (535 5.7.8 Invalid credentials): check mail.smtp.username and password"}},
		},
		{
			name:    "TaskIP 401",
			breakIt: func(e *checkEnv) { e.SecretKey = ccWrongKey },
			failing: map[string][]string{"taskip": {"TaskIP refused the key (401 Unauthorized): check taskip.secret_key"}},
		},
		{
			name:    "Slack invalid_auth",
			breakIt: func(e *checkEnv) { e.BotToken = ccWrongToken },
			failing: map[string][]string{"slack": {"Slack refused the token (invalid_auth): check slack.bot_token"}},
		},
		{
			name:    "bot not in channel",
			breakIt: func(e *checkEnv) { e.slack.SetMemberOf("C0OTHER") },
			failing: map[string][]string{"slack": {"bot @ticketsync is not a member of #support (" + ccChannel + ")", "invite the bot: /invite @ticketsync in the channel"}},
		},
		{
			name:    "channel missing",
			breakIt: func(e *checkEnv) { e.Channel = "C0GONE" },
			failing: map[string][]string{"slack": {"channel C0GONE not found: check slack.channel"}},
		},
		{
			name:    "Slack scope missing",
			breakIt: func(e *checkEnv) { e.slack.SetMissingScopes("channels:read") },
			failing: map[string][]string{"slack": {"missing_scope: add the channels:read bot scope (groups:read for a private channel) to the Slack app"}},
		},
		{
			name: "hosts unreachable",
			breakIt: func(e *checkEnv) {
				e.BaseURL = "http://" + closedPort(e.t) + "/api/public-v1"
				e.IMAPAddr, e.SMTPAddr = closedPort(e.t), closedPort(e.t)
				e.SlackAPI = "http://" + closedPort(e.t) + "/api/"
			},
			failing: map[string][]string{
				"taskip": {"connection refused by 127.0.0.1:", "check taskip.base_url"},
				"imap":   {"connection refused by 127.0.0.1:", "check mail.imap.addr"},
				"smtp":   {"connection refused by 127.0.0.1:", "check mail.smtp.addr"},
				"slack":  {"connection refused by 127.0.0.1:", "check slack.api_url"},
			},
		},
		{
			name:    "implicit TLS against a plaintext port",
			breakIt: func(e *checkEnv) { e.IMAPTLS, e.SMTPTLS = "implicit", "implicit" },
			failing: map[string][]string{
				"imap": {"the server does not speak TLS on this port: check mail.imap.tls: implicit TLS is usually port 993, starttls 143"},
				"smtp": {"the server does not speak TLS on this port: check mail.smtp.tls: implicit TLS is usually port 465, starttls 587"},
			},
		},
		{
			name: "plaintext against an implicit TLS port",
			breakIt: func(e *checkEnv) {
				e.SMTPAddr = mailtest.StartSMTP(e.t, mailtest.SMTPOptions{ImplicitTLS: true}).Addr()
				e.SMTPUser, e.SMTPPassword, e.Timeout = "", "", "500ms"
			},
			failing: map[string][]string{"smtp": {"within 500ms during greeting: check mail.smtp.tls: implicit TLS is usually port 465, starttls 587"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newCheckEnv(t)
			tc.breakIt(e)
			e.connect().expect(t, tc.failing)
		})
	}
}

// Secrets are kept out of messages by construction; this run has servers
// that quote them back (Slack echoing the token, a URL with a password) to
// show that nothing gets through even then.
func TestCheckConfigConnectHidesSecrets(t *testing.T) {
	t.Parallel()
	e := newCheckEnv(t)
	e.slack.EchoAuthNext(1)
	e.BaseURL = strings.Replace(e.BaseURL, "http://", "http://ops:"+ccURLPassword+"@", 1)
	r := e.connect() // fails the test on any secret in the output
	r.expect(t, map[string][]string{"slack": {"check slack.bot_token"}})
	if strings.Contains(r.out, "ops:") {
		t.Errorf("URL user info in the output:\n%s", r.out)
	}
}

func TestCheckConfigConnectDovecot(t *testing.T) {
	t.Parallel()
	dc := mailtest.StartDovecot(t)
	e := newCheckEnv(t)
	e.IMAPAddr, e.IMAPUser, e.IMAPPassword = dc.Addr(), dc.Username(), dc.Password()

	r := e.connect()
	r.expect(t, nil)
	if l := r.byName["imap"][0]; !strings.Contains(l, "SELECT INBOX (0 messages)") || !strings.Contains(l, "created folders Processed, Failed") {
		t.Errorf("first run: %s", l)
	}
	r = e.connect()
	r.expect(t, nil)
	if l := r.byName["imap"][0]; !strings.Contains(l, "folders Processed, Failed exist") {
		t.Errorf("second run: %s", l)
	}

	e.Mailbox = "Support"
	e.connect().expect(t, map[string][]string{"imap": {"mailbox Support does not exist: create it or fix mail.imap.mailbox"}})

	// Maildir++ folders cannot contain "/": Dovecot refuses the CREATE.
	e.Mailbox, e.Failed = "INBOX", "Failed/Mail"
	e.connect().expect(t, map[string][]string{"imap": {"folder Failed/Mail is missing and could not be created", "create it or fix mail.imap.failed_mailbox"}})

	e.Failed, e.IMAPPassword = "Failed", ccWrongPassword
	e.connect().expect(t, map[string][]string{"imap": {"login as support@example.com refused", "check mail.imap.username and password"}})
}

func TestCheckConfigConnectFlags(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	closed := closedPort(t)
	writeFile(t, path, "taskip:\n  base_url: http://"+closed+"/api\n  secret_key: "+ccTaskIPKey+"\n")
	if code, _, errOut := run(t, "check-config", "--timeout", "1s", "--config", path); code != 2 || !strings.Contains(errOut, "--timeout needs --connect") {
		t.Errorf("--timeout without --connect: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "check-config", "--connect", "--timeout", "0s", "--config", path); code != 2 || !strings.Contains(errOut, "greater than 0") {
		t.Errorf("--timeout 0s: %d %q", code, errOut)
	}
	// Without mail and Slack sections only TaskIP is tried; --quiet
	// leaves the failure alone on stdout.
	code, out, _ := run(t, "check-config", "--connect", "--quiet", "--timeout", "2s", "--config", path)
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "FAIL  taskip connection refused by "+closed+": check taskip.base_url") {
		t.Errorf("quiet run: %d %q", code, out)
	}
	code, out, _ = run(t, "check-config", "--connect", "--timeout", "2s", "--config", path)
	for _, want := range []string{"skip  imap   no mail section", "skip  smtp   no mail section", "skip  slack  no slack section"} {
		if code != 1 || !strings.Contains(out, want+":") {
			t.Errorf("run without sections lacks %q: %d\n%s", want, code, out)
		}
	}
}
