package oauthfake

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authCode is an authorization code waiting to be redeemed.
type authCode struct {
	hash              string
	clientID          string
	redirectURI       string
	scopes            []string
	subject           string
	challenge         string // S256; empty when the client sent none
	accessTypeOffline bool
	expires           time.Time
	redeemed          bool
}

// serveAuthorize is the authorization endpoint with nobody at the
// browser: the signed-in user (or the login_hint, if a known user)
// approves at once and is sent back to redirect_uri with a code, unless
// DenyNextAuthorization says to decline.
//
// As RFC 6749 section 4.1.2.1 requires, a bad client_id or redirect_uri is
// answered here with an error page, never by redirecting; every later
// problem is a redirect carrying error, error_description and state.
func (s *Server) serveAuthorize(w *statusWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		errorPage(w, http.StatusMethodNotAllowed, "invalid_request", "the authorization endpoint takes GET")
		return
	}
	q := r.URL.Query()
	clientID, redirect := q.Get("client_id"), q.Get("redirect_uri")
	w.note(func(e *Request) { e.ClientID, e.Scope = clientID, q.Get("scope") })

	s.mu.Lock()
	defer s.mu.Unlock()
	cl, ok := s.clients[clientID]
	if !ok {
		errorPage(w, http.StatusBadRequest, "invalid_client", "unknown client_id "+clientID)
		return
	}
	if redirect == "" {
		errorPage(w, http.StatusBadRequest, "invalid_request", "redirect_uri is required")
		return
	}
	if err := redirectAllowed(cl, redirect); err != nil {
		errorPage(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	state := q.Get("state")
	back := func(params url.Values) {
		u, _ := url.Parse(redirect) // parsed by redirectAllowed already
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if state != "" {
			v.Set("state", state)
		}
		u.RawQuery = v.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
	}
	fail := func(e *oauthErr) {
		code, _, desc, aadsts := e.resolve(s.opts.Flavor)
		w.note(func(r *Request) { r.Error, r.Detail = code, e.desc })
		if aadsts != 0 {
			desc = "AADSTS" + strconv.Itoa(aadsts) + ": " + desc
		}
		back(url.Values{"error": {code}, "error_description": {desc}})
	}

	if rt := q.Get("response_type"); rt != "code" {
		fail(oerr("unsupported_response_type", 400, "response_type %q is not code", rt).
			microsoft(700054, "response_type '%s' is not enabled for the application.", rt))
		return
	}
	scopes := splitScope(q.Get("scope"))
	if e := scopesAllowed(cl, scopes); e != nil {
		fail(e)
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge != "" && method != "S256":
		fail(errInvalidRequest("code_challenge_method must be S256, got " + quoteOrEmpty(method)))
		return
	case challenge != "" && len(challenge) != 43:
		fail(errInvalidRequest("code_challenge is not a base64url SHA-256"))
		return
	case challenge == "" && method != "":
		fail(errInvalidRequest("code_challenge_method without code_challenge"))
		return
	case challenge == "" && s.opts.RequirePKCE:
		fail(errInvalidRequest("code_challenge is required"))
		return
	}
	if !cl.allowsGrant(GrantAuthorizationCode) {
		fail(errGrantNotAllowed(cl.id, GrantAuthorizationCode))
		return
	}
	if s.takeDeny() {
		fail(oerr("access_denied", 400, "the user declined").
			microsoft(65004, "User declined to consent to access the app."))
		return
	}
	subject := s.signedIn
	if hint := q.Get("login_hint"); hint != "" && s.users[strings.ToLower(hint)] {
		subject = hint
	}
	if subject == "" {
		fail(oerr("login_required", 400, "nobody is signed in (SetSignedInUser)").
			microsoftAs("interaction_required", 400, 50058, "A silent sign-in request was sent but no user is signed in."))
		return
	}
	code := randomString()
	ac := &authCode{
		hash: hashToken(code), clientID: cl.id, redirectURI: redirect, scopes: scopes, subject: subject,
		challenge: challenge, accessTypeOffline: q.Get("access_type") == "offline",
		expires: s.opts.Now().Add(codeLifetime),
	}
	s.codes[ac.hash] = ac
	w.note(func(r *Request) {
		r.Subject = subject
		if challenge != "" {
			r.PKCE = PKCEChallenged
		}
	})
	back(url.Values{"code": {code}})
}

// errorPage is what a provider shows in the browser when it cannot
// redirect; it is noted in the log like any error.
func errorPage(w *statusWriter, status int, code, desc string) {
	w.note(func(r *Request) { r.Error, r.Detail = code, desc })
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(code + ": " + desc + "\n"))
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "nothing"
	}
	return `"` + s + `"`
}
