package smtp

import (
	"context"

	"github.com/ticketsync/ticketsync/internal/mail"
)

// CheckResult is what Sender.Check found.
type CheckResult struct {
	Encrypted     bool // the session ran over TLS (implicit or STARTTLS)
	Authenticated bool // AUTH was required by the configuration and accepted
}

// Check connects as a send would (dial, TLS, greeting and EHLO, AUTH when a
// username is configured), sends no mail and says QUIT. It uses a
// connection of its own, not the one Send keeps. Failures are *mail.CheckError
// wrapping the *SendError the daemon would have logged.
func (s *Sender) Check(ctx context.Context) (CheckResult, error) {
	sess, step, err := s.open(ctx)
	if err != nil {
		return CheckResult{}, &mail.CheckError{Step: step, Err: err}
	}
	_, encrypted := sess.client.TLSConnectionState()
	sess.quit()
	return CheckResult{Encrypted: encrypted, Authenticated: s.cfg.Username != ""}, nil
}
