package mail

// ConnectStep names a stage of connecting to a mail server. A failed Check
// reports the stage it stopped at, because the same network error means a
// different mistake in the configuration at each one (a timeout while
// dialling is a wrong address, a timeout waiting for the greeting usually a
// wrong TLS mode).
type ConnectStep string

// Stages of imap.Inbox.Check and smtp.Sender.Check, in the order they run.
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
