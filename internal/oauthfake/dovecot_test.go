package oauthfake

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests put the fake behind a real Dovecot 2.3 oauth2 passdb, the
// server ticketsync's IMAP tests use, and log in with XOAUTH2 and
// OAUTHBEARER: the proof that the introspection answer is what Dovecot
// needs in each introspection_mode.

func TestDovecotIntrospection(t *testing.T) {
	bin := dovecotBinary(t)
	for _, tc := range []struct {
		mode       string
		clientAuth bool
	}{
		{IntrospectPost, false},
		{IntrospectPost, true},
		{IntrospectGet, false},
		{IntrospectGet, true},
		{IntrospectAuth, false},
	} {
		name := tc.mode
		if tc.clientAuth {
			name += " with client credentials"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, clk := start(t, Options{Flavor: Microsoft, IntrospectionRequiresClientAuth: tc.clientAuth})
			id, secret := "", ""
			if tc.clientAuth {
				id, secret = appID, appSecret
			}
			conf, err := s.DovecotConfig(tc.mode, id, secret)
			require.NoError(t, err)
			addr := startDovecot(t, bin, conf)

			good := s.IssueAccessToken(appID, mailbox, imapDelegated)
			assert.Equal(t, "OK", imapLogin(t, addr, "XOAUTH2", mailbox, good))
			assert.Equal(t, "OK", imapLogin(t, addr, "OAUTHBEARER", mailbox, good))
			last := lastTo(t, s, PathIntrospect)
			assert.Equal(t, tc.mode, last.IntrospectMode)
			assert.Empty(t, last.Detail)

			const refused = "NO [AUTHENTICATIONFAILED]"
			other := s.IssueAccessToken(appID, "sales@example.com", imapDelegated)
			assert.Equal(t, refused, imapLogin(t, addr, "XOAUTH2", mailbox, other), "token of another user")

			revoked := s.IssueAccessToken(appID, mailbox, imapDelegated)
			s.Revoke(revoked)
			assert.Equal(t, refused, imapLogin(t, addr, "XOAUTH2", mailbox, revoked))
			assert.Equal(t, refused, imapLogin(t, addr, "OAUTHBEARER", mailbox, "never-issued"))

			clk.Advance(time.Hour)
			assert.Equal(t, refused, imapLogin(t, addr, "XOAUTH2", mailbox, good), "expired on the fake's clock")
			assert.Contains(t, lastTo(t, s, PathIntrospect).Detail, "expired")

			// A provider outage is a temporary failure, not a wrong token.
			s.FailNext(PathIntrospect, 1, http.StatusServiceUnavailable)
			fresh := s.IssueAccessToken(appID, mailbox, imapDelegated)
			assert.Equal(t, "NO [UNAVAILABLE]", imapLogin(t, addr, "XOAUTH2", mailbox, fresh))
			assert.Equal(t, "OK", imapLogin(t, addr, "XOAUTH2", mailbox, fresh))
		})
	}
}

func dovecotBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				bin = p
			}
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("dovecot not installed (CI=true): apt-get install dovecot-imapd")
		}
		t.Skip("dovecot not installed: apt-get install dovecot-imapd")
	}
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	if v := string(out); !strings.HasPrefix(v, "2.3.") {
		// 2.4 moved token validation out of the passdb and renamed its
		// settings; this config is 2.3's.
		t.Skipf("dovecot %s: these tests are written for 2.3", strings.TrimSpace(v))
	}
	return bin
}

// dovecotConf23 is a minimal Dovecot 2.3 serving IMAP on loopback with
// the oauth2 passdb only. Arguments: dir, port, uid, gid, login user,
// internal user, internal group.
const dovecotConf23 = `protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
default_login_user = %[5]s
default_internal_user = %[6]s
default_internal_group = %[7]s
first_valid_uid = %[3]d
ssl = no
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_failure_delay = 0
auth_debug = yes
mail_location = maildir:%[1]s/mail/%%u
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[1]s/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=%[3]d gid=%[4]d home=%[1]s/mail/%%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`

