package smtp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

func TestSMTPAllowInsecureLiftsTheCleartextGuard(t *testing.T) {
	srv := mailtest.StartSMTP(t, mailtest.SMTPOptions{Username: "agent", Password: testPassword, AllowInsecureAuth: true})
	sender := func(allow bool) (*Sender, *mailtest.Wire) {
		s := NewSender(Config{
			Addr: "smtp.example.test:587", TLS: mail.TLSNone, Username: "agent", Password: testPassword,
			AllowInsecure: allow, Timeout: 5 * time.Second, LocalName: "test.example",
		})
		w := &mailtest.Wire{To: srv.Addr()}
		s.dialContext = w.Dial
		t.Cleanup(func() { _ = s.Close() })
		return s, w
	}

	t.Run("refused by default", func(t *testing.T) {
		s, w := sender(false)
		se := sendErr(t, s, testMessage(1))
		exactlyOne(t, se, ErrPermanent)
		assert.Equal(t, "connect", se.Op)
		assert.Contains(t, se.Error(), "cleartext")
		assert.NotContains(t, se.Error(), testPassword)
		dialled, written := w.Seen()
		assert.Empty(t, dialled)
		assert.NotContains(t, written, testPassword)
		assert.Empty(t, srv.Messages())
	})
	t.Run("allowed", func(t *testing.T) {
		s, w := sender(true)
		sendOK(t, s, testMessage(2))
		require.Len(t, srv.Messages(), 1)
		assert.Equal(t, "agent", srv.Messages()[0].Username)
		dialled, _ := w.Seen()
		assert.Equal(t, []string{"smtp.example.test:587"}, dialled)
	})
}
