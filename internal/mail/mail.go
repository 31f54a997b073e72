// Package mail holds what the two sides of the support mailbox share:
// how a connection is secured (TLSMode), the stages a connection check
// reports (ConnectStep, CheckError) and OAuth 2.0 sign-in over SASL
// (TokenSource, XOAUTH2 and OAUTHBEARER).
//
// The sides themselves are packages of their own, so that each reads on
// its own and a caller takes only the side it uses: internal/mail/imap
// reads the mailbox, internal/mail/smtp sends, and internal/mail/mime
// parses, quotes and composes messages without touching the network.
package mail

import (
	"crypto/tls"
	"net"
	"strings"
	"time"
)

// TLSMode says how a connection to a mail server is secured.
type TLSMode string

const (
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (IMAP 993, SMTP 465)
	TLSStartTLS TLSMode = "starttls" // plain greeting, then STARTTLS (IMAP 143, SMTP 587)
	TLSNone     TLSMode = "none"     // cleartext: loopback only, unless AllowInsecure
)

// IsLoopback reports whether host names this machine, the only place a
// password may go without TLS unless the configuration allows it.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientTLS is the TLS configuration a connection to host uses: a copy of
// the configured one (a test's or an operator's CA), or TLS 1.2 at least
// with the system's roots, verifying host unless a server name is set.
func ClientTLS(configured *tls.Config, host string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if configured != nil {
		c = configured.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}

// PastDeadline fails pending I/O at once when set as a connection's
// deadline (the trick net/http uses): the end of a context breaks a
// command that cannot be abandoned half way.
var PastDeadline = time.Unix(1, 0)
