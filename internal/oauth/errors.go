package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"golang.org/x/oauth2"
)

// Error is the identity provider refusing to issue a token: what it said
// and what to change. It never carries a token or a secret.
type Error struct {
	Provider string
	// Code is the OAuth error ("invalid_grant", "invalid_client", ...),
	// or "http_<status>" when the answer was not an OAuth error.
	Code string
	// Description is the provider's own words, e.g. "AADSTS700082: The
	// refresh token has expired due to inactivity. ..." (cut short).
	Description string
	// Hint says which configuration or provider setting to change.
	Hint string
	// Temporary is set for answers a retry may cure (5xx, 429).
	Temporary bool
}

func (e *Error) Error() string {
	s := "identity provider refused the sign-in: " + e.Code
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// maxDescription keeps a provider's text, which Microsoft follows with
// trace and correlation ids, to what a log line needs.
const maxDescription = 240

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// explain turns what x/oauth2 returned into an Error with a hint, or a
// wrapped network error. Secrets cannot leak: the request's form is not in
// a RetrieveError, and its body is not used.
func (s *Source) explain(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("oauth: token for %s: %w", s.cfg.Mailbox, err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return fmt.Errorf("oauth: token endpoint unreachable (%s: no such host?): check mail.oauth2.token_url or tenant_id: %w", dnsErr.Name, err)
		}
		return fmt.Errorf("oauth: token for %s: %w", s.cfg.Mailbox, err)
	}
	e := &Error{Provider: s.cfg.Provider, Code: re.ErrorCode, Description: strings.TrimSpace(re.ErrorDescription)}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if e.Code == "" {
		e.Code = fmt.Sprintf("http_%d", status)
	}
	if i := strings.Index(e.Description, "\r\n"); i > 0 {
		e.Description = e.Description[:i] // Microsoft appends Trace ID and Timestamp lines
	}
	if len(e.Description) > maxDescription {
		e.Description = e.Description[:maxDescription] + "…"
	}
	e.Temporary = status >= 500 || status == 429 || e.Code == "temporarily_unavailable"
	e.Hint = s.hint(e)
	return e
}

// hint names what to change for the errors operators meet most; AADSTS
// codes first, as they are more precise than the OAuth error.
func (s *Source) hint(e *Error) string {
	if m := aadsts.FindStringSubmatch(e.Description); m != nil {
		switch m[1] {
		case "7000215", "7000222":
			return "the client secret is wrong or expired: create a new one under Certificates & secrets and update mail.oauth2.client_secret"
		case "700016":
			return "no app with this client id in the tenant: check mail.oauth2.client_id and tenant_id"
		case "90002", "900023":
			return "no such tenant: check mail.oauth2.tenant_id"
		case "700027", "700024", "700023", "700021":
			return "the client assertion was refused: upload client_certificate_file's certificate to the app registration (Certificates & secrets) and check the machine's clock"
		case "700082", "50173", "70008", "70000":
			return "the refresh token expired or was revoked: run `ticketsync mail authorize` again and replace mail.oauth2.refresh_token (the daemon reads the new file without a restart)"
		case "65001", "501481":
			return "consent is missing: an administrator must grant admin consent to the app's API permissions"
		case "1002012", "70011":
			return "the scope was refused: check mail.oauth2.scopes (app-only sign-in uses https://outlook.office365.com/.default)"
		case "7000112", "7000114":
			return "the app or its service principal is disabled in the tenant"
		}
	}
	switch e.Code {
	case "invalid_client", "unauthorized_client":
		switch {
		case s.cfg.Provider == Google && s.cfg.ServiceAccountFile != "":
			return "domain-wide delegation is not granted: in the Google Admin console (Security > API controls > Domain-wide delegation) allow the service account's client id the scope https://mail.google.com/"
		case s.cfg.Provider == Microsoft && s.cfg.ClientCertificateFile != "":
			return "check mail.oauth2.client_id and that the certificate is uploaded to the app registration"
		}
		return "check mail.oauth2.client_id and client_secret"
	case "invalid_grant":
		switch {
		case s.cfg.Provider == Google && s.cfg.ServiceAccountFile != "":
			return "check that " + s.cfg.Mailbox + " is a user of the Workspace domain and the service account key is current (mail.oauth2.service_account_file)"
		case s.refreshing():
			return "the refresh token is expired or revoked: run `ticketsync mail authorize` again and replace mail.oauth2.refresh_token (the daemon reads the new file without a restart)"
		}
		return "the provider refused the grant: check mail.oauth2 and the machine's clock"
	case "invalid_scope":
		return "check mail.oauth2.scopes"
	}
	if e.Temporary {
		return "the identity provider is unavailable; the sign-in is retried"
	}
	return "check mail.oauth2"
}

// refreshing reports whether the sign-in uses a refresh token.
func (s *Source) refreshing() bool {
	v, err := read(s.cfg.RefreshToken, "refresh_token")
	return err == nil && v != ""
}
