package oauthfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// oauthErr is one error answer (RFC 6749 section 5.2) with what each
// provider says instead of the generic text. Descriptions never hold a
// secret or a token: they end up in the request log.
type oauthErr struct {
	code   string
	status int
	desc   string
	ms     variant
	goog   variant
}

// variant overrides the generic answer for one provider; zero fields
// keep the generic one.
type variant struct {
	code   string
	status int
	aadsts int
	desc   string
}

func oerr(code string, status int, format string, args ...any) *oauthErr {
	return &oauthErr{code: code, status: status, desc: fmt.Sprintf(format, args...)}
}

// microsoft sets the AADSTS code and message.
func (e *oauthErr) microsoft(aadsts int, format string, args ...any) *oauthErr {
	e.ms.aadsts, e.ms.desc = aadsts, fmt.Sprintf(format, args...)
	return e
}

// microsoftAs is microsoft with a different error code and status.
func (e *oauthErr) microsoftAs(code string, status, aadsts int, format string, args ...any) *oauthErr {
	e.ms.code, e.ms.status = code, status
	return e.microsoft(aadsts, format, args...)
}

func (e *oauthErr) google(format string, args ...any) *oauthErr {
	e.goog.desc = fmt.Sprintf(format, args...)
	return e
}

func (e *oauthErr) googleAs(code string, status int, format string, args ...any) *oauthErr {
	e.goog.code, e.goog.status = code, status
	return e.google(format, args...)
}

// resolve is the code, status and description f answers with.
func (e *oauthErr) resolve(f Flavor) (code string, status int, desc string, aadsts int) {
	code, status, desc = e.code, e.status, e.desc
	var v variant
	switch f {
	case Microsoft:
		v = e.ms
	case Google:
		v = e.goog
	}
	if v.code != "" {
		code = v.code
	}
	if v.status != 0 {
		status = v.status
	}
	if v.desc != "" {
		desc = v.desc
	}
	return code, status, desc, v.aadsts
}

func (e *oauthErr) Error() string { return e.code + ": " + e.desc }

// writeErr answers e as the flavor's provider would and notes it in the
// log. basicAuth is whether the client authenticated with HTTP Basic,
// which RFC 6749 section 5.2 says must then get a WWW-Authenticate
// challenge with a 401.
func (s *Server) writeErr(w *statusWriter, e *oauthErr, basicAuth bool) {
	code, status, desc, aadsts := e.resolve(s.opts.Flavor)
	w.note(func(r *Request) { r.Error, r.Detail = code, e.desc })
	if status == http.StatusUnauthorized && basicAuth {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthfake"`)
	}
	body := map[string]any{"error": code, "error_description": desc}
	if s.opts.Flavor == Microsoft && aadsts != 0 {
		now := s.opts.Now().UTC()
		ts := now.Format("2006-01-02 15:04:05Z")
		trace, corr := newGUID(), newGUID()
		body["error_description"] = fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			aadsts, desc, trace, corr, ts)
		body["error_codes"] = []int{aadsts}
		body["timestamp"] = ts
		body["trace_id"] = trace
		body["correlation_id"] = corr
		body["error_uri"] = "https://login.microsoftonline.com/error?code=" + strconv.Itoa(aadsts)
	}
	writeJSON(w, status, body)
}

// writeJSON answers with the headers RFC 6749 section 5.1 requires of
// anything that may hold a token.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// The errors below are the ones the endpoints answer. Microsoft's texts
// and codes follow its AADSTS reference, Google's what its token endpoint
// sends; where a provider has no counterpart the generic text stands.

func errMissingParam(name string) *oauthErr {
	return oerr("invalid_request", 400, "missing parameter %s", name).
		microsoft(900144, "The request body must contain the following parameter: '%s'.", name).
		google("Missing required parameter: %s", name)
}

func errInvalidRequest(detail string) *oauthErr {
	return oerr("invalid_request", 400, "%s", detail).
		microsoft(9002313, "Invalid request. Request is malformed or invalid. [%s]", detail)
}

func errUnsupportedGrant(gt string) *oauthErr {
	return oerr("unsupported_grant_type", 400, "unsupported grant_type %q", gt).
		microsoft(70003, "The app requested an unsupported grant type '%s'.", gt).
		google("Invalid grant_type: %s", gt)
}

