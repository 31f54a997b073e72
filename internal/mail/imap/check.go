package imap

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/ticketsync/ticketsync/internal/mail"
)

// CheckResult is what Inbox.Check found.
type CheckResult struct {
	Status MailboxStatus // of the mailbox read
	// Existing and Created split the configured processed and failed
	// folders: those already there and those Check had to create.
	Existing, Created []string
}

// Check connects exactly as the daemon does (login, the processed and
// failed folders created when missing, SELECT), then logs out. It is for a
// fresh Inbox that nothing else uses. Failures are *mail.CheckError; a refused
// login also matches ErrAuth, a failure to get an OAuth token (mail.StepToken)
// is a *mail.TokenError.
func (b *Inbox) Check(ctx context.Context) (CheckResult, error) {
	tr := &connectTrace{}
	status, err := b.connect(ctx, tr)
	if err != nil {
		return CheckResult{}, &mail.CheckError{Step: tr.step, Mailbox: tr.mailbox, Err: err}
	}
	_ = b.Close()
	out := CheckResult{Status: status, Created: tr.created}
	for _, name := range []string{b.cfg.ProcessedMailbox, b.cfg.FailedMailbox} {
		if name != "" && name != b.cfg.Mailbox && !slices.Contains(tr.created, name) && !slices.Contains(out.Existing, name) {
			out.Existing = append(out.Existing, name)
		}
	}
	return out, nil
}

// MailboxMissing reports whether err is a server's answer that a mailbox
// does not exist, as opposed to one it may not open.
func MailboxMissing(err error) bool {
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Type != "NO" {
		return false
	}
	// NONEXISTENT is RFC 5530's; older servers say TRYCREATE or only text.
	switch ce.Code {
	case "NONEXISTENT", "TRYCREATE":
		return true
	case "":
		return mentionsMissing(ce.Text)
	}
	return false
}

func mentionsMissing(text string) bool {
	t := strings.ToLower(text)
	for _, phrase := range []string{"doesn't exist", "does not exist", "no such", "unknown mailbox", "not found"} {
		if strings.Contains(t, phrase) {
			return true
		}
	}
	return false
}