// startDovecot runs Dovecot in the foreground, in its own process group
// so that stopping it reaches its children, until the test ends.
func startDovecot(t *testing.T, bin, oauth2Conf string) string {
	t.Helper()
	loginUser, sys := "", (*user.User)(nil)
	var err error
	if os.Geteuid() == 0 {
		// Dovecot refuses to run its login and internal processes as root.
		if sys, err = user.Lookup("dovecot"); err != nil {
			t.Skip("no dovecot system user")
		}
		loginUser = "dovenull"
		if _, err := user.Lookup(loginUser); err != nil {
			loginUser = sys.Username
		}
	} else {
		sys, err = user.Current()
		require.NoError(t, err)
		loginUser = sys.Username
	}
	uid, err := strconv.Atoi(sys.Uid)
	require.NoError(t, err)
	gid, err := strconv.Atoi(sys.Gid)
	require.NoError(t, err)
	group, err := user.LookupGroupId(sys.Gid)
	require.NoError(t, err)

	// Not t.TempDir(): its long path can push unix socket paths past their
	// limit, and its mode 0700 keeps the unprivileged users out.
	dir, err := os.MkdirTemp("", "tsoa")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, sub := range []string{"", "run", "state", "mail"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
		require.NoError(t, os.Chmod(filepath.Join(dir, sub), 0o755))
	}
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(filepath.Join(dir, "mail"), uid, gid))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "oauth2.conf.ext"), []byte(oauth2Conf), 0o644))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	conf := filepath.Join(dir, "dovecot.conf")
	require.NoError(t, os.WriteFile(conf,
		fmt.Appendf(nil, dovecotConf23, dir, port, uid, gid, loginUser, sys.Username, group.Name), 0o644))

	cmd := exec.Command(bin, "-F", "-c", conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot output:\n%s\ndovecot.log:\n%s", out.String(), log)
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("dovecot exited at start: %s", out.String())
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if err == nil && strings.HasPrefix(line, "* OK") {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot on %s did not greet", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sourceIP numbers the loopback addresses logins come from: Dovecot makes
// an address that failed to log in wait seconds before its next attempt,
// and the tests fail logins on purpose.
var sourceIP atomic.Uint32

// imapLogin authenticates with SASL-IR and returns the tagged status:
// OK, or NO with its response code. A failed XOAUTH2 or OAUTHBEARER exchange first sends an
// error challenge that the client must answer with an empty line.
func imapLogin(t *testing.T, addr, mech, user, token string) string {
	t.Helper()
	n := sourceIP.Add(1)
	from := &net.TCPAddr{IP: net.IPv4(127, 1, byte(n>>8), byte(n))}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: from}).Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	r := bufio.NewReader(conn)
	_, err = r.ReadString('\n')
	require.NoError(t, err)

	var ir string
	switch mech {
	case "XOAUTH2":
		ir = "user=" + user + "\x01auth=Bearer " + token + "\x01\x01"
	case "OAUTHBEARER":
		ir = "n,a=" + user + ",\x01auth=Bearer " + token + "\x01\x01"
	}
	_, err = fmt.Fprintf(conn, "a AUTHENTICATE %s %s\r\n", mech, base64.StdEncoding.EncodeToString([]byte(ir)))
	require.NoError(t, err)
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		switch {
		case strings.HasPrefix(line, "+"):
			_, err = conn.Write([]byte("\r\n"))
			require.NoError(t, err)
		case strings.HasPrefix(line, "a "):
			// "OK", or "NO [AUTHENTICATIONFAILED]" for a refused token and
			// "NO [UNAVAILABLE]" when Dovecot could not ask.
			status, _, _ := strings.Cut(strings.TrimPrefix(line, "a "), "]")
			if strings.HasPrefix(status, "OK") {
				return "OK"
			}
			return status + "]"
		}
	}
}
