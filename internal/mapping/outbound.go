package mapping

import (
	"fmt"
	"github.com/ticketsync/ticketsync/internal/mrkdwn"
	"regexp"
	"strings"
)

// ShouldAcknowledge decides whether a new ticket's first email gets an
// acknowledgement. It repeats the loop guard's judgement on purpose: an
// acknowledgement is the one mail ticketsync sends that nobody asked for,
// so it must never answer a machine, even one the guard let through
// (an allowed mailing list, a sender under the rate limit).
func ShouldAcknowledge(e Email) bool {
	switch {
	case e.FromEmail == "" || isDaemon(e.FromEmail) || isNoReply(e.FromEmail):
		return false
	case e.EmptyReturnPath:
		return false
	case e.AutoSubmitted != "" && !strings.EqualFold(firstToken(e.AutoSubmitted), "no"):
		return false
	case isBulkPrecedence(e.Precedence), e.XAutoreply != "", e.XAutorespond != "", e.ListID != "":
		return false
	case strings.EqualFold(firstToken(e.ContentType), "multipart/report"):
		return false
	}
	return true
}

var noReplySeparators = strings.NewReplacer("-", "", "_", "", ".", "")

// isNoReply matches addresses that say nobody reads them.
func isNoReply(email string) bool {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	local = noReplySeparators.Replace(local)
	return strings.HasPrefix(local, "noreply") || strings.HasPrefix(local, "donotreply")
}

// Acknowledgement is the subject (tag still to be added) and text of the
// mail that tells a customer their request became a ticket.
//
// Nothing the sender wrote is in the text: the display name and anything
// else of theirs could carry a forger's words and links to whoever a
// forged From names. The subject is only in the Subject line.
func Acknowledgement(ticketID int64, subject string) (string, string) {
	text := fmt.Sprintf(`Hello,

thank you for your message. We have opened ticket #%d for it and will get back to you as soon as we can.

To add anything, simply reply to this email and keep the ticket number in the subject.

This is an automatic message.`, ticketID)
	return ReplySubject(subject), text
}

// ReplySubject is the subject of an answer: "Re: " once, whatever reply
// or forward marker the customer's client already used.
func ReplySubject(subject string) string {
	subject = strings.TrimSpace(subject)
	if subject == "" {
		return "Re: your request"
	}
	if replyPrefix.MatchString(subject) {
		return subject
	}
	return "Re: " + subject
}

var (
	slackLink    = regexp.MustCompile(`<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>`)
	slackMention = regexp.MustCompile(`<[@#!]([^|>]+)(?:\|([^>]*))?>`)
)

// PlainFromSlack turns a Slack message's text into what a customer should
// read: links as "label (url)" or the address, mentions as their label,
// and Slack's three escaped characters back as typed.
func PlainFromSlack(text string) string {
	text = slackLink.ReplaceAllStringFunc(text, func(m string) string {
		sub := slackLink.FindStringSubmatch(m)
		target, label := sub[1], sub[2]
		plain := strings.TrimPrefix(target, "mailto:")
		switch {
		case label == "" || label == plain || label == target:
			return plain
		default:
			return label + " (" + plain + ")"
		}
	})
	text = slackMention.ReplaceAllStringFunc(text, func(m string) string {
		sub := slackMention.FindStringSubmatch(m)
		if sub[2] != "" {
			return "@" + sub[2]
		}
		return "@" + sub[1]
	})
	return slackEntities.Replace(text)
}

var slackEntities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// UndeliveredMailText tells agents in a ticket's thread that a mail to the
// customer did not (or may not have) arrived, and what to do about it.
func UndeliveredMailText(kind, to string, maybe bool, reason string) string {
	what := "The email"
	switch kind {
	case "reply":
		what = "The reply email"
	case "acknowledgement":
		what = "The acknowledgement email"
	}
	if maybe {
		return fmt.Sprintf(":warning: %s to %s may not have been delivered: %s. It was not sent again, to avoid a duplicate; check with the customer if in doubt.",
			what, mrkdwn.Escape(to), mrkdwn.Escape(oneLine(reason)))
	}
	advice := "The reply is saved in TaskIP; reach the customer another way."
	if kind == "acknowledgement" {
		advice = "The ticket itself is fine; check the customer's address."
	}
	return fmt.Sprintf(":warning: %s to %s could not be delivered: %s. %s",
		what, mrkdwn.Escape(to), mrkdwn.Escape(oneLine(reason)), advice)
}

func oneLine(s string) string {
	return CutRunes(strings.Join(strings.Fields(s), " "), 300)
}
