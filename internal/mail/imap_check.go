package mail

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// ConnectStep names a stage of connecting to a mail server. A failed Check
// reports the stage it stopped at, because the same network error means a
// different mistake in the configuration at each one (a timeout while
// dialling is a wrong address, a timeout waiting for the greeting usually a
// wrong TLS mode).
type ConnectStep string

// Stages of Inbox.Check and Sender.Check, in the order they run.
const (
	StepConfig   ConnectStep = "config"        // the settings cannot work (cleartext password, unknown TLS mode)
	StepDial     ConnectStep = "dial"          // TCP connect, DNS included
	StepTLS      ConnectStep = "tls handshake" // implicit TLS
	StepStartTLS ConnectStep = "starttls"      // greeting and STARTTLS
	StepGreeting ConnectStep = "greeting"      // IMAP greeting and CAPABILITY, SMTP greeting and EHLO
	StepToken    ConnectStep = "token"         // OAuth: getting (or renewing) an access token from the TokenSource
	StepLogin    ConnectStep = "login"         // IMAP LOGIN or AUTHENTICATE, SMTP AUTH
	StepCreate   ConnectStep = "create"        // IMAP: find or create a folder
	StepSelect   ConnectStep = "select"        // IMAP: SELECT the mailbox read
)

// CheckError is why a Check failed: the stage and the error the daemon's
// own connect returned there.
type CheckError struct {
	Step ConnectStep
	// Mailbox is the folder of StepCreate and StepSelect.
	Mailbox string
	Err     error
}

func (e *CheckError) Error() string { return string(e.Step) + ": " + e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// IMAPCheck is what Inbox.Check found.
type IMAPCheck struct {
	Status MailboxStatus // of the mailbox read
	// Existing and Created split the configured processed and failed
	// folders: those already there and those Check had to create.
	Existing, Created []string
}

// Check connects exactly as the daemon does (login, the processed and
// failed folders created when missing, SELECT), then logs out. It is for a
// fresh Inbox that nothing else uses. Failures are *CheckError; a refused
// login also matches ErrAuth, a failure to get an OAuth token (StepToken)
// is a *TokenError.
func (b *Inbox) Check(ctx context.Context) (IMAPCheck, error) {
	tr := &connectTrace{}
	status, err := b.connect(ctx, tr)
	if err != nil {
		return IMAPCheck{}, &CheckError{Step: tr.step, Mailbox: tr.mailbox, Err: err}
	}
	_ = b.Close()
	out := IMAPCheck{Status: status, Created: tr.created}
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
