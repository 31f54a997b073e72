package oauthfake

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TokenKind tells access tokens from refresh tokens.
type TokenKind string

const (
	AccessToken  TokenKind = "access"
	RefreshToken TokenKind = "refresh"
)

// TokenInfo is what the fake knows of a token it issued. It holds no
// token, only its TokenID.
type TokenInfo struct {
	ID       string
	Kind     TokenKind
	Grant    string // grant_type of the request that issued it, or "seeded"
	ClientID string
	// Subject is the mailbox for a delegated token; for an app-only token
	// (client credentials) the client ID, as Entra's sub names the service
	// principal; for a service account not impersonating anyone its email.
	Subject   string
	AppOnly   bool
	Scopes    []string
	IssuedAt  time.Time
	ExpiresAt time.Time // for a refresh token: end of the inactivity window
	Revoked   bool
}

// GrantSeeded is TokenInfo.Grant for tokens made by IssueAccessToken and
// IssueRefreshToken rather than over HTTP.
const GrantSeeded = "seeded"

type token struct {
	hash     string
	seq      int
	kind     TokenKind
	grant    string
	clientID string
	subject  string
	appOnly  bool
	scopes   []string
	issued   time.Time
	expires  time.Time
	lastUsed time.Time // refresh tokens: inactivity is measured from here
	revoked  bool
	// origin groups the tokens that came from one authorization code, so
	// redeeming the code twice can revoke them all (RFC 6749 section 4.1.2).
	origin string
}

func (t *token) info() TokenInfo {
	return TokenInfo{
		ID: t.hash[:tokenIDLen], Kind: t.kind, Grant: t.grant, ClientID: t.clientID,
		Subject: t.subject, AppOnly: t.appOnly, Scopes: slices.Clone(t.scopes),
		IssuedAt: t.issued, ExpiresAt: t.expires, Revoked: t.revoked,
	}
}

// expiresAt is when t stops working; refresh tokens expire after a spell
// of disuse rather than at a fixed time.
func (s *Server) expiresAt(t *token) time.Time {
	if t.kind == RefreshToken {
		return t.lastUsed.Add(s.opts.RefreshTokenLifetime)
	}
	return t.expires
}

// randomString is 32 random bytes, base64url: opaque and URL-safe.
func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("oauthfake: random: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue stores a new token and returns it in clear, the only time it is
// ever held that way. Callers hold s.mu.
func (s *Server) issue(kind TokenKind, tmpl token, now time.Time) (string, *token) {
	value := randomString()
	t := tmpl
	t.hash, t.kind, t.issued, t.lastUsed = hashToken(value), kind, now, now
	t.scopes = slices.Clone(tmpl.scopes)
	t.seq = len(s.tokens)
	if kind == AccessToken {
		t.expires = now.Add(s.opts.TokenLifetime)
	} else {
		t.expires = now.Add(s.opts.RefreshTokenLifetime)
	}
	s.tokens[t.hash] = &t
	return value, &t
}

// IssueAccessToken mints an access token for a mailbox without going
// through HTTP, for mail-server tests that only need a valid token.
func (s *Server) IssueAccessToken(clientID, mailbox string, scopes ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _ := s.issue(AccessToken, token{grant: GrantSeeded, clientID: clientID, subject: mailbox, scopes: scopes}, s.opts.Now())
	return v
}

// IssueRefreshToken mints a refresh token as if mailbox had signed in to
// clientID earlier (ticketsync mail authorize), so refresh tests need not
// run the browser flow first. The client must be registered.
func (s *Server) IssueRefreshToken(clientID, mailbox string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return "", fmt.Errorf("issue refresh token for %q: %w", clientID, ErrUnknownClient)
	}
	s.users[strings.ToLower(mailbox)] = true
	v, _ := s.issue(RefreshToken, token{grant: GrantSeeded, clientID: clientID, subject: mailbox, scopes: scopes}, s.opts.Now())
	return v, nil
}

// Lookup describes a token the fake issued, live or not.
func (s *Server) Lookup(tok string) (TokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hashToken(tok)]
	if !ok {
		return TokenInfo{}, false
	}
	info := t.info()
	info.ExpiresAt = s.expiresAt(t)
	return info, true
}

// Tokens describes every token issued, in issue order.
func (s *Server) Tokens() []TokenInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*token, 0, len(s.tokens))
	for _, t := range s.tokens {
		all = append(all, t)
	}
	slices.SortFunc(all, func(a, b *token) int { return a.seq - b.seq })
	out := make([]TokenInfo, len(all))
	for i, t := range all {
		out[i] = t.info()
		out[i].ExpiresAt = s.expiresAt(t)
	}
	return out
}

// Validate is what an in-process IMAP or SMTP test server asks when a
// client authenticates with XOAUTH2 or OAUTHBEARER: whether tok is a live
// access token, and whose (see TokenInfo.Subject). To also check that the
// token opens a given mailbox, app-only tokens included, use ValidateFor.
func (s *Server) Validate(tok string) (subject string, ok bool) {
	t, err := s.liveAccess(tok)
	if err != nil {
		return "", false
	}
	return t.subject, true
}

// ValidateFor checks that tok is a live access token that opens mailbox:
// a delegated token must be the mailbox's own (compared without case); an
// app-only token's client must have been granted the mailbox
// (Client.Mailboxes). The error wraps ErrUnknownToken, ErrTokenExpired,
// ErrTokenRevoked, ErrNotAccessToken or ErrMailboxDenied.
func (s *Server) ValidateFor(tok, mailbox string) error {
	t, err := s.liveAccess(tok)
	if err != nil {
		return err
	}
	if !t.appOnly {
		if !strings.EqualFold(t.subject, mailbox) {
			return fmt.Errorf("token %s of %s used for %s: %w", t.hash[:tokenIDLen], t.subject, mailbox, ErrMailboxDenied)
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[t.clientID]; ok && c.mailboxes[strings.ToLower(mailbox)] {
		return nil
	}
	return fmt.Errorf("app-only token %s of %s used for %s: %w", t.hash[:tokenIDLen], t.clientID, mailbox, ErrMailboxDenied)
}

// liveAccess returns a copy of the live access token tok.
func (s *Server) liveAccess(tok string) (token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hashToken(tok)]
	if !ok {
		return token{}, fmt.Errorf("validate %s: %w", TokenID(tok), ErrUnknownToken)
	}
	if err := s.liveErr(t, s.opts.Now()); err != nil {
		return token{}, err
	}
	if t.kind != AccessToken {
		return token{}, fmt.Errorf("validate %s: %w", t.hash[:tokenIDLen], ErrNotAccessToken)
	}
	return *t, nil
}

// liveErr reports why t cannot be used at now. Callers hold s.mu.
func (s *Server) liveErr(t *token, now time.Time) error {
	id := t.hash[:tokenIDLen]
	if t.revoked {
		return fmt.Errorf("token %s: %w", id, ErrTokenRevoked)
	}
	if !now.Before(s.expiresAt(t)) {
		return fmt.Errorf("token %s expired at %s: %w", id, s.expiresAt(t).Format(time.RFC3339), ErrTokenExpired)
	}
	return nil
}

// Revoke revokes one token, access or refresh, and reports whether it was
// known. Revoking a refresh token leaves the access tokens already issued
// from it working until they expire, as at Microsoft and Google.
func (s *Server) Revoke(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hashToken(tok)]
	if ok {
		t.revoked = true
	}
	return ok
}

// RevokeAll revokes every token issued so far, access tokens included: a
// password reset with sessions revoked and continuous access evaluation.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
}
