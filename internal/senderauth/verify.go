package senderauth

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
)

// LookupTXT resolves a name's DNS TXT records. A name that does not exist
// must come back as a *net.DNSError with IsNotFound set, as the system
// resolver answers, so "no DMARC policy" is told from "DNS failed".
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// CheckerConfig configures a Checker.
type CheckerConfig struct {
	// LookupTXT resolves DKIM keys and DMARC policies; nil uses the system
	// resolver. Tests give one that answers from a map.
	LookupTXT LookupTXT
	// Timeout bounds the lookups for one mail; default 10s.
	Timeout time.Duration
}

// Checker verifies DKIM signatures and DMARC alignment itself, for a
// mailbox whose receiving server writes no Authentication-Results.
//
// It sees the message, not the SMTP session, so SPF (which needs the
// connecting IP) is not checked: mail passes with a DKIM signature aligned
// with its From domain, and fails when that domain publishes a DMARC
// policy and no aligned signature verifies. A domain that relies on SPF
// alone for DMARC therefore fails here; the mail is still imported, as an
// internal note marked as from an unverified sender.
type Checker struct {
	lookup  LookupTXT
	timeout time.Duration
}

// NewChecker applies defaults.
func NewChecker(cfg CheckerConfig) *Checker {
	c := &Checker{lookup: cfg.LookupTXT, timeout: cfg.Timeout}
	if c.lookup == nil {
		r := &net.Resolver{}
		c.lookup = r.LookupTXT
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	return c
}

// maxSignatures bounds the DKIM signatures checked per mail: each costs a
// DNS lookup, and a hostile mail may carry hundreds.
const maxSignatures = 5

// Check reads the raw message (header and body as received) and judges its
// From domain.
func (c *Checker) Check(ctx context.Context, raw io.Reader, fromDomain string) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	fromDomain = domainOf(fromDomain)
	if fromDomain == "" {
		return Result{None, "no From domain to check"}
	}
	lookup := func(name string) ([]string, error) { return c.lookup(ctx, name) }

	verifs, err := dkim.VerifyWithOptions(raw, &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return Result{None, "DKIM not checked: " + err.Error()}
	}
	rec, err := c.policy(fromDomain, lookup)
	if err != nil {
		return Result{None, "DMARC policy of " + fromDomain + " not known: " + err.Error()}
	}
	strict := rec != nil && rec.DKIMAlignment == dmarc.AlignmentStrict
	var signers []string
	for _, v := range verifs {
		if v.Err != nil {
			continue
		}
		signers = append(signers, v.Domain)
		if (strict && strictlyAligned(v.Domain, fromDomain)) || (!strict && aligned(v.Domain, fromDomain)) {
			return Result{Pass, "dkim=pass header.d=" + domainOf(v.Domain) + " (checked here)"}
		}
	}
	if rec == nil {
		return Result{None, "no DMARC policy for " + fromDomain + " and no aligned DKIM signature (checked here)"}
	}
	why := "no DKIM signature"
	if len(verifs) > 0 {
		why = "no valid DKIM signature of " + fromDomain
		if len(signers) > 0 {
			why += " (valid only: " + strings.Join(signers, ", ") + ")"
		}
	}
	return Result{Fail, "dmarc=fail: " + fromDomain + " publishes a DMARC policy and the mail has " + why + " (checked here)"}
}

// policy finds the DMARC record of the From domain or, failing that, of
// its organizational domain (RFC 7489 6.6.3); nil when neither has one.
func (c *Checker) policy(domain string, lookup func(string) ([]string, error)) (*dmarc.Record, error) {
	opts := &dmarc.LookupOptions{LookupTXT: lookup}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := orgDomain(domain); org != "" && org != domain {
			rec, err = dmarc.LookupWithOptions(org, opts)
		}
	}
	if errors.Is(err, dmarc.ErrNoPolicy) {
		return nil, nil
	}
	return rec, err
}
