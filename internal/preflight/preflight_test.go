package preflight_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/config"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/preflight"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

const (
	secretKey   = "tk-secret-0a1b2c3d"
	imapPass    = "imap-secret-4e5f6a"
	smtpPass    = "smtp-secret-7b8c9d"
	botToken    = "xoxb-secret-0e1f2a"
	mailAddress = "support@example.com"
)

// baseConfig is a configuration of TaskIP alone, pointing at a fake.
func baseConfig(t *testing.T) *config.Config {
	t.Helper()
	_, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: secretKey})
	cfg := config.Default()
	cfg.TaskIP.BaseURL, cfg.TaskIP.SecretKey = base, secretKey
	return &cfg
}

// withMail adds a mail section reading imapAddr (none TLS) and, when
// smtpAddr is set, sending through it.
func withMail(cfg *config.Config, imapAddr, smtpAddr string) *config.Mail {
	m := config.DefaultMail()
	m.Address = mailAddress
	m.IMAP.Addr, m.IMAP.TLS, m.IMAP.Username, m.IMAP.Password = imapAddr, config.TLSNone, mailAddress, imapPass
	if smtpAddr != "" {
		m.SMTP.Addr, m.SMTP.TLS, m.SMTP.Username, m.SMTP.Password = smtpAddr, config.TLSNone, mailAddress, smtpPass
	}
	cfg.Mail = &m
	return &m
}

func byService(results []preflight.Result) map[string][]preflight.Result {
	out := map[string][]preflight.Result{}
	for _, r := range results {
		out[r.Service] = append(out[r.Service], r)
	}
	return out
}

func TestRunSkipsAbsentSections(t *testing.T) {
	cfg := baseConfig(t)
	results := preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second})
	require.Len(t, results, 4)
	want := []string{preflight.ServiceTaskIP, preflight.ServiceIMAP, preflight.ServiceSMTP, preflight.ServiceSlack}
	for i, r := range results {
		assert.Equal(t, want[i], r.Service)
	}
	assert.Equal(t, preflight.StatusOK, results[0].Status, results[0].Detail)
	for _, r := range results[1:] {
		assert.Equal(t, preflight.StatusSkip, r.Status)
		assert.NotContains(t, r.String(), "ms)", "a skipped check has no duration")
	}
	assert.True(t, preflight.Passed(results))

	cfg.Mail = &config.Mail{IMAP: config.IMAP{Addr: "127.0.0.1:1"}}
	results = preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second})
	assert.Equal(t, "mail.smtp.addr is not set: no mail is sent", byService(results)["smtp"][0].Detail)
	assert.False(t, preflight.Passed(results), "the IMAP address is closed")
}

func TestMailOverTLS(t *testing.T) {
	serverTLS, clientTLS := mailtest.SelfSignedTLS(t)
	smtpImplicit := mailtest.StartSMTP(t, mailtest.SMTPOptions{ImplicitTLS: true, Username: mailAddress, Password: smtpPass})
	smtpStartTLS := mailtest.StartSMTP(t, mailtest.SMTPOptions{StartTLS: true, Username: mailAddress, Password: smtpPass})
	imapImplicit := mailtest.StartMemServer(t, mailtest.MemOptions{Password: imapPass, TLSConfig: serverTLS, ImplicitTLS: true})
	imapStartTLS := mailtest.StartMemServer(t, mailtest.MemOptions{Password: imapPass, TLSConfig: serverTLS})

	for _, tc := range []struct {
		name       string
		imap, smtp string
		mode       config.TLSMode
		smtpTLS    *tls.Config
		smtpDetail string
	}{
		{"implicit", imapImplicit.Addr(), smtpImplicit.Addr(), config.TLSImplicit, smtpImplicit.ClientTLSConfig(), " over TLS, AUTH as support@example.com accepted"},
		{"starttls", imapStartTLS.Addr(), smtpStartTLS.Addr(), config.TLSStartTLS, smtpStartTLS.ClientTLSConfig(), " after STARTTLS, AUTH as support@example.com accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			m := withMail(cfg, tc.imap, tc.smtp)
			m.IMAP.TLS, m.SMTP.TLS = tc.mode, tc.mode
			results := preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second, IMAPTLS: clientTLS, SMTPTLS: tc.smtpTLS})
			require.True(t, preflight.Passed(results), "%v", results)
			got := byService(results)
			assert.Contains(t, got["imap"][0].Detail, "SELECT INBOX (0 messages)")
			assert.Contains(t, got["imap"][0].Detail, "no processed or failed folder (mail is flagged in place)")
			assert.Contains(t, got["smtp"][0].Detail, tc.smtpDetail)

			// Without the test roots the certificate is not trusted.
			results = preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second})
			got = byService(results)
			for _, svc := range []string{"imap", "smtp"} {
				r := got[svc][0]
				assert.Equal(t, preflight.StatusFail, r.Status)
				assert.Contains(t, r.Detail, "is not trusted (x509: ")
				assert.Contains(t, r.Detail, "check that mail."+svc+".addr names the server's host")
			}
		})
	}
}

