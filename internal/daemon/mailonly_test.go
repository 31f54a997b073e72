package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// A helpdesk without Slack: mail comes in, agents answer in the TaskIP web
// app, and the customer gets each answer by email, once. Private replies
// stay inside, and the customer's own answers are not mailed back.
func TestWebAppRepliesAreMailedWithoutSlack(t *testing.T) {
	tf, base := taskipfake.NewHTTPTest(t, taskipfake.Options{SecretKey: testKey})
	tf.SeedExamples()
	imap := mailtest.StartMemServer(t, mailtest.MemOptions{})
	smtp := mailtest.StartSMTP(t, mailtest.SMTPOptions{})
	runDaemon(t, base, mailSection(imap, smtp, "  acknowledge_new: false\n"), Options{})

	before := len(tf.Tickets())
	imap.Append(t, "INBOX", mailMsg("printer-1@customers.test", "Jane Roe <jane@customers.test>", "Printer on fire", "It smokes.\n"))
	var tk taskipfake.Ticket
	require.Eventually(t, func() bool {
		all := tf.Tickets()
		if len(all) == before+1 {
			tk = all[len(all)-1]
		}
		return tk.ID != 0
	}, 10*time.Second, 10*time.Millisecond, "the mail becomes a ticket")

	_, err := tf.AddAgentReply(tk.ID, "Sarah Johnson", "Unplug it, a technician is on the way.")
	require.NoError(t, err)
	_, err = tf.AddReply(tk.ID, taskipfake.Reply{Message: "Customer is upset, be quick.", Author: "Sarah Johnson", IsPrivate: true})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(smtp.Messages()) >= 1 }, 10*time.Second, 10*time.Millisecond,
		"the web-app reply is mailed by the next poll")
	got := smtp.Messages()[0]
	assert.Equal(t, []string{"jane@customers.test"}, got.To)
	assert.Contains(t, string(got.Data), "Unplug it, a technician is on the way.")
	h := header(t, got)
	assert.Equal(t, "<printer-1@customers.test>", h.Get("In-Reply-To"), "threads to the customer's mail")

	// The customer answers by mail: a reply on the ticket that the next
	// polls see, and that is never mailed back to its author.
	answer := mailMsg("printer-2@customers.test", "Jane Roe <jane@customers.test>", "Re: Printer on fire", "Unplugged, thanks.\n",
		"In-Reply-To: "+h.Get("Message-Id"))
	imap.Append(t, "INBOX", answer)
	require.Eventually(t, func() bool { return len(tf.Replies(tk.ID)) == 3 }, 10*time.Second, 10*time.Millisecond,
		"the customer's answer is a reply on the ticket")
	time.Sleep(2500 * time.Millisecond)
	msgs := smtp.Messages()
	assert.Len(t, msgs, 1)
	for _, m := range msgs {
		assert.False(t, strings.Contains(string(m.Data), "be quick"), "a private reply is never mailed")
	}
}
