package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

func mailsWith(msgs []mailtest.Received, text string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(string(m.Data), text) {
			n++
		}
	}
	return n
}

// What a text hash gets wrong, a claim of its own gets right: an agent who
// sends the same reply twice in a row has both mailed, and the same words
// on two tickets reach both customers, each once.
func TestReplyClaimsTellEqualRepliesApart(t *testing.T) {
	e := startScenarioDaemon(t, nil)
	e.customerMails(mailMsg("c1@customers.test", "Jane Roe <jane@customers.test>", "Printer jams", "Tray 2 jams.\n"))
	e.customerMails(mailMsg("c2@customers.test", "Max Muster <max@customers.test>", "Scanner offline", "It is offline.\n"))
	jane := e.ticketBySubject("Printer jams")
	max := e.ticketBySubject("Scanner offline")
	e.mails(2) // the two acknowledgements

	const same = "Thanks, we are on it."
	e.message("EvTwice1", "USARAH", "reply: "+same, e.threadTS(jane.ID))
	e.waitThread(jane.ID, "Sent to")
	e.message("EvTwice2", "USARAH", "reply: "+same, e.threadTS(jane.ID))
	e.message("EvOther", "USARAH", "reply: "+same, e.threadTS(max.ID))
	require.Eventually(t, func() bool { return mailsWith(e.smtp.Messages(), same) >= 3 }, scWait, scTick)
	time.Sleep(1500 * time.Millisecond) // a poll of the watch; a fourth mail would be out by now

	var toJane, toMax int
	for _, m := range e.smtp.Messages() {
		if !strings.Contains(string(m.Data), same) {
			continue
		}
		switch m.To[0] {
		case "jane@customers.test":
			toJane++
		case "max@customers.test":
			toMax++
		}
	}
	assert.Equal(t, 2, toJane, "both equal replies are mailed")
	assert.Equal(t, 1, toMax, "the same words on another ticket are that ticket's")
	assert.Len(t, e.taskip.Replies(jane.ID), 2)
}
