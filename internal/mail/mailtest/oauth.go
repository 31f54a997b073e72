package mailtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
)

// OAuth SASL mechanisms the test servers accept when OAuth is set.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = sasl.OAuthBearer
)

// OAuthLogin is one OAuth sign-in attempt a test server saw. It holds no
// token.
type OAuthLogin struct {
	Mechanism string
	Mailbox   string // as the client named it
	// Err is why the token was refused (the OAuth check's error, or a
	// malformed response); nil when it was accepted.
	Err error
}

// oauthLog records the OAuth sign-ins of one server.
type oauthLog struct {
	mu     sync.Mutex
	logins []OAuthLogin
}

func (l *oauthLog) add(x OAuthLogin) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logins = append(l.logins, x)
}

func (l *oauthLog) all() []OAuthLogin {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.logins)
}

// oauthMechanisms is what a server with OAuth offers: only offered, if
// set, as a test of each client path needs a server without the other.
func oauthMechanisms(only []string) []string {
	if len(only) == 0 {
		return []string{OAuthBearer, XOAuth2}
	}
	var out []string
	for _, m := range only {
		out = append(out, strings.ToUpper(m))
	}
	return out
}

func offers(mechs []string, mech string) bool {
	return slices.ContainsFunc(mechs, func(m string) bool { return strings.EqualFold(m, mech) })
}

// oauthServer is the server side of XOAUTH2 or OAUTHBEARER as Google's and
// Dovecot's behave: a refused token is answered with a JSON error
// challenge, and the exchange fails (with refused) only once the client
// has answered it, whatever it answers. A client that cancels with "*"
// never reaches Next again: go-imap and go-smtp answer that themselves
// (BAD, 501). With noChallenge it fails at once instead.
type oauthServer struct {
	mech        string
	check       func(mailbox, token string) error // nil: accepted
	refused     error                             // the protocol's failure reply
	noChallenge bool
	log         *oauthLog

	asked    bool        // sent the empty challenge for a missing initial response
	failed   bool        // sent the error challenge
	verified bool        // check ran: the response was well formed
	bearer   sasl.Server // OAUTHBEARER: go-sasl's parser
}

func newOAuthServer(mech string, check func(mailbox, token string) error, refused error, noChallenge bool, log *oauthLog) sasl.Server {
	s := &oauthServer{mech: mech, check: check, refused: refused, noChallenge: noChallenge, log: log}
	if mech == OAuthBearer {
		s.bearer = sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := s.verify(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "https://mail.google.com/"}
			}
			return nil
		})
	}
	return s
}

func (s *oauthServer) Next(response []byte) ([]byte, bool, error) {
	if s.failed {
		// go-sasl's own server would index an empty answer out of range.
		return nil, true, s.refused
	}
	if response == nil {
		if s.asked {
			return nil, true, s.refused
		}
		// A nil challenge is "+ " with nothing after it, which asks the
		// client for its initial response; go-sasl's empty one would be
		// sent as "+ =", a challenge.
		s.asked = true
		return nil, false, nil
	}
	if s.bearer != nil {
		challenge, done, err := s.bearer.Next(response)
		if err == nil && !done {
			s.failed = true
			if !s.verified {
				s.log.add(OAuthLogin{Mechanism: s.mech, Err: errors.New("malformed OAUTHBEARER response")})
			}
			if s.noChallenge {
				return nil, true, s.refused
			}
		}
		return challenge, done, err
	}
	status := ""
	mailbox, token, ok := parseXOAuth2(response)
	switch {
	case !ok:
		s.log.add(OAuthLogin{Mechanism: s.mech, Err: errors.New("malformed XOAUTH2 response")})
		status = "400"
	case s.verify(mailbox, token) != nil:
		status = "401"
	default:
		return nil, true, nil
	}
	s.failed = true
	if s.noChallenge {
		return nil, true, s.refused
	}
	return errorChallenge(status), false, nil
}

// verify runs check and records the attempt.
func (s *oauthServer) verify(mailbox, token string) error {
	s.verified = true
	err := s.check(mailbox, token)
	if err == nil && mailbox == "" {
		err = errors.New("no mailbox named")
	}
	s.log.add(OAuthLogin{Mechanism: s.mech, Mailbox: mailbox, Err: err})
	return err
}

// parseXOAuth2 splits "user=" mailbox ^A "auth=Bearer " token ^A ^A.
func parseXOAuth2(b []byte) (mailbox, token string, ok bool) {
	rest, found := bytes.CutSuffix(b, []byte("\x01\x01"))
	if !found {
		return "", "", false
	}
	user, auth, found := bytes.Cut(rest, []byte{0x01})
	if !found || !bytes.HasPrefix(user, []byte("user=")) {
		return "", "", false
	}
	scheme, tok, found := bytes.Cut(bytes.TrimPrefix(auth, []byte("auth=")), []byte{' '})
	if !found || !bytes.HasPrefix(auth, []byte("auth=")) || !strings.EqualFold(string(scheme), "Bearer") || len(tok) == 0 {
		return "", "", false
	}
	return string(user[len("user="):]), string(tok), true
}

// errorChallenge is the JSON Google sends for a refused XOAUTH2 token.
func errorChallenge(status string) []byte {
	b, err := json.Marshal(map[string]string{"status": status, "schemes": "bearer", "scope": "https://mail.google.com/"})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return b
}
