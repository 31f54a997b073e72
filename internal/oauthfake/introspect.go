package oauthfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Introspection request forms, named as Dovecot's introspection_mode.
const (
	// IntrospectPost is POST with a form body token=... (RFC 7662).
	// Dovecot 2.3 sends it without a Content-Type, so the body is read as
	// a form whatever the header says.
	IntrospectPost = "post"
	// IntrospectGet is GET with the token in the query: Dovecot appends
	// it to introspection_url, which must therefore end in "?token=".
	IntrospectGet = "get"
	// IntrospectAuth is GET with "Authorization: Bearer <token>", the
	// userinfo style.
	IntrospectAuth = "auth"
)

// Introspection is the answer of the introspection endpoint (RFC 7662
// section 2.2). An inactive token gets {"active":false} and nothing else,
// as the RFC advises.
//
// For Dovecot's oauth2 passdb: active is a JSON true, which Dovecot's JSON
// parser hands over as the text "true", so active_value = true matches
// with no option needed; username (and email, Dovecot's default
// username_attribute) carry the mailbox. An app-only token has no user, so
// they are absent and Dovecot refuses it ("No username returned").
type Introspection struct {
	Active    bool   `json:"active"`
	Username  string `json:"username,omitempty"`
	Email     string `json:"email,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
}

func (s *Server) serveIntrospect(w *statusWriter, r *http.Request) {
	var tok, mode string
	var params url.Values
	switch r.Method {
	case http.MethodPost:
		form, err := readForm(r, false)
		if err != nil {
			s.writeErr(w, errInvalidRequest(err.Error()), false)
			return
		}
		params, mode = form, IntrospectPost
	case http.MethodGet:
		params, mode = r.URL.Query(), IntrospectGet
	default:
		w.Header().Set("Allow", "GET, POST")
		s.writeErr(w, oerr("invalid_request", http.StatusMethodNotAllowed, "introspection takes GET or POST"), false)
		return
	}
	tok = params.Get("token")
	if tok == "" {
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok, mode = strings.TrimSpace(b), IntrospectAuth
		}
	}
	w.note(func(q *Request) { q.IntrospectMode = mode })
	if tok == "" {
		s.writeErr(w, errMissingParam("token"), false)
		return
	}
	if mode != IntrospectAuth {
		if e := s.introspectionCaller(w, r, params); e != nil {
			s.writeErr(w, e, true)
			return
		}
	}
	ans, why := s.introspect(tok)
	w.note(func(q *Request) {
		q.Subject, q.TokenID = ans.Sub, TokenID(tok)
		if !ans.Active {
			q.Detail = "inactive: " + why
		}
	})
	writeJSON(w, http.StatusOK, ans)
}

// introspectionCaller authenticates the resource server asking, when it
// sends credentials or they are required: HTTP Basic (Dovecot's
// user:password@ in introspection_url) or client_id and client_secret
// parameters (what newer Dovecot 2.3 releases append in get mode from
// their client_id and client_secret settings).
func (s *Server) introspectionCaller(w *statusWriter, r *http.Request, params url.Values) *oauthErr {
	id, secret, ok := r.BasicAuth()
	method := AuthSecretBasic
	if !ok && params.Get("client_id") != "" {
		id, secret, ok, method = params.Get("client_id"), params.Get("client_secret"), true, AuthSecretPost
	}
	if !ok {
		if s.opts.IntrospectionRequiresClientAuth {
			return oerr("invalid_client", http.StatusUnauthorized, "introspection needs client credentials")
		}
		return nil
	}
	w.note(func(q *Request) { q.ClientID, q.ClientAuth = id, method })
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, known := s.clients[id]
	if !known {
		return errUnknownClient(id)
	}
	if cl.secretMatches(secret) {
		return nil
	}
	// Senders that follow RFC 6749 section 2.3.1 form-encode the secret
	// inside HTTP Basic.
	if dec, err := url.QueryUnescape(secret); err == nil && method == AuthSecretBasic && cl.secretMatches(dec) {
		return nil
	}
	return errWrongSecret(id)
}

// Introspect is what the introspection endpoint would answer for tok.
func (s *Server) Introspect(tok string) Introspection {
	ans, _ := s.introspect(tok)
	return ans
}

// introspect answers for a live access token only: a refresh token is not
// something a mail server should accept.
func (s *Server) introspect(tok string) (Introspection, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hashToken(tok)]
	if !ok {
		return Introspection{}, "unknown token"
	}
	if err := s.liveErr(t, s.opts.Now()); err != nil {
		return Introspection{}, err.Error()
	}
	if t.kind != AccessToken {
		return Introspection{}, "not an access token"
	}
	ans := Introspection{
		Active: true, Sub: t.subject, Scope: strings.Join(t.scopes, " "), ClientID: t.clientID,
		TokenType: "Bearer", Exp: t.expires.Unix(), Iat: t.issued.Unix(),
	}
	if !t.appOnly {
		ans.Username, ans.Email = t.subject, t.subject
	}
	return ans, ""
}

// DovecotConfig is the Dovecot 2.3 oauth2 passdb args file for mode
// (IntrospectPost, IntrospectGet or IntrospectAuth) pointing at this
// fake. With clientID and secret set they go into introspection_url as
// user:password@, which Dovecot turns into HTTP Basic; Dovecot sends no
// Bearer header then, so the auth mode must not have them.
func (s *Server) DovecotConfig(mode, clientID, secret string) (string, error) {
	switch mode {
	case IntrospectPost, IntrospectGet, IntrospectAuth:
	default:
		return "", fmt.Errorf("dovecot introspection_mode %q: want post, get or auth", mode)
	}
	u, err := url.Parse(s.IntrospectionURL(mode))
	if err != nil {
		return "", fmt.Errorf("introspection url: %w", err)
	}
	if clientID != "" {
		if mode == IntrospectAuth {
			return "", fmt.Errorf("dovecot introspection_mode auth cannot carry client credentials")
		}
		u.User = url.UserPassword(clientID, secret)
	}
	introspectionURL := u.String()
	if mode == IntrospectGet && !strings.HasSuffix(introspectionURL, "?token=") {
		// url.URL drops an empty "token=" value's '='; Dovecot needs it.
		introspectionURL = strings.TrimSuffix(introspectionURL, "?token") + "?token="
	}
	return "introspection_mode = " + mode + "\n" +
		"introspection_url = " + introspectionURL + "\n" +
		"username_attribute = username\n" +
		"active_attribute = active\n" +
		"active_value = true\n", nil
}
