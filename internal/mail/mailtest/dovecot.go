package mailtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a real Dovecot serving IMAP on 127.0.0.1 from a temporary
// directory, with one user (support@example.com / test-password).
type Dovecot struct {
	dir, conf, bin, version string
	addr                    string
	admin                   *admin
	t                       testing.TB

	logOnce sync.Once

	mu      sync.Mutex
	proc    *exec.Cmd
	exited  chan struct{}
	output  *bytes.Buffer
	stopped bool
}

var _ Server = (*Dovecot)(nil)

const (
	dovecotUser     = "support@example.com"
	dovecotPassword = "test-password"
	dovecotReady    = 20 * time.Second
)

// DovecotOptions configures StartDovecotWith. The zero value is
// StartDovecot's server.
type DovecotOptions struct {
	// OAuthIntrospectionURL, when set, makes Dovecot accept AUTHENTICATE
	// XOAUTH2 and OAUTHBEARER next to the password, checking each token
	// with this RFC 7662 endpoint (an oauthfake.Server's
	// IntrospectionURL(mode), credentials as user:password@ when the
	// endpoint wants them). Dovecot 2.3 only: 2.4 configures OAuth
	// differently and the test is skipped there.
	OAuthIntrospectionURL string
	// IntrospectionMode is Dovecot's introspection_mode: "post" (the
	// default), "get" (the URL must end in "?token=") or "auth".
	IntrospectionMode string
	// OAuthMechanisms limits the OAuth mechanisms offered to these
	// (XOAuth2, OAuthBearer); default both.
	OAuthMechanisms []string
}

// StartDovecot starts Dovecot and stops it in t.Cleanup. Without the
// binary the test is skipped, except under CI=true where that is a failure:
// CI installs dovecot-imapd and a silent skip would hide the gap.
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	return StartDovecotWith(t, DovecotOptions{})
}

// StartDovecotWith is StartDovecot with options.
//
// Dovecot makes an address that failed to log in wait (anvil's auth
// penalty, seconds, growing with each failure) before its next login, the
// admin helpers' included: a test that fails logins on purpose should use
// a server of its own or log in from another 127.x address.
func StartDovecotWith(t testing.TB, opts DovecotOptions) *Dovecot {
	t.Helper()
	bin := findDovecot()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("dovecot not installed (CI=true): apt-get install dovecot-imapd")
		}
		t.Skip("dovecot not installed: apt-get install dovecot-imapd")
	}
	version, err := dovecotVersion(bin)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if opts.OAuthIntrospectionURL != "" && versionAtLeast(version, 2, 4) {
		t.Skipf("mailtest: dovecot %s: the OAuth configuration is written for 2.3", version)
	}
	conf, err := dovecotAccounts()
	if err != nil {
		t.Fatalf("mailtest: dovecot accounts: %v", err)
	}

	// Not t.TempDir(): its path carries the test name and can push
	// Dovecot's unix sockets past the 108-byte limit, and it is mode 0700,
	// which the unprivileged mail and login users cannot enter.
	dir, err := os.MkdirTemp("", "tsdc")
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, sub := range []string{"", "run", "state", "mail"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "mail"), conf.MailUID, conf.MailGID); err != nil && os.Geteuid() == 0 {
		t.Fatalf("mailtest: %v", err)
	}
	passwd := fmt.Sprintf("%s:{PLAIN}%s\n", dovecotUser, dovecotPassword)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if opts.OAuthIntrospectionURL != "" {
		args, err := oauth2Args(opts)
		if err != nil {
			t.Fatalf("mailtest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "oauth2.conf.ext"), []byte(args), 0o644); err != nil {
			t.Fatalf("mailtest: %v", err)
		}
		for _, m := range oauthMechanisms(opts.OAuthMechanisms) {
			if m != XOAuth2 && m != OAuthBearer {
				t.Fatalf("mailtest: OAuth mechanism %q: want %s or %s", m, XOAuth2, OAuthBearer)
			}
			conf.OAuthMechanisms = append(conf.OAuthMechanisms, strings.ToLower(m))
		}
	}

	port, err := freePort()
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	conf.Dir, conf.Port = dir, port
	d := &Dovecot{
		dir: dir, conf: filepath.Join(dir, "dovecot.conf"), bin: bin, version: version,
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
	}
	if err := os.WriteFile(d.conf, []byte(conf.render(version)), 0o644); err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	d.admin = &admin{addr: d.addr, user: dovecotUser, pass: dovecotPassword}
	t.Cleanup(d.Close)
	d.start(t)
	return d
}

// oauth2Args is the oauth2 passdb's args file. The introspection answer
// names the mailbox in "username" and says "active": true, which
// Dovecot's JSON parser hands over as the text "true".
func oauth2Args(opts DovecotOptions) (string, error) {
	mode := opts.IntrospectionMode
	if mode == "" {
		mode = "post"
	}
	switch mode {
	case "post", "auth":
	case "get":
		if !strings.HasSuffix(opts.OAuthIntrospectionURL, "?token=") {
			return "", fmt.Errorf("introspection_mode get: Dovecot appends the token to the URL, which must end in ?token= (got %q)", opts.OAuthIntrospectionURL)
		}
	default:
		return "", fmt.Errorf("introspection_mode %q: want post, get or auth", mode)
	}
	if strings.ContainsAny(opts.OAuthIntrospectionURL, "\n\r") {
		return "", fmt.Errorf("introspection URL %q spans lines", opts.OAuthIntrospectionURL)
	}
	return "introspection_mode = " + mode + "\n" +
		"introspection_url = " + opts.OAuthIntrospectionURL + "\n" +
		"username_attribute = username\n" +
		"active_attribute = active\n" +
		"active_value = true\n", nil
}

