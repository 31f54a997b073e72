package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ticketsync/ticketsync/internal/mail/mime"
)

// TokenSource hands out OAuth 2.0 access tokens for the mailbox; internal/oauth implements it over golang.org/x/oauth2.
type TokenSource interface {
	// Token returns a valid access token, cached while it lasts.
	Token(ctx context.Context) (string, error)
	// Renew drops the cached token and gets a new one: the server refused the cached one.
	Renew(ctx context.Context) (string, error)
}

// TokenError is a failure of the TokenSource itself: the identity provider
// refused (a wrong or expired client secret, a revoked grant, consent
// withdrawn) or could not be reached. The mail server never saw a token.
// A refusal lasts until the configuration or the grant changes, an outage
// passes: callers retry with backoff either way. Err is the TokenSource's
// error, for errors.As.
type TokenError struct {
	Mailbox string
	// Renew: the call that failed was Renew, after the mail server had
	// refused the token Token gave.
	Renew bool
	Err   error
}

func (e *TokenError) Error() string {
	what := "get"
	if e.Renew {
		what = "renew"
	}
	return "oauth: " + what + " an access token for " + e.Mailbox + ": " + e.Err.Error()
}

func (e *TokenError) Unwrap() error { return e.Err }

// OAuthRefusedError is a mail server refusing the access token for a
// mailbox twice: the cached token and a freshly renewed one. The identity
// provider issues tokens, so the credentials work; what is missing is the
// mailbox's side: the permission, its consent, or the grant of this
// mailbox. It stays so until an administrator acts. imap.Inbox.Connect
// returns it wrapped with imap.ErrAuth; smtp.Sender returns it as the Err
// of a transient smtp.SendError, as the mail can wait for the grant.
type OAuthRefusedError struct {
	Protocol  string // "imap" or "smtp"
	Mailbox   string
	Mechanism string // XOAUTH2 or OAUTHBEARER
	// Status is the "status" of the server's JSON error challenge ("401",
	// "invalid_token"); "" when the server failed without one.
	Status string
	// Reply is the server's final answer, e.g. "NO [AUTHENTICATIONFAILED]
	// Authentication failed." or "535 5.7.3 Authentication unsuccessful";
	// "" when the exchange was cancelled after the challenge.
	Reply string
	// Addr is the server's host:port: its host aims the advice at the
	// provider that runs the server.
	Addr string
}

func (e *OAuthRefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s server refused the OAuth token for %s (%s", e.Protocol, e.Mailbox, e.Mechanism)
	if e.Status != "" {
		b.WriteString(", status " + e.Status)
	}
	if e.Reply != "" {
		b.WriteString(": " + mime.OneLine(e.Reply))
	}
	b.WriteString("), a freshly renewed token too: ")
	b.WriteString(oauthAdvice(e.Protocol, hostOf(e.Addr)))
	return b.String()
}

// oauthAdvice says what an administrator checks when the provider issues
// tokens that the mail server will not take. The host narrows it to one
// provider when it is one of theirs.
func oauthAdvice(protocol, host string) string {
	perm, extra := "IMAP.AccessAsApp", ""
	if protocol == "smtp" {
		perm, extra = "SMTP.SendAsApp", ", and that SMTP AUTH is enabled for the mailbox"
	}
	microsoft := "for Microsoft 365 check that the app registration has the Office 365 Exchange Online application permission " +
		perm + " with admin consent, and that its service principal was granted this mailbox in Exchange " +
		"(New-ServicePrincipal, Add-MailboxPermission)" + extra
	google := "for Google check that the service account's client ID has domain-wide delegation " +
		"with the scope https://mail.google.com/ and impersonates this mailbox"
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case hostUnder(h, "office365.com", "outlook.com", "office.com"):
		return microsoft
	case hostUnder(h, "gmail.com", "googlemail.com", "google.com"):
		return google
	}
	return microsoft + "; " + google
}

func hostUnder(host string, domains ...string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// hostOf is the host of a host:port address, or the address itself.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

var errEmptyToken = errors.New("the token source returned an empty token")

// OAuthToken asks tokens for the cached token or, with renew, a new one.
// timeout bounds the call: a provider that never answers must not hold a
// login open for good. A failure is a *TokenError.
func OAuthToken(ctx context.Context, tokens TokenSource, mailbox string, renew bool, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		tok string
		err error
	)
	if renew {
		tok, err = tokens.Renew(ctx)
	} else {
		tok, err = tokens.Token(ctx)
	}
	if err == nil && tok == "" {
		err = errEmptyToken
	}
	if err != nil {
		return "", &TokenError{Mailbox: mailbox, Renew: renew, Err: err}
	}
	return tok, nil
}

// ErrNoTokenUser: Tokens is set without a username. The token is only
// good for one mailbox, which the server must be told.
var ErrNoTokenUser = errors.New("OAuth sign-in needs the mailbox address as username")
