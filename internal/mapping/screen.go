package mapping

import (
	"strings"
)

// SkipReason says why a message is recorded and not acted on. Empty means
// the message is a customer's mail.
type SkipReason string

// Reasons of the loop and noise guard, also metric labels.
const (
	SkipAutoSubmitted SkipReason = "auto_submitted"
	SkipPrecedence    SkipReason = "precedence"
	SkipAutoreply     SkipReason = "autoreply_header"
	SkipMailingList   SkipReason = "mailing_list"
	SkipBounce        SkipReason = "bounce"
	SkipReport        SkipReason = "report"
	SkipOwnMessage    SkipReason = "own_message"
	SkipRateLimited   SkipReason = "rate_limited"
	SkipNoSender      SkipReason = "no_sender"
)

// Screening configures the guard.
type Screening struct {
	// OurAddresses are the support mailbox and every address we send from;
	// mail from them (or from a plus variant of them) is our own echo.
	OurAddresses []string
	// AllowedListIDs are List-Id values (or the id inside <...>) whose posts
	// are customer mail all the same, e.g. a customer's shared inbox list.
	AllowedListIDs []string
}

// Screen applies the loop and noise guard. The order puts the cheapest and
// most certain signals first; the first that matches is the reason.
func Screen(e Email, s Screening) SkipReason {
	switch {
	case e.XTicketsync:
		return SkipOwnMessage
	case isOurs(e.FromEmail, s.OurAddresses):
		return SkipOwnMessage
	case e.AutoSubmitted != "" && !strings.EqualFold(strings.TrimSpace(firstToken(e.AutoSubmitted)), "no"):
		// RFC 3834: any value but "no" is machine-generated.
		return SkipAutoSubmitted
	case isBulkPrecedence(e.Precedence) && !allowedListPost(e, s):
		return SkipPrecedence
	case e.XAutoreply != "" || e.XAutorespond != "":
		return SkipAutoreply
	case strings.EqualFold(e.ContentType, "multipart/report"):
		return SkipReport
	case e.EmptyReturnPath || isDaemon(e.FromEmail):
		return SkipBounce
	case e.ListID != "" && !listAllowed(e.ListID, s.AllowedListIDs):
		return SkipMailingList
	case e.FromEmail == "":
		return SkipNoSender
	}
	return ""
}

func firstToken(v string) string {
	if i := strings.IndexAny(v, ";( \t"); i >= 0 {
		return v[:i]
	}
	return v
}

// allowedListPost: a post of an allowed list carries the list's own
// Precedence (Google Groups and Mailman write "list" or "bulk" on every
// post); allowing the list allows that too. "junk" is still skipped.
func allowedListPost(e Email, s Screening) bool {
	switch strings.ToLower(strings.TrimSpace(e.Precedence)) {
	case "list", "bulk":
		return e.ListID != "" && listAllowed(e.ListID, s.AllowedListIDs)
	}
	return false
}

func isBulkPrecedence(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "bulk", "junk", "list":
		return true
	}
	return false
}

// isDaemon matches the senders of delivery reports (RFC 3464 practice).
func isDaemon(email string) bool {
	local, _, _ := strings.Cut(email, "@")
	local = strings.ToLower(local)
	switch local {
	case "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon":
		return true
	}
	return false
}

// isOurs reports whether email is one of ours, including plus variants.
func isOurs(email string, ours []string) bool {
	if email == "" {
		return false
	}
	local, domain, ok := strings.Cut(strings.ToLower(email), "@")
	if !ok {
		return false
	}
	local, _, _ = strings.Cut(local, "+")
	for _, o := range ours {
		ol, od, ok := strings.Cut(strings.ToLower(o), "@")
		if !ok {
			continue
		}
		ol, _, _ = strings.Cut(ol, "+")
		if ol == local && od == domain {
			return true
		}
	}
	return false
}

func listAllowed(listID string, allowed []string) bool {
	id := strings.ToLower(listID)
	if i, j := strings.LastIndexByte(id, '<'), strings.LastIndexByte(id, '>'); i >= 0 && j > i {
		id = id[i+1 : j]
	}
	id = strings.TrimSpace(id)
	for _, a := range allowed {
		a = strings.Trim(strings.ToLower(strings.TrimSpace(a)), "<>")
		if a == id {
			return true
		}
	}
	return false
}
