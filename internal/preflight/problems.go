package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// The usual ports of each TLS mode, said with every TLS mismatch: a wrong
// mode for the port is the common mistake.
const (
	imapPorts = "implicit TLS is usually port 993, starttls 143"
	smtpPorts = "implicit TLS is usually port 465, starttls 587"
)

// timedOut reports whether err is a deadline: ours (the check's timeout)
// or a socket's.
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// go-imap reports a failed greeting by text alone, cutting the chain.
	return strings.Contains(err.Error(), "i/o timeout")
}

// unreachable phrases a failure to reach addr (host:port, or a host) that
// the key configures, or returns "" when err is not a network failure.
// DNS failures read "no such host" like the resolver's own message.
func unreachable(err error, addr, key string, timeout time.Duration) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("no such host %s: check %s", dnsErr.Name, key)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot look up %s (%s): check %s and the resolver", dnsErr.Name, dnsErr.Err, key)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s: check %s (is the server running, is it the right port?)", addr, key)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("no route to %s: check %s and the network", addr, key)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("%s reset the connection: check %s", addr, key)
	case timedOut(err):
		return fmt.Sprintf("no answer from %s within %s: check %s (host, port, firewall)", addr, timeout, key)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Sprintf("cannot connect to %s (%v): check %s", addr, opErr.Err, key)
	}
	return ""
}

// tlsFailure phrases a failed TLS handshake with addr, or returns "" when
// err is not one. tlsKey is the key of the TLS mode, addrKey the key of the
// address; ports reminds which port goes with which mode.
func tlsFailure(err error, addr, tlsKey, addrKey, ports string) string {
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return fmt.Sprintf("TLS handshake with %s failed: the server does not speak TLS on this port: check %s: %s", addr, tlsKey, ports)
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &authErr) || errors.As(err, &invalidErr) {
		return fmt.Sprintf("the TLS certificate of %s is not trusted (%s): check that %s names the server's host", addr, certReason(err), addrKey)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return fmt.Sprintf("TLS handshake with %s refused (%v): check %s: %s", addr, alert, tlsKey, ports)
	}
	return ""
}

// certReason is the x509 part of a certificate error, without the
// "tls: failed to verify certificate:" preamble.
func certReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "x509: "); i >= 0 {
		return msg[i:]
	}
	return msg
}
