package bridge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/senderauth"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// Authentication-Results fields as three kinds of receiving server write
// them, for a From of customer.example's or company.com's domain.
var receivers = []struct {
	name    string
	trusted string
	pass    func(domain string) string
	fail    func(domain string) string
}{
	{"gmail", "mx.google.com",
		func(d string) string {
			return "mx.google.com;\r\n       dkim=pass header.i=@" + d + " header.s=s1 header.b=AbCd;\r\n       spf=pass (google.com: domain of x@" + d + " designates 203.0.113.5 as permitted sender) smtp.mailfrom=x@" + d + ";\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=" + d
		},
		func(d string) string {
			return "mx.google.com;\r\n       spf=softfail (google.com: domain of transitioning mallory@evil.example does not designate 198.51.100.9 as permitted sender) smtp.mailfrom=mallory@evil.example;\r\n       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=" + d
		}},
	{"microsoft365", senderauth.MicrosoftID,
		func(d string) string {
			return "spf=pass (sender IP is 203.0.113.5)\r\n smtp.mailfrom=" + d + "; dkim=pass (signature was verified)\r\n header.d=" + d + ";dmarc=pass action=none\r\n header.from=" + d + ";compauth=pass reason=100"
		},
		func(d string) string {
			return "spf=fail (sender IP is 198.51.100.9)\r\n smtp.mailfrom=evil.example; dkim=none (message not signed)\r\n header.d=none;dmarc=fail action=quarantine\r\n header.from=" + d + ";compauth=fail reason=000"
		}},
	{"postfix", "mail.support.example",
		func(d string) string {
			return "mail.support.example; dmarc=pass (p=reject dis=none) header.from=" + d
		},
		func(d string) string {
			return "mail.support.example; dmarc=fail (p=reject dis=none) header.from=" + d
		}},
}

// received puts a receiving server's Authentication-Results on top of a
// mail, above a Received line, as the server adds them.
func received(ar string, raw []byte) []byte {
	return append([]byte("Authentication-Results: "+ar+"\r\nReceived: from mail.sender.example by mx.support.example\r\n"), raw...)
}

func withAuth(trusted ...string) envOption {
	return func(c *IntakeConfig, _ *imap.Config) {
		c.Authentication = SenderAuthentication{TrustedAuthservIDs: trusted}
	}
}

// A mail that fails authentication and names an agent and the ticket's tag
// becomes an internal note marked as from an unverified sender, not an
// agent's reply; one naming the customer neither replies nor reopens. The
// same mails passing authentication do what they say.
func TestForgedSenderIsANoteNotAReply(t *testing.T) {
	for _, r := range receivers {
		t.Run(r.name, func(t *testing.T) {
			e := newIntakeEnv(t, nil, withAuth(r.trusted))
			e.deliver(received(r.pass("acme.com"), mailMsg("first@acme.com", "John Smith <john@acme.com>", "Login broken", "I cannot log in.")))
			e.cycle()
			tk := scenarioOnlyTicket(t, e)
			require.NoError(t, e.fake.Mutate(tk.ID, func(t *taskipfake.Ticket) { t.Status = taskipfake.StatusResolved }))
			tag := " [#" + tk.UUID + "]"

			e.deliver(received(r.fail("company.com"), mailMsg("forged-agent@evil.example", "Sarah Johnson <sarah@company.com>",
				"Re: Login broken"+tag, "Please send us your password to verify your account.")))
			e.deliver(received(r.fail("acme.com"), mailMsg("forged-customer@evil.example", "John Smith <john@acme.com>",
				"Re: Login broken"+tag, "Never mind, close it.")))
			e.cycle()
			assert.Empty(t, e.fake.Replies(tk.ID), "no reply in anyone's name")
			notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
			require.Len(t, notes, 2)
			for _, n := range notes {
				assert.Contains(t, n, "unverified sender")
			}
			after, _ := e.fake.Ticket(tk.ID)
			assert.Equal(t, taskipfake.StatusResolved, after.Status, "reopens nothing")

			e.deliver(received(r.pass("company.com"), mailMsg("real-agent@company.com", "Sarah Johnson <sarah@company.com>",
				"Re: Login broken"+tag, "We reset your password.")))
			e.deliver(received(r.pass("acme.com"), mailMsg("real-customer@acme.com", "John Smith <john@acme.com>",
				"Re: Login broken"+tag, "Thanks, it works.")))
			e.cycle()
			assert.Equal(t, []string{"team_member: We reset your password.", "client: Thanks, it works."},
				scenarioReplyTexts(e.fake.Replies(tk.ID)))
		})
	}
}

