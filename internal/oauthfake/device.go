package oauthfake

import (
	"crypto/rand"
	"net/http"
	"time"
)

// deviceAuth is one device authorization (RFC 8628) in progress.
type deviceAuth struct {
	clientID string
	scopes   []string
	expires  time.Time
	polls    int
	subject  string // set once approved
	denied   bool
	redeemed bool
}

// serveDeviceCode starts the device flow. Like Microsoft and Google it
// needs only client_id here: the flow is for clients that cannot keep a
// secret.
func (s *Server) serveDeviceCode(w *statusWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeErr(w, oerr("invalid_request", http.StatusMethodNotAllowed, "the device authorization endpoint takes POST"), false)
		return
	}
	form, err := readForm(r, true)
	if err != nil {
		s.writeErr(w, errInvalidRequest(err.Error()), false)
		return
	}
	id := form.Get("client_id")
	w.note(func(q *Request) { q.ClientID, q.Scope = id, form.Get("scope") })
	if id == "" {
		s.writeErr(w, errMissingParam("client_id"), false)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, ok := s.clients[id]
	if !ok {
		s.writeErr(w, errUnknownClient(id), false)
		return
	}
	if !cl.allowsGrant(GrantDeviceCode) {
		s.writeErr(w, errGrantNotAllowed(id, GrantDeviceCode), false)
		return
	}
	scopes := splitScope(form.Get("scope"))
	if e := scopesAllowed(cl, scopes); e != nil {
		s.writeErr(w, e, false)
		return
	}
	deviceCode, userCode := randomString(), newUserCode()
	s.devices[hashToken(deviceCode)] = &deviceAuth{clientID: id, scopes: scopes, expires: s.opts.Now().Add(deviceLifetime)}
	verify := s.endpointURL(PathDevice)
	if verify == "" {
		verify = "http://" + r.Host + PathDevice
	}
	body := map[string]any{
		"device_code": deviceCode,
		"user_code":   userCode,
		"expires_in":  int(deviceLifetime / time.Second),
		"interval":    int(s.opts.DeviceInterval / time.Second),
	}
	switch s.opts.Flavor {
	case Google:
		// Google still spells it the draft's way; x/oauth2 accepts both.
		body["verification_url"] = verify
	case Microsoft:
		body["verification_uri"] = verify
		body["message"] = "To sign in, use a web browser to open the page " + verify + " and enter the code " + userCode + " to authenticate."
	default:
		body["verification_uri"] = verify
	}
	writeJSON(w, http.StatusOK, body)
}

// newUserCode is eight letters without look-alikes, as XXXX-XXXX.
func newUserCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// grantDeviceCode answers authorization_pending for the first
// DevicePendingPolls polls, then lets the signed-in user approve (or
// decline, per DenyNextAuthorization).
func (s *Server) grantDeviceCode(call *tokenCall, cl *client) {
	dc := call.form.Get("device_code")
	if dc == "" {
		call.fail(s, errMissingParam("device_code"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[hashToken(dc)]
	switch {
	case !ok || d.redeemed:
		call.fail(s, errDeviceUnknown())
		return
	case d.clientID != cl.id:
		call.fail(s, errGrantOtherClient("device code"))
		return
	case !call.now.Before(d.expires):
		call.fail(s, errDeviceExpired())
		return
	case d.denied:
		call.fail(s, errDeviceDenied())
		return
	}
	if d.polls < s.opts.DevicePendingPolls {
		d.polls++
		call.fail(s, errDevicePending())
		return
	}
	if d.subject == "" {
		if s.takeDeny() {
			d.denied = true
			call.fail(s, errDeviceDenied())
			return
		}
		if s.signedIn == "" {
			call.fail(s, errDevicePending())
			return
		}
		d.subject = s.signedIn
	}
	d.redeemed = true
	call.w.note(func(q *Request) { q.Subject = d.subject })
	tmpl := token{grant: GrantDeviceCode, clientID: cl.id, subject: d.subject, scopes: d.scopes}
	access, at := s.issue(AccessToken, tmpl, call.now)
	refresh := ""
	// Google's device flow always grants offline access.
	if s.opts.Flavor == Google || s.offlineGranted(d.scopes, false) {
		refresh, _ = s.issue(RefreshToken, tmpl, call.now)
	}
	s.writeTokenLocked(call, access, refresh, at)
}
