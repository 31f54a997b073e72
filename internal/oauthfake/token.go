package oauthfake

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Client authentication methods, as the log names them (the OpenID
// Connect token_endpoint_auth_method values).
const (
	AuthNone          = "none"
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// tokenCall is one request to the token endpoint.
type tokenCall struct {
	w     *statusWriter
	r     *http.Request
	form  url.Values
	now   time.Time
	basic bool // client used HTTP Basic: a 401 then carries a challenge
}

func (c *tokenCall) fail(s *Server, e *oauthErr) { s.writeErr(c.w, e, c.basic) }

func (s *Server) serveToken(w *statusWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeErr(w, oerr("invalid_request", http.StatusMethodNotAllowed, "the token endpoint takes POST"), false)
		return
	}
	call := &tokenCall{w: w, r: r, now: s.opts.Now()}
	form, err := readForm(r, true)
	if err != nil {
		call.fail(s, errInvalidRequest(err.Error()))
		return
	}
	call.form = form
	gt := form.Get("grant_type")
	w.note(func(q *Request) { q.GrantType, q.Scope = gt, form.Get("scope") })
	if gt == "" {
		call.fail(s, errMissingParam("grant_type"))
		return
	}
	// Google's service-account grant carries no client authentication:
	// the assertion's signature is the credential.
	if gt == GrantJWTBearer {
		s.grantJWTBearer(call)
		return
	}
	cl, e := s.authenticateClient(call)
	if e != nil {
		call.fail(s, e)
		return
	}
	switch gt {
	case GrantClientCredentials, GrantRefreshToken, GrantAuthorizationCode, GrantDeviceCode:
	default:
		call.fail(s, errUnsupportedGrant(gt))
		return
	}
	if !cl.allowsGrant(gt) {
		call.fail(s, errGrantNotAllowed(cl.id, gt))
		return
	}
	switch gt {
	case GrantClientCredentials:
		s.grantClientCredentials(call, cl)
	case GrantRefreshToken:
		s.grantRefresh(call, cl)
	case GrantAuthorizationCode:
		s.grantAuthorizationCode(call, cl)
	case GrantDeviceCode:
		s.grantDeviceCode(call, cl)
	}
}

// readForm reads a form body. Strict mode is the token endpoint's: the
// form content type is required and no parameter may repeat (RFC 6749
// section 3.2). Introspection is lenient, because Dovecot 2.3 posts
// "token=..." without any Content-Type.
func readForm(r *http.Request, strict bool) (url.Values, error) {
	if strict {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("content type %q is not application/x-www-form-urlencoded", mt)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxFormBytes {
		return nil, errors.New("body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("parse form: %w", err)
	}
	if strict {
		for k, v := range form {
			if len(v) > 1 {
				return nil, fmt.Errorf("parameter %s repeated", k)
			}
		}
	}
	return form, nil
}

// authenticateClient identifies and authenticates the client by exactly
// one of: HTTP Basic with a secret, client_secret in the form, a client
// assertion, or client_id alone for a public client. HTTP Basic with an
// empty password only names the client: that is what x/oauth2 sends for
// a client without a secret when it tries the header style first.
func (s *Server) authenticateClient(call *tokenCall) (*client, *oauthErr) {
	form := call.form
	basicID, basicSecret, hasBasic := call.r.BasicAuth()
	if hasBasic {
		call.basic = true
		// RFC 6749 section 2.3.1 form-encodes both before Basic encoding,
		// and x/oauth2 does so.
		if v, err := url.QueryUnescape(basicID); err == nil {
			basicID = v
		}
		if v, err := url.QueryUnescape(basicSecret); err == nil {
			basicSecret = v
		}
	}
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	assertion := form.Get("client_assertion")

	methods := 0
	for _, present := range []bool{hasBasic && basicSecret != "", formSecret != "", assertion != ""} {
		if present {
			methods++
		}
	}
	if methods > 1 {
		return nil, errMultipleAuth()
	}
	id := formID
	if hasBasic {
		if formID != "" && formID != basicID {
			return nil, errInvalidRequest("client_id differs from the Authorization header")
		}
		id = basicID
	}
	if id == "" && assertion != "" {
		// client_id is optional beside an assertion (RFC 7523 section 3):
		// its iss names the client, and is checked again once verified.
		if j, err := parseJWT(assertion); err == nil {
			id = j.str("iss")
		}
	}
	if id == "" {
		return nil, errMissingParam("client_id")
	}
	call.w.note(func(q *Request) { q.ClientID = id })

	s.mu.Lock()
	cl, ok := s.clients[id]
	s.mu.Unlock()
	if !ok {
		return nil, errUnknownClient(id)
	}
	method := AuthNone
	switch {
	case assertion != "":
		method = AuthPrivateKeyJWT
	case hasBasic && basicSecret != "":
		method = AuthSecretBasic
	case formSecret != "":
		method = AuthSecretPost
	}
	call.w.note(func(q *Request) { q.ClientAuth = method })

	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case AuthPrivateKeyJWT:
		if !cl.confidential() {
			return nil, errPublicWithSecret(id)
		}
		if e := s.checkClientAssertion(cl, form.Get("client_assertion_type"), assertion, s.audience(call.r), call.now); e != nil {
			return nil, e
		}
	case AuthSecretBasic, AuthSecretPost:
		if method == AuthSecretBasic && s.opts.AuthStyle == oauth2.AuthStyleInParams {
			return nil, errAuthStyleRefused("HTTP Basic")
		}
		if method == AuthSecretPost && s.opts.AuthStyle == oauth2.AuthStyleInHeader {
			return nil, errAuthStyleRefused("form parameters")
		}
		if !cl.confidential() {
			return nil, errPublicWithSecret(id)
		}
		secret := basicSecret
		if method == AuthSecretPost {
			secret = formSecret
		}
		if !cl.secretMatches(secret) {
			return nil, errWrongSecret(id)
		}
	default:
		if cl.confidential() {
			return nil, errNoCredentials(id)
		}
	}
	return cl, nil
}

// checkClientAssertion verifies a private_key_jwt assertion the way
// Microsoft does for certificate credentials: RS256 or PS256 by a
// registered certificate named by x5t or x5t#S256, iss = sub = client ID,
// aud = token URL, a current exp, and a jti. Callers hold s.mu.
func (s *Server) checkClientAssertion(cl *client, typ, assertion, aud string, now time.Time) *oauthErr {
	if typ != ClientAssertionTypeJWT {
		return errAssertionType(typ)
	}
	j, err := parseJWT(assertion)
	if err != nil {
		return errAssertionMalformed(err.Error())
	}
	if j.header.Alg != "RS256" && j.header.Alg != "PS256" {
		return errAssertionMalformed(fmt.Sprintf("unsupported alg %q", j.header.Alg))
	}
	thumb := j.header.X5tS256
	if thumb == "" {
		thumb = j.header.X5t
	}
	switch {
	case thumb != "":
		cert, ok := cl.byThumb[thumb]
		if !ok {
			return errAssertionKeyNotFound(thumb)
		}
		if j.verify(cert.PublicKey.(*rsa.PublicKey)) != nil {
			return errAssertionSignature()
		}
	case s.opts.Flavor == Microsoft:
		return errAssertionMalformed("no x5t or x5t#S256 header")
	default:
		verified := false
		for _, cert := range cl.certs {
			if j.verify(cert.PublicKey.(*rsa.PublicKey)) == nil {
				verified = true
				break
			}
		}
		if !verified {
			return errAssertionSignature()
		}
	}
	if j.str("iss") != cl.id || j.str("sub") != cl.id {
		return errAssertionIssuer(cl.id)
	}
	if !contains(j.audiences(), aud) {
		return errAssertionAudience(aud)
	}
	exp, ok := j.unix("exp")
	if !ok {
		return errAssertionTime("no exp")
	}
	if !now.Before(exp.Add(assertionSkew)) {
		return errAssertionTime("expired at " + exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := j.unix("nbf"); ok && nbf.After(now.Add(assertionSkew)) {
		return errAssertionTime("not valid before " + nbf.UTC().Format(time.RFC3339))
	}
	if j.str("jti") == "" {
		return errAssertionMalformed("no jti")
	}
	return nil
}

func (s *Server) grantClientCredentials(call *tokenCall, cl *client) {
	if !cl.confidential() {
		call.fail(s, errNoCredentials(cl.id))
		return
	}
	scopes := splitScope(call.form.Get("scope"))
	if s.opts.Flavor == Microsoft {
		// App-only tokens are for one resource's application permissions,
		// named as <resource>/.default.
		if len(scopes) == 0 {
			call.fail(s, errMissingParam("scope"))
			return
		}
		if len(scopes) > 1 || !strings.HasSuffix(scopes[0], microsoftDefaultSuffix) {
			call.fail(s, errDefaultScope(strings.Join(scopes, " ")))
			return
		}
	}
	if e := scopesAllowed(cl, scopes); e != nil {
		call.fail(s, e)
		return
	}
	s.mu.Lock()
	access, t := s.issue(AccessToken, token{grant: GrantClientCredentials, clientID: cl.id, subject: cl.id, appOnly: true, scopes: scopes}, call.now)
	s.mu.Unlock()
	s.writeToken(call, access, "", t)
}

func scopesAllowed(cl *client, scopes []string) *oauthErr {
	if len(cl.scopes) == 0 {
		return nil
	}
	for _, sc := range scopes {
		if !contains(cl.scopes, sc) {
			return errScopeNotAllowed(sc)
		}
	}
	return nil
}

func (s *Server) grantRefresh(call *tokenCall, cl *client) {
	rt := call.form.Get("refresh_token")
	if rt == "" {
		call.fail(s, errMissingParam("refresh_token"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hashToken(rt)]
	switch {
	case !ok || t.kind != RefreshToken:
		call.fail(s, errRefreshUnknown())
		return
	case t.clientID != cl.id:
		call.fail(s, errGrantOtherClient("refresh token"))
		return
	case t.revoked:
		call.fail(s, errRefreshRevoked())
		return
	case !call.now.Before(s.expiresAt(t)):
		call.fail(s, errRefreshExpired(t.issued, call.now.Sub(t.lastUsed)))
		return
	}
	scopes := t.scopes
	if req := splitScope(call.form.Get("scope")); len(req) > 0 {
		for _, sc := range req {
			if !contains(t.scopes, sc) {
				call.fail(s, errScopeNotAllowed(sc))
				return
			}
		}
		scopes = req
	}
	t.lastUsed = call.now
	call.w.note(func(q *Request) { q.Subject = t.subject })
	access, at := s.issue(AccessToken, token{grant: GrantRefreshToken, clientID: cl.id, subject: t.subject, scopes: scopes, origin: t.origin}, call.now)
	newRefresh := ""
	if s.opts.RotateRefreshTokens {
		newRefresh, _ = s.issue(RefreshToken, token{grant: GrantRefreshToken, clientID: cl.id, subject: t.subject, scopes: t.scopes, origin: t.origin}, call.now)
		t.revoked = true
	}
	s.writeTokenLocked(call, access, newRefresh, at)
}

// grantAuthorizationCode redeems a code from /authorize. A failed attempt
// leaves the code as it was: x/oauth2's auth-style auto-detection sends
// the same code again after any error, and burning the code on the first
// try would replace the real error with "already redeemed". Once
// redeemed, presenting it again revokes what it produced (RFC 6749
// section 4.1.2).
func (s *Server) grantAuthorizationCode(call *tokenCall, cl *client) {
	code := call.form.Get("code")
	if code == "" {
		call.fail(s, errMissingParam("code"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ac, ok := s.codes[hashToken(code)]
	if !ok {
		call.fail(s, errCodeUnknown())
		return
	}
	if ac.clientID != cl.id {
		call.fail(s, errGrantOtherClient("authorization code"))
		return
	}
	if ac.redeemed {
		for _, t := range s.tokens {
			if t.origin == ac.hash {
				t.revoked = true
			}
		}
		call.fail(s, errCodeReused())
		return
	}
	if !call.now.Before(ac.expires) {
		call.fail(s, errCodeExpired())
		return
	}
	if call.form.Get("redirect_uri") != ac.redirectURI {
		call.fail(s, errRedirectMismatch())
		return
	}
	if e := s.checkVerifier(call, ac); e != nil {
		call.fail(s, e)
		return
	}
	ac.redeemed = true
	call.w.note(func(q *Request) { q.Subject = ac.subject })
	tmpl := token{grant: GrantAuthorizationCode, clientID: cl.id, subject: ac.subject, scopes: ac.scopes, origin: ac.hash}
	access, at := s.issue(AccessToken, tmpl, call.now)
	refresh := ""
	if s.offlineGranted(ac.scopes, ac.accessTypeOffline) {
		refresh, _ = s.issue(RefreshToken, tmpl, call.now)
	}
	s.writeTokenLocked(call, access, refresh, at)
}

// PKCE outcomes, as Request.PKCE records them.
const (
	PKCEChallenged = "challenged" // /authorize received an S256 challenge
	PKCEVerified   = "verified"   // the token request's verifier matched it
	PKCEMismatch   = "mismatch"
	PKCEMissing    = "missing"    // a challenge was made, no verifier came
	PKCEUnexpected = "unexpected" // a verifier came, no challenge was made
)

// checkVerifier is RFC 7636 section 4.6 for S256, the only method
// /authorize accepts.
func (s *Server) checkVerifier(call *tokenCall, ac *authCode) *oauthErr {
	verifier := call.form.Get("code_verifier")
	outcome := ""
	var e *oauthErr
	switch {
	case ac.challenge == "" && verifier == "":
	case ac.challenge == "":
		outcome, e = PKCEUnexpected, errVerifierUnexpected()
	case verifier == "":
		outcome, e = PKCEMissing, errVerifierMissing()
	case !validVerifier(verifier) || s256(verifier) != ac.challenge:
		outcome, e = PKCEMismatch, errVerifierMismatch()
	default:
		outcome = PKCEVerified
	}
	if outcome != "" {
		call.w.note(func(q *Request) { q.PKCE = outcome })
	}
	return e
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validVerifier is RFC 7636 section 4.1: 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

// offlineGranted says whether a delegated sign-in gets a refresh token:
// at Microsoft only with the offline_access scope, at Google only with
// access_type=offline. Forgetting either is a classic bug that leaves a
// daemon unable to renew, so the fake is as strict.
func (s *Server) offlineGranted(scopes []string, accessTypeOffline bool) bool {
	switch s.opts.Flavor {
	case Microsoft:
		return contains(scopes, offlineAccessScope)
	case Google:
		return accessTypeOffline
	}
	return true
}

// grantJWTBearer is Google's service-account grant (RFC 7523 section 2.1):
// the assertion is signed by the key in the service account's key file and
// may impersonate a user (sub) if the account has domain-wide delegation
// for every scope asked for.
func (s *Server) grantJWTBearer(call *tokenCall) {
	assertion := call.form.Get("assertion")
	if assertion == "" {
		call.fail(s, errMissingParam("assertion"))
		return
	}
	j, err := parseJWT(assertion)
	if err != nil {
		call.fail(s, errJWTMalformed(err.Error()))
		return
	}
	iss := j.str("iss")
	call.w.note(func(q *Request) { q.ClientID, q.ClientAuth = iss, AuthPrivateKeyJWT })
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.serviceAccts[strings.ToLower(iss)]
	if !ok {
		call.fail(s, errJWTAccountNotFound(iss))
		return
	}
	if j.header.Alg != "RS256" {
		call.fail(s, errJWTMalformed(fmt.Sprintf("unsupported alg %q", j.header.Alg)))
		return
	}
	if (sa.KeyID != "" && j.header.Kid != "" && j.header.Kid != sa.KeyID) || j.verify(sa.PublicKey) != nil {
		call.fail(s, errJWTSignature())
		return
	}
	if aud := s.audience(call.r); !contains(j.audiences(), aud) {
		call.fail(s, errJWTAudience(aud))
		return
	}
	if e := assertionTimes(j, call.now); e != nil {
		call.fail(s, e)
		return
	}
	scopes := splitScope(j.str("scope"))
	if len(scopes) == 0 {
		call.fail(s, errJWTNoScope())
		return
	}
	sub := j.str("sub")
	if sub == "" {
		sub = j.str("prn") // the claim's old name, still sent by x/oauth2
	}
	subject := sa.Email
	if sub != "" {
		if !s.users[strings.ToLower(sub)] {
			call.fail(s, errJWTUnknownUser(sub))
			return
		}
		for _, sc := range scopes {
			if !contains(sa.DelegatedScopes, sc) {
				call.fail(s, errJWTNotDelegated(sa.Email))
				return
			}
		}
		subject = sub
	}
	clientID := sa.ClientID
	if clientID == "" {
		clientID = sa.Email
	}
	call.w.note(func(q *Request) { q.Subject, q.Scope = subject, strings.Join(scopes, " ") })
	access, t := s.issue(AccessToken, token{grant: GrantJWTBearer, clientID: clientID, subject: subject, scopes: scopes}, call.now)
	s.writeTokenLocked(call, access, "", t)
}

// assertionTimes is Google's rule: iat and exp present, at most an hour
// apart, iat not in the future and exp not past (with some skew).
func assertionTimes(j *signedJWT, now time.Time) *oauthErr {
	iat, okI := j.unix("iat")
	exp, okE := j.unix("exp")
	switch {
	case !okI || !okE:
		return errJWTTime("iat or exp missing")
	case exp.Sub(iat) > maxAssertionLifetime:
		return errJWTTime("exp more than an hour after iat")
	case iat.After(now.Add(assertionSkew)):
		return errJWTTime("iat in the future")
	case !now.Before(exp.Add(assertionSkew)):
		return errJWTTime("expired at " + exp.UTC().Format(time.RFC3339))
	}
	return nil
}

func (s *Server) writeToken(call *tokenCall, access, refresh string, t *token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeTokenLocked(call, access, refresh, t)
}

// writeTokenLocked answers with the token response of RFC 6749 section
// 5.1 in the flavor's shape. Callers hold s.mu.
func (s *Server) writeTokenLocked(call *tokenCall, access, refresh string, t *token) {
	secs := int(s.opts.TokenLifetime / time.Second)
	body := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": secs}
	if len(t.scopes) > 0 && !(s.opts.Flavor == Google && t.grant == GrantJWTBearer) {
		body["scope"] = strings.Join(t.scopes, " ")
	}
	if s.opts.Flavor == Microsoft {
		body["ext_expires_in"] = secs
	}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	id := t.hash[:tokenIDLen]
	refreshID := ""
	if refresh != "" {
		refreshID = TokenID(refresh)
	}
	call.w.note(func(q *Request) { q.Subject, q.TokenID, q.RefreshTokenID = t.subject, id, refreshID })
	writeJSON(call.w, http.StatusOK, body)
}