func errUnknownClient(id string) *oauthErr {
	return oerr("invalid_client", 401, "unknown client %q", id).
		microsoftAs("unauthorized_client", 400, 700016,
			"Application with identifier '%s' was not found in the directory 'oauthfake'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", id).
		google("The OAuth client was not found.")
}

func errWrongSecret(id string) *oauthErr {
	return oerr("invalid_client", 401, "wrong client secret for %q", id).
		microsoft(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id).
		google("Unauthorized")
}

func errNoCredentials(id string) *oauthErr {
	return oerr("invalid_client", 401, "client %q sent no credentials", id).
		microsoft(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.").
		googleAs("invalid_request", 400, "client_secret is missing.")
}

func errAuthStyleRefused(style string) *oauthErr {
	return oerr("invalid_client", 401, "client authentication by %s is not accepted", style).
		microsoft(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.").
		google("Unauthorized")
}

func errPublicWithSecret(id string) *oauthErr {
	return oerr("invalid_client", 401, "public client %q must not present a secret or assertion", id).
		microsoft(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
}

func errMultipleAuth() *oauthErr {
	return errInvalidRequest("more than one client authentication method")
}

func errGrantNotAllowed(id, grant string) *oauthErr {
	return oerr("unauthorized_client", 400, "client %q may not use grant %s", id, grant).
		microsoftAs("invalid_client", 401, 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.").
		googleAs("unauthorized_client", 401, "Unauthorized")
}

func errAssertionMalformed(reason string) *oauthErr {
	return oerr("invalid_client", 401, "client assertion malformed: %s", reason).
		microsoftAs("invalid_request", 400, 50027, "JWT token is invalid or malformed. [Reason - %s]", reason)
}

func errAssertionType(got string) *oauthErr {
	return oerr("invalid_client", 401, "client_assertion_type %q is not jwt-bearer", got).
		microsoftAs("invalid_request", 400, 9002313, "Invalid request. Request is malformed or invalid. [client_assertion_type]")
}

func errAssertionKeyNotFound(thumb string) *oauthErr {
	return oerr("invalid_client", 401, "client assertion signed by an unregistered key (x5t %q)", thumb).
		microsoft(700027, "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s']", thumb)
}

func errAssertionSignature() *oauthErr {
	return oerr("invalid_client", 401, "client assertion signature does not verify").
		microsoft(700027, "Client assertion failed signature validation.")
}

func errAssertionIssuer(id string) *oauthErr {
	return oerr("invalid_client", 401, "client assertion iss/sub is not client %q", id).
		microsoft(700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
}

func errAssertionAudience(want string) *oauthErr {
	return oerr("invalid_client", 401, "client assertion aud is not %s", want).
		microsoft(700023, "Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
}

func errAssertionTime(reason string) *oauthErr {
	return oerr("invalid_client", 401, "client assertion outside its valid time range: %s", reason).
		microsoft(700024, "Client assertion is not within its valid time range. [%s]", reason)
}

func errScopeNotAllowed(scope string) *oauthErr {
	return oerr("invalid_scope", 400, "scope %q not allowed", scope).
		microsoft(70011, "The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid.", scope).
		google("Invalid OAuth scope or ID token audience provided.")
}

func errDefaultScope(scope string) *oauthErr {
	return oerr("invalid_scope", 400, "scope %q is not a resource/.default scope", scope).
		microsoft(1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
}

func errRefreshUnknown() *oauthErr {
	return oerr("invalid_grant", 400, "unknown refresh token").
		microsoft(9002313, "Invalid request. Request is malformed or invalid.").
		google("Bad Request")
}

func errRefreshRevoked() *oauthErr {
	return oerr("invalid_grant", 400, "refresh token revoked").
		microsoft(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.").
		google("Token has been expired or revoked.")
}

func errRefreshExpired(issued time.Time, inactive time.Duration) *oauthErr {
	return oerr("invalid_grant", 400, "refresh token expired after %s unused", inactive).
		microsoft(700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
			issued.UTC().Format("2006-01-02T15:04:05.0000000Z"), dotnetDuration(inactive)).
		google("Token has been expired or revoked.")
}

func errGrantOtherClient(what string) *oauthErr {
	return oerr("invalid_grant", 400, "%s was issued to another client", what).
		microsoft(70000, "Provided grant is invalid or malformed.").
		googleAs("unauthorized_client", 401, "Unauthorized")
}

func errCodeUnknown() *oauthErr {
	return oerr("invalid_grant", 400, "unknown authorization code").
		microsoft(9002313, "Invalid request. Request is malformed or invalid.").
		google("Malformed auth code.")
}

func errCodeExpired() *oauthErr {
	return oerr("invalid_grant", 400, "authorization code expired").
		microsoft(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.").
		google("Bad Request")
}

func errCodeReused() *oauthErr {
	return oerr("invalid_grant", 400, "authorization code already redeemed").
		microsoft(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.").
		google("Bad Request")
}

func errRedirectMismatch() *oauthErr {
	return oerr("invalid_grant", 400, "redirect_uri differs from the authorization request").
		microsoft(70000, "Provided grant is invalid or malformed. [redirect_uri differs from the authorization request]").
		googleAs("redirect_uri_mismatch", 400, "Bad Request")
}

func errVerifierMissing() *oauthErr {
	return oerr("invalid_grant", 400, "code_verifier missing").
		microsoft(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.").
		google("Missing code verifier.")
}

func errVerifierMismatch() *oauthErr {
	return oerr("invalid_grant", 400, "code_verifier does not match code_challenge").
		microsoft(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.").
		google("Invalid code verifier.")
}

func errVerifierUnexpected() *oauthErr {
	return oerr("invalid_grant", 400, "code_verifier sent for a code issued without code_challenge").
		microsoft(9002313, "Invalid request. Request is malformed or invalid. [code_verifier without code_challenge]")
}

func errDevicePending() *oauthErr {
	return oerr("authorization_pending", 400, "the user has not finished signing in").
		microsoft(70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.").
		googleAs("authorization_pending", 428, "Precondition Required")
}

func errDeviceDenied() *oauthErr {
	return oerr("access_denied", 400, "the user declined").
		microsoft(65004, "User declined to consent to access the app.").
		googleAs("access_denied", 403, "Forbidden")
}

func errDeviceExpired() *oauthErr {
	return oerr("expired_token", 400, "device code expired").
		microsoft(70019, "Verification code expired.").
		google("Expired")
}

func errDeviceUnknown() *oauthErr {
	return oerr("invalid_grant", 400, "unknown device code").
		microsoft(9002313, "Invalid request. Request is malformed or invalid.").
		google("Bad Request")
}

func errJWTMalformed(reason string) *oauthErr {
	return oerr("invalid_grant", 400, "assertion malformed: %s", reason).
		microsoft(50027, "JWT token is invalid or malformed. [Reason - %s]", reason).
		google("Invalid JWT Signature.")
}

func errJWTSignature() *oauthErr {
	return oerr("invalid_grant", 400, "assertion signature does not verify").
		microsoft(50013, "Assertion failed signature validation.").
		google("Invalid JWT Signature.")
}

func errJWTAccountNotFound(email string) *oauthErr {
	return oerr("invalid_grant", 400, "no service account %q", email).
		google("Invalid grant: account not found")
}

func errJWTAudience(want string) *oauthErr {
	return oerr("invalid_grant", 400, "assertion aud is not %s", want).
		google("Invalid JWT: Failed audience check. The right audience is %s", want)
}

func errJWTTime(reason string) *oauthErr {
	return oerr("invalid_grant", 400, "assertion time claims rejected: %s", reason).
		google("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
}

func errJWTNoScope() *oauthErr {
	return oerr("invalid_scope", 400, "assertion has no scope").
		google("Empty or missing scope not allowed.")
}

func errJWTUnknownUser(sub string) *oauthErr {
	return oerr("invalid_grant", 400, "no user %q to impersonate", sub).
		google("Invalid email or User ID")
}

func errJWTNotDelegated(email string) *oauthErr {
	return oerr("unauthorized_client", 400, "service account %q is not delegated these scopes", email).
		googleAs("unauthorized_client", 401, "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
}

func errServer(status int) *oauthErr {
	code := "server_error"
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		code = "temporarily_unavailable"
	}
	return oerr(code, status, "injected failure (HTTP %d)", status).
		microsoft(90033, "A transient error has occurred. Please try again.")
}

// dotnetDuration formats d as .NET's TimeSpan does in Microsoft's
// messages: d.hh:mm:ss.
func dotnetDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	return fmt.Sprintf("%d.%02d:%02d:%02d", days, d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
}
