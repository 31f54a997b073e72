package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// The running daemon announces a quarantined mail in its ticket channel.
func TestDaemonAnnouncesQuarantinedMail(t *testing.T) {
	e := startScenarioDaemon(t, func(tf *taskipfake.Server, _ *mailtest.MemServer) string {
		tf.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusUnprocessableEntity)
		return ""
	})
	e.customerMails(mailMsg("never@acme.com", "Jane Roe <jane@acme.com>", "Cannot be filed", "Body."))
	require.Eventually(t, func() bool {
		for _, m := range e.slack.Messages(testChannel) {
			if m.ThreadTS == "" && strings.Contains(m.Text, "could not be imported") {
				return true
			}
		}
		return false
	}, scWait, scTick, "an alert in the channel")
}
