package oauthfake

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// Client is an application registration.
type Client struct {
	ID string
	// Secret is the client secret. Empty makes a public client (a native
	// app), known by ID alone and refused if it presents a secret.
	Secret string
	// Certificates are accepted for client assertions (private_key_jwt).
	// A client with certificates and no Secret is still confidential.
	Certificates []*x509.Certificate
	// RedirectURIs, when set, are the only ones /authorize accepts; the
	// port of a loopback URI is ignored (RFC 8252 section 7.3).
	RedirectURIs []string
	// Scopes, when set, are the only scopes it may be granted.
	Scopes []string
	// Grants, when set, are the only grant types it may use; others
	// answer unauthorized_client.
	Grants []string
	// Mailboxes are those its app-only (client credentials) tokens may
	// open: what Exchange's mailbox permissions for the service principal
	// grant. ValidateFor checks them.
	Mailboxes []string
}

// ServiceAccount is a Google service account.
type ServiceAccount struct {
	Email string
	// ClientID is the numeric unique id of the key file's client_id.
	ClientID string
	// KeyID is the private_key_id the assertion's kid must name; empty
	// accepts any kid.
	KeyID     string
	PublicKey *rsa.PublicKey
	// DelegatedScopes are what a Workspace admin granted it for
	// domain-wide delegation: impersonating a user (sub) with any other
	// scope answers unauthorized_client.
	DelegatedScopes []string
}

// client is a registration as stored: the secret only as a hash.
type client struct {
	id           string
	secretHash   []byte // nil: public
	certs        map[string]*x509.Certificate
	byThumb      map[string]*x509.Certificate // x5t and x5t#S256
	redirectURIs []string
	scopes       []string
	grants       []string
	mailboxes    map[string]bool
}

func (c *client) confidential() bool { return c.secretHash != nil || len(c.certs) > 0 }

func (c *client) secretMatches(secret string) bool {
	if c.secretHash == nil {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], c.secretHash) == 1
}

func (c *client) allowsGrant(grant string) bool {
	return len(c.grants) == 0 || contains(c.grants, grant)
}

// Thumbprint is the x5t of a certificate: base64url of the SHA-1 of its
// DER encoding, as Microsoft's client assertions carry it.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ThumbprintS256 is the x5t#S256 of a certificate.
func ThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AddClient registers an application, replacing one with the same ID. It
// panics on a registration that cannot work (no ID, a certificate without
// an RSA key), like http.HandleFunc on a bad pattern: that is a bug in the
// test, not a condition to handle.
func (s *Server) AddClient(c Client) {
	if c.ID == "" {
		panic("oauthfake: AddClient without ID")
	}
	st := &client{
		id:           c.ID,
		certs:        map[string]*x509.Certificate{},
		byThumb:      map[string]*x509.Certificate{},
		redirectURIs: append([]string(nil), c.RedirectURIs...),
		scopes:       append([]string(nil), c.Scopes...),
		grants:       append([]string(nil), c.Grants...),
		mailboxes:    map[string]bool{},
	}
	if c.Secret != "" {
		h := sha256.Sum256([]byte(c.Secret))
		st.secretHash = h[:]
	}
	for _, cert := range c.Certificates {
		addCert(st, cert)
	}
	for _, m := range c.Mailboxes {
		st.mailboxes[strings.ToLower(m)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = st
}

func addCert(c *client, cert *x509.Certificate) {
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		panic("oauthfake: certificate " + cert.Subject.CommonName + " has no RSA key")
	}
	c.certs[Thumbprint(cert)] = cert
	c.byThumb[Thumbprint(cert)] = cert
	c.byThumb[ThumbprintS256(cert)] = cert
}

// SetClientSecret rotates a client's secret; the old one stops working at
// once. An empty secret makes the client public.
func (s *Server) SetClientSecret(id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("set secret of %q: %w", id, ErrUnknownClient)
	}
	if secret == "" {
		c.secretHash = nil
		return nil
	}
	h := sha256.Sum256([]byte(secret))
	c.secretHash = h[:]
	return nil
}

// AddClientCertificate registers one more certificate for a client's
// assertions, as uploading a second certificate before a rollover does.
func (s *Server) AddClientCertificate(id string, cert *x509.Certificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("add certificate to %q: %w", id, ErrUnknownClient)
	}
	addCert(c, cert)
	return nil
}

// RemoveClientCertificate unregisters a certificate by its x5t thumbprint.
func (s *Server) RemoveClientCertificate(id, thumbprint string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("remove certificate from %q: %w", id, ErrUnknownClient)
	}
	if cert, ok := c.certs[thumbprint]; ok {
		delete(c.certs, thumbprint)
		delete(c.byThumb, Thumbprint(cert))
		delete(c.byThumb, ThumbprintS256(cert))
	}
	return nil
}

// AddServiceAccount registers a Google service account's public key.
// WriteServiceAccount does this and writes the matching key file.
func (s *Server) AddServiceAccount(sa ServiceAccount) {
	if sa.Email == "" || sa.PublicKey == nil {
		panic("oauthfake: AddServiceAccount needs Email and PublicKey")
	}
	sa.DelegatedScopes = append([]string(nil), sa.DelegatedScopes...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serviceAccts[strings.ToLower(sa.Email)] = &sa
}

// AddUser makes mailboxes known: a service account may impersonate only a
// known user, and /authorize signs in only a known user.
func (s *Server) AddUser(mailboxes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range mailboxes {
		s.users[strings.ToLower(m)] = true
	}
}

// SetSignedInUser is who approves at /authorize (when the request has no
// login_hint) and in the device flow, as if they had signed in in a
// browser; it is added as a user. Empty signs everyone out.
func (s *Server) SetSignedInUser(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signedIn = mailbox
	if mailbox != "" {
		s.users[strings.ToLower(mailbox)] = true
	}
}

// DenyNextAuthorization makes the next n sign-ins (at /authorize or in the
// device flow) end in access_denied, as when the user declines consent.
func (s *Server) DenyNextAuthorization(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyNext = max(n, 0)
}

// takeDeny consumes one denial. Callers hold s.mu.
func (s *Server) takeDeny() bool {
	if s.denyNext > 0 {
		s.denyNext--
		return true
	}
	return false
}

// redirectAllowed checks a redirect_uri: loopback http only, since no
// test has anywhere else to be redirected to, and among the client's
// registered ones when it has any, ignoring the loopback port.
func redirectAllowed(c *client, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect_uri %q: %w", raw, err)
	}
	if u.Scheme != "http" || !isLoopbackHost(u.Hostname()) || u.Fragment != "" {
		return fmt.Errorf("redirect_uri %q is not a loopback http URL", raw)
	}
	if len(c.redirectURIs) == 0 {
		return nil
	}
	for _, reg := range c.redirectURIs {
		r, err := url.Parse(reg)
		if err != nil {
			continue
		}
		if r.Scheme == u.Scheme && r.Hostname() == u.Hostname() && r.Path == u.Path &&
			(r.Port() == u.Port() || isLoopbackHost(r.Hostname())) {
			return nil
		}
	}
	return fmt.Errorf("redirect_uri %q is not registered for %s", raw, c.id)
}

func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}
