package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/logtest"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/oauthfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The daemon signs in to IMAP and SMTP with OAuth 2.0 from its
// configuration, and lives through what tokens go through: expiry during
// a long run (the reconnect renews), a revoked refresh token (the log says
// what to do, /readyz turns unready) and the operator replacing the
// secret file (it recovers without a restart). No token or secret reaches
// the log or the state file.
func TestDaemonOAuthLifecycle(t *testing.T) {
	clock := mailtest.NewClock(time.Now()) // the identity provider's, which the test moves
	fake := oauthfake.New(t, oauthfake.Options{Now: clock.Now})
	fake.AddClient(oauthfake.Client{ID: oauthClient, Secret: oauthSecret})
	fake.AddUser(supportAddr)
	rt1, err := fake.IssueRefreshToken(oauthClient, supportAddr, "mail")
	require.NoError(t, err)
	dir := t.TempDir()
	rtFile := filepath.Join(dir, "refresh_token")
	require.NoError(t, os.WriteFile(rtFile, []byte(rt1+"\n"), 0o600))
	secretFile := filepath.Join(dir, "client_secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(oauthSecret), 0o600))

	validate := func(mb, tok string) error { return fake.ValidateFor(tok, mb) }
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{OAuth: validate})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{OAuth: validate, AllowInsecureAuth: true})
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	sections := fmt.Sprintf(`mail:
  address: %[1]s
  imap: {addr: "%[2]s", tls: none, auth: oauth2, username: %[1]s, poll_schedule: "@every 1s"}
  smtp: {addr: "%[3]s", tls: none, auth: oauth2, username: %[1]s, from: "Acme Support <%[1]s>"}
  send_agent_replies: false
  oauth2:
    provider: generic
    token_url: %[4]s
    client_id: %[5]s
    client_secret_file: %[6]s
    refresh_token_file: %[7]s
    scopes: [mail]
`, supportAddr, imap.Addr(), smtp.Addr(), fake.TokenURL(), oauthClient, secretFile, rtFile)
	var logged logtest.Buffer
	statePath := filepath.Join(dir, "state.db")
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logged, logtest.Writer(t)), &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, stop := startDaemonAt(t, base, statePath, sections, Options{Logger: log})
	t.Cleanup(stop)
	ticketFor := func(subject string) {
		t.Helper()
		require.Eventually(t, func() bool {
			for _, tk := range tf.Tickets() {
				if tk.Subject == subject {
					return true
				}
			}
			return false
		}, 30*time.Second, 20*time.Millisecond, "a ticket %q", subject)
	}
	ready := func() (int, string) {
		resp, err := http.Get("http://" + d.Addr() + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	imap.Append(t, "INBOX", mailMsg("o1@customers.test", "Jane Roe <jane@customers.test>", "Signed in with OAuth", "Hi.\n"))
	ticketFor("Signed in with OAuth")
	require.Eventually(t, func() bool { return len(smtp.Messages()) == 1 }, 30*time.Second, 20*time.Millisecond,
		"the acknowledgement goes out over SMTP signed in with OAuth")

	// Hours later the access token has expired at the provider; the
	// server drops the connection and the reconnect renews it.
	fetched := len(fake.RequestsTo(oauthfake.PathToken))
	clock.Advance(3 * time.Hour)
	imap.Stop()
	imap.Restart(t)
	imap.Append(t, "INBOX", mailMsg("o2@customers.test", "Jane Roe <jane@customers.test>", "After the token expired", "Hi again.\n"))
	ticketFor("After the token expired")
	assert.Greater(t, len(fake.RequestsTo(oauthfake.PathToken)), fetched, "a fresh token was fetched")

	// The refresh token is revoked: the sign-in fails with what to do.
	fake.RevokeAll()
	clock.Advance(3 * time.Hour)
	imap.Stop()
	imap.Restart(t)
	require.Eventually(t, func() bool { code, _ := ready(); return code == http.StatusServiceUnavailable }, 30*time.Second, 50*time.Millisecond)
	_, body := ready()
	assert.Contains(t, body, "imap: not connected")
	require.Eventually(t, func() bool { return strings.Contains(logged.String(), "invalid_grant") }, 30*time.Second, 50*time.Millisecond)
	assert.Contains(t, logged.String(), "mail.oauth2.refresh_token")

	// The operator runs `mail authorize` again and replaces the file.
	rt2, err := fake.IssueRefreshToken(oauthClient, supportAddr, "mail")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rtFile, []byte(rt2+"\n"), 0o600))
	require.Eventually(t, func() bool { code, _ := ready(); return code == http.StatusOK }, 60*time.Second, 100*time.Millisecond,
		"recovers without a restart")
	imap.Append(t, "INBOX", mailMsg("o3@customers.test", "Jane Roe <jane@customers.test>", "After the new refresh token", "Hi.\n"))
	ticketFor("After the new refresh token")
	stop()

	state, err := os.ReadFile(statePath)
	require.NoError(t, err)
	for _, secret := range []string{rt1, rt2, oauthSecret} {
		assert.NotContains(t, logged.String(), secret, "no secret in the log")
		assert.NotContains(t, string(state), secret, "no secret in the state file")
	}
	assert.NotContains(t, logged.String(), "Bearer ")
}
