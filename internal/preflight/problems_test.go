package preflight

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ticketsync/ticketsync/internal/config"
)

// The resolver is not asked here (tests stay on loopback): the errors are
// the shapes net returns.
func TestUnreachable(t *testing.T) {
	const addr, key = "imap.example.com:993", "mail.imap.addr"
	dial := func(err error) error {
		return fmt.Errorf("imap: connect: dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: err})
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{dial(&net.DNSError{Err: "no such host", Name: "imap.example.com", IsNotFound: true}),
			"no such host imap.example.com: check mail.imap.addr"},
		{dial(&net.DNSError{Err: "server misbehaving", Name: "imap.example.com", IsTemporary: true}),
			"cannot look up imap.example.com (server misbehaving): check mail.imap.addr and the resolver"},
		{dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)),
			"connection refused by imap.example.com:993: check mail.imap.addr (is the server running, is it the right port?)"},
		{dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH)),
			"no route to imap.example.com:993: check mail.imap.addr and the network"},
		{dial(os.ErrDeadlineExceeded),
			"no answer from imap.example.com:993 within 10s: check mail.imap.addr (host, port, firewall)"},
		{fmt.Errorf("imap: connect: dial: %w", context.DeadlineExceeded),
			"no answer from imap.example.com:993 within 10s: check mail.imap.addr (host, port, firewall)"},
		{fmt.Errorf("something else"), ""},
	} {
		assert.Equal(t, tc.want, unreachable(tc.err, addr, key, 10*time.Second), "%v", tc.err)
	}
}

func TestShowURLHidesUserInfo(t *testing.T) {
	where, hostPort := showURL("https://ops:hunter22@api.example.com/api/public-v1?x=1")
	assert.Equal(t, "https://api.example.com/api/public-v1", where)
	assert.Equal(t, "api.example.com:443", hostPort)
	_, hostPort = showURL("http://127.0.0.1:8081/api")
	assert.Equal(t, "127.0.0.1:8081", hostPort)
}

func TestSecretScrubber(t *testing.T) {
	cfg := config.Default()
	cfg.TaskIP.SecretKey = "key-1"
	cfg.TaskIP.BaseURL = "https://ops:url-pass@api.example.com/api"
	cfg.Mail = &config.Mail{IMAP: config.IMAP{Password: "imap-pass"}, SMTP: config.SMTP{Password: "smtp-pass"}}
	cfg.Slack = &config.Slack{BotToken: "xoxb-1", SigningSecret: "sign-1", AppToken: "xapp-1"}
	got := secretScrubber(&cfg).Replace("key-1 url-pass imap-pass smtp-pass xoxb-1 sign-1 xapp-1 ops")
	assert.Equal(t, "[redacted] [redacted] [redacted] [redacted] [redacted] [redacted] [redacted] ops", got)
}

func TestFormatting(t *testing.T) {
	for n, want := range map[uint32]string{0: "0", 999: "999", 1204: "1,204", 1234567: "1,234,567"} {
		assert.Equal(t, want, formatCount(n))
	}
	assert.Equal(t, "38 ms", formatDuration(38*time.Millisecond+400*time.Microsecond))
	assert.Equal(t, "2.5 s", formatDuration(2500*time.Millisecond))
}
