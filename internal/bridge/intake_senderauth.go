package bridge

import (
	"context"
	"io"
	"strings"

	"github.com/ticketsync/ticketsync/internal/mapping"
	"github.com/ticketsync/ticketsync/internal/senderauth"
)

// SenderChecker checks a mail's DKIM signatures and DMARC alignment
// itself (senderauth.Checker); it reads the message as received.
type SenderChecker interface {
	Check(ctx context.Context, raw io.Reader, fromDomain string) senderauth.Result
}

// SenderAuthentication says whose word on a sender's identity the intake
// believes. The zero value believes From, as mail always did.
type SenderAuthentication struct {
	// TrustedAuthservIDs are the receiving servers whose
	// Authentication-Results are read (senderauth.MicrosoftID for
	// Microsoft 365).
	TrustedAuthservIDs []string
	// Checker, when set, judges mail those results leave open.
	Checker SenderChecker
}

func (a SenderAuthentication) on() bool { return len(a.TrustedAuthservIDs) > 0 || a.Checker != nil }

// authenticate decides whether the mail's From can be believed: the
// trusted servers' results first, then the intake's own check for what
// they leave open. The answer is kept on the item, as a lookup made again
// (refresh) must not pay for the DNS again.
func (in *Intake) authenticate(ctx context.Context, it *item) mapping.SenderAuth {
	a := in.cfg.Authentication
	if !a.on() || it.msg == nil {
		return mapping.SenderAuth{}
	}
	if it.auth != nil {
		return *it.auth
	}
	domain := it.email.FromEmail
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	res := senderauth.Result{Verdict: senderauth.None}
	if len(a.TrustedAuthservIDs) > 0 {
		fields := make([]senderauth.Field, len(it.msg.Header.AuthResults))
		for i, f := range it.msg.Header.AuthResults {
			fields[i] = senderauth.Field{Value: f.Value, Pos: f.Pos}
		}
		res = senderauth.FromHeaders(fields, a.TrustedAuthservIDs, domain)
	}
	if res.Verdict == senderauth.None && a.Checker != nil {
		rc, ok, err := it.msg.OpenRaw()
		switch {
		case err != nil:
			in.log.Warn("sender not checked: raw message unreadable", "uid", it.env.UID, "err", err)
		case ok:
			res = a.Checker.Check(ctx, rc, domain)
			_ = rc.Close()
		}
	}
	out := mapping.SenderAuth{Reason: res.Reason}
	switch res.Verdict {
	case senderauth.Pass:
		out.Verdict = mapping.AuthPass
	case senderauth.Fail:
		out.Verdict = mapping.AuthFail
	}
	it.auth = &out
	return out
}
