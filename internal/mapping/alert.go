package mapping

import (
	"fmt"

	"github.com/ticketsync/ticketsync/internal/mrkdwn"
)

// QuarantinedMail describes a mail the intake could never import, for the
// alert in the agents' channel. Every field but Folder comes from the mail
// or from TaskIP's answer and is escaped as such.
type QuarantinedMail struct {
	From    string
	Subject string
	Reason  string
	// Folder is where the mail now lies; "" means it stayed in Mailbox,
	// flagged as read.
	Folder  string
	Mailbox string
}

// Limits that keep one alert to a few lines however long the header or
// error was.
const (
	alertSubjectRunes = 200
	alertReasonRunes  = 400
)

// QuarantineAlert is the one line agents get about a mail that needs a
// person: nobody else would see it, since it is not on any ticket.
func QuarantineAlert(q QuarantinedMail) string {
	from := q.From
	if from == "" {
		from = "an unknown sender"
	}
	subject := q.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	where := fmt.Sprintf("It is in the folder *%s*.", mrkdwn.Escape(q.Folder))
	if q.Folder == "" {
		where = fmt.Sprintf("It stays in *%s*, flagged as read.", mrkdwn.Escape(q.Mailbox))
	}
	return fmt.Sprintf(":warning: An email could not be imported into TaskIP. From %s, subject “%s”. Reason: %s. %s",
		mrkdwn.Escape(from),
		mrkdwn.CutText(mrkdwn.Escape(subject), alertSubjectRunes, ""),
		mrkdwn.CutText(mrkdwn.Escape(q.Reason), alertReasonRunes, ""),
		where)
}