// refusingCreate is a real IMAP server whose user may not create folders,
// as with a shared mailbox whose ACL forbids it.
type refusingCreate struct {
	*imapmemserver.UserSession // nil until login
	user                       *imapmemserver.User
}

func (s *refusingCreate) Login(username, password string) error {
	if err := s.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}

func (s *refusingCreate) Create(string, *imap.CreateOptions) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "Permission denied"}
}

func startRefusingCreate(t *testing.T) string {
	t.Helper()
	user := imapmemserver.NewUser(mailAddress, imapPass)
	require.NoError(t, user.Create("INBOX", nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &refusingCreate{user: user}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestFolderThatCannotBeCreated(t *testing.T) {
	cfg := baseConfig(t)
	m := withMail(cfg, startRefusingCreate(t), "")
	m.IMAP.ProcessedMailbox = "Done"
	r := byService(preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second}))["imap"][0]
	assert.Equal(t, preflight.StatusFail, r.Status)
	assert.Equal(t, "folder Done is missing and could not be created (NO [NOPERM] Permission denied): create it or fix mail.imap.processed_mailbox", r.Detail)
}

// A server that accepts and never speaks: the client waits for a greeting
// as it does against a port that expects a TLS handshake first.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})

	cfg := baseConfig(t)
	withMail(cfg, ln.Addr().String(), ln.Addr().String())
	start := time.Now()
	got := byService(preflight.Run(ctx, cfg, preflight.Options{Timeout: 300 * time.Millisecond}))
	assert.Less(t, time.Since(start), 3*time.Second, "the checks run concurrently, each within its timeout")
	assert.Equal(t, preflight.StatusOK, got["taskip"][0].Status)
	for svc, ports := range map[string]string{"imap": "993, starttls 143", "smtp": "465, starttls 587"} {
		r := got[svc][0]
		assert.Equal(t, preflight.StatusFail, r.Status)
		assert.Contains(t, r.Detail, "no answer from "+ln.Addr().String()+" within 300ms during greeting: check mail."+svc+".tls: implicit TLS is usually port "+ports)
		assert.GreaterOrEqual(t, r.Duration, 300*time.Millisecond)
	}
}

func TestSlackPrivateChannelScope(t *testing.T) {
	sl := slackfake.New(t)
	sl.SetToken(botToken)
	sl.SetMissingScopes("groups:read")
	cfg := baseConfig(t)
	cfg.Slack = &config.Slack{BotToken: botToken, APIURL: sl.URL(), Channel: "G0PRIVATE"}
	r := byService(preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second}))["slack"][0]
	assert.Equal(t, preflight.StatusFail, r.Status)
	assert.Contains(t, r.Detail, "missing_scope: add the groups:read bot scope to the Slack app and reinstall it")

	sl.SetMissingScopes()
	r = byService(preflight.Run(context.Background(), cfg, preflight.Options{Timeout: 5 * time.Second}))["slack"][0]
	assert.Equal(t, preflight.StatusOK, r.Status, r.Detail)
	assert.Contains(t, r.Detail, "member of #g0private (G0PRIVATE)")
}

func TestRunCancelled(t *testing.T) {
	cfg := baseConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := preflight.Run(ctx, cfg, preflight.Options{})
	assert.Equal(t, preflight.StatusFail, results[0].Status, "a check cut short is no pass")
	assert.False(t, preflight.Passed(results))
}

func TestResultLine(t *testing.T) {
	for _, tc := range []struct {
		r    preflight.Result
		want string
	}{
		{preflight.Result{Service: "imap", Status: preflight.StatusOK, Detail: "login x", Duration: 38 * time.Millisecond},
			"ok    imap   login x   (38 ms)"},
		{preflight.Result{Service: "taskip", Status: preflight.StatusFail, Detail: "TaskIP refused the key", Duration: 1500 * time.Millisecond},
			"FAIL  taskip TaskIP refused the key   (1.5 s)"},
		{preflight.Result{Service: "slack", Status: preflight.StatusSkip, Detail: "no slack section"},
			"skip  slack  no slack section"},
	} {
		assert.Equal(t, tc.want, tc.r.String())
	}
	var b strings.Builder
	results := []preflight.Result{
		{Service: "taskip", Status: preflight.StatusOK, Detail: "a"},
		{Service: "imap", Status: preflight.StatusFail, Detail: "b"},
	}
	require.NoError(t, preflight.Write(&b, results, true))
	assert.Equal(t, "FAIL  imap   b   (0 ms)\n", b.String())
}