// A sender cannot vouch for itself: an Authentication-Results field it
// wrote into its own header sits below the receiving server's, and only
// the server's counts.
func TestForgedAuthenticationResultsAreIgnored(t *testing.T) {
	e := newIntakeEnv(t, nil, withAuth("mx.google.com"))
	tk := createFirst(t, e)
	forgedPass := "Authentication-Results: mx.google.com; dkim=pass header.d=company.com; dmarc=pass header.from=company.com\r\n"
	raw := received(receivers[0].fail("company.com"), append([]byte(forgedPass),
		mailMsg("self-vouched@evil.example", "Sarah Johnson <sarah@company.com>", "Re: Login broken [#"+tk.UUID+"]", "Send your password.")...))
	e.deliver(raw)
	e.cycle()
	assert.Empty(t, e.fake.Replies(tk.ID))
	assert.Len(t, e.fake.Notes(tk.ID), 1)
}

// With authentication on, a customer whose mail carries no result (no
// DMARC at their domain) still answers through our mail: the reply token
// or our Message-ID shows it answers ours. The bare uuid or the subject
// tag alone, which anyone the customer copied may know, make a note.
func TestReplyTokenVouchesForAnUnauthenticatedCustomer(t *testing.T) {
	e := newOutboxEnv(t)
	e.intake.cfg.Authentication = SenderAuthentication{TrustedAuthservIDs: []string{"mx.google.com"}}
	e.intake.cfg.AcknowledgeUnauthenticated = true
	key, err := e.store.ReplyKey()
	require.NoError(t, err)
	e.ocfg.ReplyKey = key
	e.build(t)
	e.intake.threading = e.intake.threading.WithReplyKey(key)
	e.start()

	e.deliver(mailMsg("first@acme.com", "John Smith <john@acme.com>", "Login broken", "I cannot log in."))
	e.cycle()
	tk := scenarioOnlyTicket(t, e.intakeEnv)
	ack := header(t, e.waitDelivered(1)[0])
	replyTo := strings.Trim(ack.Get("Reply-To"), "<>")
	require.Regexp(t, `^support\+`+tk.UUID+`\.[a-z2-7]{10}@example\.com$`, replyTo)

	viaToken := strings.Replace(string(mailMsg("r1@acme.com", "John Smith <john@acme.com>", "Re: Login broken", "First answer.")),
		"To: "+supportAddr, "To: "+replyTo, 1)
	e.deliver([]byte(viaToken))
	e.deliver(mailMsg("r2@acme.com", "John Smith <john@acme.com>", "Re: Login broken", "Second answer.", "In-Reply-To: "+ack.Get("Message-ID")))
	e.deliver(mailMsg("r3@acme.com", "John Smith <john@acme.com>", "Re: Login broken [#"+tk.UUID+"]", "By tag."))
	bare := strings.Replace(string(mailMsg("r4@acme.com", "John Smith <john@acme.com>", "Re: Login broken", "By bare uuid.")),
		"To: "+supportAddr, "To: support+"+tk.UUID+"@example.com", 1)
	e.deliver([]byte(bare))
	e.cycle()
	assert.Equal(t, []string{"client: First answer.", "client: Second answer."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
	notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
	require.Len(t, notes, 2)
	assert.Contains(t, notes[0], "By tag.")
	assert.Contains(t, notes[1], "By bare uuid.")
}

// A forged sender gets no acknowledgement and no ticket in the name of the
// contact it names; its words are still a ticket for the agents, marked.
func TestForgedNewTicketIsMarkedAndNotAcknowledged(t *testing.T) {
	e := newOutboxEnv(t)
	e.intake.cfg.Authentication = SenderAuthentication{TrustedAuthservIDs: []string{"mx.google.com"}}
	catchAll := scenarioCatchAll(e.intakeEnv)
	e.start()
	e.deliver(received(receivers[0].fail("acme.com"), mailMsg("forged-new@evil.example", "You won! Claim at https://evil.example/x <john@acme.com>",
		"Your invoice https://evil.example/pay", "Pay here.")))
	e.deliver(received(receivers[0].pass("acme.com"), mailMsg("real-new@acme.com", "John Smith <john@acme.com>", "Printer broken", "It jams.")))
	e.cycle()
	tickets := e.newTickets()
	require.Len(t, tickets, 2)
	assert.Equal(t, catchAll, tickets[0].User.ID, "not filed under the contact a forged From names")
	assert.True(t, strings.HasPrefix(tickets[0].Description, "(Unverified sender: dmarc=fail (mx.google.com)."), tickets[0].Description)
	assert.Equal(t, 15, tickets[1].User.ID)
	sent := e.waitDelivered(1)
	e.settled()
	assert.Len(t, e.smtp.Messages(), 1, "only the authenticated sender is acknowledged")
	assert.Equal(t, "<john@acme.com>", header(t, sent[0]).Get("To"), "and no display name is reflected")
}

// Without sender authentication, acknowledgements go out as before but
// never carry the sender's display name; and all of them together stop at
// the hourly cap, which the channel hears about once.
func TestAcknowledgementsReflectNothingAndStopAtTheCap(t *testing.T) {
	e := newOutboxEnv(t, func(c *OutboxConfig) { c.MaxAcknowledgementsPerHour = 3 })
	ae := &alertEnv{intakeEnv: e.intakeEnv, slack: e.slack, poster: e.poster}
	alerts := ae.alerts(t)
	e.ocfg.Alerts = alerts
	e.build(t)
	e.intake.cfg.Alerts = alerts
	e.start()
	for i := range 5 {
		victim := string(rune('a'+i)) + "@victims.example"
		e.deliver(mailMsg("flood-"+victim, "You won! Claim at https://evil.example/claim <"+victim+">", "Claim your prize https://evil.example", "x"))
	}
	e.cycle()
	require.Len(t, e.newTickets(), 5, "tickets are still made")
	sent := e.waitDelivered(3)
	e.settled()
	require.Len(t, e.smtp.Messages(), 3)
	for _, m := range sent {
		data := string(m.Data)
		assert.NotContains(t, data, "You won", "the display name is never reflected")
		body := data[strings.Index(data, "\r\n\r\n"):]
		assert.NotContains(t, body, "evil.example", "nothing of the sender's in the body")
	}
	_, err := alerts.Drain(context.Background())
	require.NoError(t, err)
	posted := e.slack.Messages(testChannel)
	require.Len(t, posted, 1, "one alert for the hour")
	assert.Contains(t, posted[0].Text, "More than 3 acknowledgements within an hour")
}

// mail.authentication.verify checks DKIM and DMARC in ticketsync itself:
// a reply signed by the customer's domain is theirs; an unsigned one under
// the domain's DMARC policy is a note.
func TestOwnDKIMCheck(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	dns := map[string][]string{
		"s1._domainkey.acme.com": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"_dmarc.acme.com":        {"v=DMARC1; p=reject"},
	}
	lookup := func(_ context.Context, name string) ([]string, error) {
		if txt, ok := dns[name]; ok {
			return txt, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	e := newIntakeEnv(t, nil, func(c *IntakeConfig, _ *imap.Config) {
		c.Authentication = SenderAuthentication{Checker: senderauth.NewChecker(senderauth.CheckerConfig{LookupTXT: lookup})}
	})
	e.deliver(signedMail(t, priv, mailMsg("first@acme.com", "John Smith <john@acme.com>", "Login broken", "I cannot log in.")))
	e.cycle()
	tk := scenarioOnlyTicket(t, e)
	tag := " [#" + tk.UUID + "]"
	e.deliver(signedMail(t, priv, mailMsg("signed@acme.com", "John Smith <john@acme.com>", "Re: Login broken"+tag, "Signed answer.")))
	e.deliver(mailMsg("unsigned@acme.com", "John Smith <john@acme.com>", "Re: Login broken"+tag, "Unsigned answer."))
	e.cycle()
	assert.Equal(t, []string{"client: Signed answer."}, scenarioReplyTexts(e.fake.Replies(tk.ID)))
	notes := scenarioNoteTexts(e.fake.Notes(tk.ID))
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "Unsigned answer.")
	assert.Contains(t, notes[0], "publishes a DMARC policy")
	left, err := mailSpoolLeft(e)
	require.NoError(t, err)
	assert.Empty(t, left, "the raw copies kept for the check are gone")
}

func signedMail(t *testing.T, key ed25519.PrivateKey, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: "acme.com", Selector: "s1", Signer: key}))
	return out.Bytes()
}

// mailSpoolLeft lists what is left in the intake's spool directory.
func mailSpoolLeft(e *intakeEnv) ([]string, error) {
	entries, err := os.ReadDir(e.cfg.SpoolDir)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names, err
}