func findDovecot() string {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p
	}
	// /usr/sbin is not on every PATH (non-root shells, some CI images).
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs `dovecot -F` in its own process group and waits until it
// greets.
func (d *Dovecot) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(d.bin, "-F", "-c", d.conf)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own group, so Stop reaches the imap and auth children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("mailtest: start dovecot: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	d.mu.Lock()
	d.proc, d.exited, d.output, d.stopped = cmd, exited, out, false
	d.mu.Unlock()

	deadline := time.Now().Add(dovecotReady)
	for {
		select {
		case <-exited:
			t.Fatalf("mailtest: dovecot %s exited at start: %s\n%s", d.version, out.String(), d.log())
		default:
		}
		if greets(d.addr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: dovecot on %s did not greet within %v\n%s", d.addr, dovecotReady, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// greets reports whether addr answers with an IMAP "* OK" greeting.
func greets(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "* OK")
}

func (d *Dovecot) log() string {
	b, err := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	if err != nil {
		return "(no dovecot.log: " + err.Error() + ")"
	}
	return string(b)
}

// Version is what `dovecot --version` printed, e.g. "2.3.19.1".
func (d *Dovecot) Version() string  { return d.version }
func (d *Dovecot) Addr() string     { return d.addr }
func (d *Dovecot) Username() string { return dovecotUser }
func (d *Dovecot) Password() string { return dovecotPassword }

func (d *Dovecot) Append(t testing.TB, mailbox string, raw []byte) uint32 {
	t.Helper()
	return d.admin.appendMsg(t, mailbox, raw)
}

func (d *Dovecot) AppendAt(t testing.TB, mailbox string, raw []byte, received time.Time, flags ...string) uint32 {
	t.Helper()
	return d.admin.appendAt(t, mailbox, raw, received, flags...)
}

func (d *Dovecot) Messages(t testing.TB, mailbox string) []MemMessage {
	t.Helper()
	return d.admin.messages(t, mailbox)
}

func (d *Dovecot) UIDValidity(t testing.TB, mailbox string) uint32 {
	t.Helper()
	return d.admin.uidValidity(t, mailbox)
}

func (d *Dovecot) CreateMailbox(t testing.TB, name string) {
	t.Helper()
	d.admin.create(t, name)
}

func (d *Dovecot) AddFlags(t testing.TB, mailbox string, uid uint32, flags ...string) {
	t.Helper()
	d.admin.addFlags(t, mailbox, uid, flags...)
}

// RecreateMailbox empties mailbox and sets a new UIDVALIDITY with doveadm.
// IMAP cannot do it for INBOX (DELETE INBOX is refused), and Dovecot keeps
// UIDNEXT, so unlike MemServer the UIDs do not restart at 1.
func (d *Dovecot) RecreateMailbox(t testing.TB, mailbox string) {
	t.Helper()
	old := d.UIDValidity(t, mailbox)
	d.admin.expungeAll(t, mailbox)
	doveadm := filepath.Join(filepath.Dir(d.bin), "..", "bin", "doveadm")
	if _, err := os.Stat(doveadm); err != nil {
		if doveadm, err = exec.LookPath("doveadm"); err != nil {
			t.Fatalf("mailtest: doveadm not found: %v", err)
		}
	}
	out, err := exec.Command(doveadm, "-c", d.conf, "mailbox", "update", "-u", dovecotUser,
		"--uid-validity", strconv.FormatUint(uint64(old)+1, 10), mailbox).CombinedOutput()
	if err != nil {
		t.Fatalf("mailtest: doveadm mailbox update: %v: %s", err, out)
	}
}

// Stop kills the whole process group at once (SIGKILL): sessions see the
// connection drop, as when a server crashes.
func (d *Dovecot) Stop() { d.signal(syscall.SIGKILL) }

func (d *Dovecot) signal(sig syscall.Signal) {
	d.mu.Lock()
	proc, exited, stopped := d.proc, d.exited, d.stopped
	d.stopped = true
	d.mu.Unlock()
	if proc == nil || stopped {
		return
	}
	_ = syscall.Kill(-proc.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	// The master is gone; children still exiting may hold the port a
	// moment longer.
	_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
}

// Restart starts Dovecot again on the same port with the same mail.
func (d *Dovecot) Restart(t testing.TB) {
	t.Helper()
	d.Stop()
	if !waitFor(10*time.Second, func() bool {
		ln, err := net.Listen("tcp", d.addr)
		if err == nil {
			ln.Close()
		}
		return err == nil
	}) {
		t.Fatalf("mailtest: port %s still busy after stop", d.addr)
	}
	d.start(t)
}

// Close stops Dovecot gracefully and, if the test failed, logs its log.
func (d *Dovecot) Close() {
	d.signal(syscall.SIGTERM)
	d.logOnce.Do(func() {
		if d.t.Failed() {
			d.t.Logf("dovecot %s log:\n%s", d.version, d.log())
		}
	})
}
