package senderauth

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// aligned is DMARC's relaxed identifier alignment (RFC 7489 3.1): two
// domains align when they share an organizational domain, so mail signed
// by mail.example.com aligns with From: a@example.com, and example.co.uk
// does not align with other.co.uk.
func aligned(a, b string) bool {
	a, b = domainOf(a), domainOf(b)
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	oa, ob := orgDomain(a), orgDomain(b)
	return oa != "" && oa == ob
}

// strictlyAligned is alignment under adkim=s: the same domain exactly.
func strictlyAligned(a, b string) bool {
	a, b = domainOf(a), domainOf(b)
	return a != "" && a == b
}

// orgDomain is the registered domain under the public suffix list; "" for
// a public suffix itself or a name that is not a domain.
func orgDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return ""
	}
	return org
}
