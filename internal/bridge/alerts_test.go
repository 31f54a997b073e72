package bridge

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ticketsync/ticketsync/internal/mail/imap"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/slack/slackfake"
	"github.com/ticketsync/ticketsync/internal/state"
)

// alertEnv is an intake whose quarantined mail is announced in a Slack
// fake's ticket channel.
type alertEnv struct {
	*intakeEnv
	slack  *slackfake.Server
	poster *slack.Poster
}

func newAlertEnv(t *testing.T) *alertEnv {
	e := &alertEnv{slack: slackfake.New(t)}
	var err error
	e.poster, err = slack.NewPoster(slack.PosterConfig{Token: slackfake.DefaultToken, APIURL: e.slack.URL(), PerChannelInterval: -1, MaxRetries: -1})
	require.NoError(t, err)
	e.intakeEnv = newIntakeEnv(t, nil, func(c *IntakeConfig, m *imap.Config) {
		c.FailedMailbox, m.FailedMailbox = "Failed", "Failed"
	})
	e.intake.cfg.Alerts = e.alerts(t)
	return e
}

// alerts builds the alerts flow anew on the same state, as a restart does.
func (e *alertEnv) alerts(t *testing.T) *Alerts {
	a, err := NewAlerts(AlertsConfig{Chat: e.poster, Channel: testChannel, Store: e.store, Logger: testLogger(t)})
	require.NoError(t, err)
	return a
}

// A mail TaskIP refuses for good is quarantined and announced once in the
// channel, with who sent it, its subject, why, and where it now lies. The
// restart that reads the mailbox again announces nothing more.
func TestQuarantinedMailIsAnnouncedOnce(t *testing.T) {
	e := newAlertEnv(t)
	e.deliver(mailMsg("refused@acme.com", "Jane Roe <jane@acme.com>", "Invoice <b>overdue</b>", "Please pay."))
	e.fake.FailNextOn(http.MethodPost, "/support-ticket", 1, http.StatusUnprocessableEntity)
	e.cycle()
	require.Empty(t, e.newTickets())
	assert.Len(t, e.imap.Messages(t, "Failed"), 1, "the mail went to the failed folder")

	more, err := e.intake.cfg.Alerts.Drain(context.Background())
	require.NoError(t, err)
	assert.False(t, more)
	posted := e.slack.Messages(testChannel)
	require.Len(t, posted, 1)
	text := posted[0].Text
	assert.Contains(t, text, "jane@acme.com")
	assert.Contains(t, text, "Invoice &lt;b&gt;overdue&lt;/b&gt;")
	assert.Contains(t, text, "422")
	assert.Contains(t, text, "in the folder *Failed*")

	// A restart: the intake reads the mailbox from its cursor and the
	// alerts flow starts over on the same state. Nothing is posted again.
	e.intake.cfg.Alerts = e.alerts(t)
	require.NoError(t, e.store.SetCursor("INBOX", state.Cursor{UIDValidity: e.cursor().UIDValidity + 1}))
	e.imap.Append(t, "INBOX", mailMsg("refused@acme.com", "Jane Roe <jane@acme.com>", "Invoice <b>overdue</b>", "Please pay."))
	e.cycle()
	_, err = e.intake.cfg.Alerts.Drain(context.Background())
	require.NoError(t, err)
	assert.Len(t, e.slack.Messages(testChannel), 1, "one message per quarantined mail, ever")
}

// Slack not taking the post (rate limited) leaves the alert queued for
// the next try; a claim a crash left during the post is never repeated.
func TestAlertRetriedWhenSlackDidNotTakeItAndNeverAfterACrash(t *testing.T) {
	e := newAlertEnv(t)
	require.NoError(t, e.store.Update(func(tx *state.Tx) error {
		if err := e.intake.cfg.Alerts.Queue(tx, "quarantined:a", "first"); err != nil {
			return err
		}
		return e.intake.cfg.Alerts.Queue(tx, "quarantined:b", "second")
	}))
	e.slack.RateLimitNext(1, 0)
	_, err := e.intake.cfg.Alerts.Drain(context.Background())
	require.True(t, errors.Is(err, slack.ErrTransient), "got %v", err)
	assert.Empty(t, e.slack.Messages(testChannel))

	// The process dies after claiming "first" and before its post ends.
	require.NoError(t, e.store.Update(func(tx *state.Tx) error { return tx.ClaimAlert("quarantined:a") }))
	restarted := e.alerts(t)
	require.NoError(t, restarted.dropClaims())
	_, err = restarted.Drain(context.Background())
	require.NoError(t, err)
	posted := e.slack.Messages(testChannel)
	require.Len(t, posted, 1)
	assert.Equal(t, "second", posted[0].Text, "the interrupted alert is not posted a second time")
}
