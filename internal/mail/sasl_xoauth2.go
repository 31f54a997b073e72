package mail

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is the SASL mechanism Google and Microsoft defined before RFC
// 7628 standardised OAUTHBEARER; Microsoft 365 offers only this one.
const XOAUTH2 = "XOAUTH2"

// xoauth2Client is the client side of XOAUTH2: one initial response,
// "user=" mailbox ^A "auth=Bearer " token ^A ^A, and no further step when
// the token is accepted.
type xoauth2Client struct {
	username, token string
}

var _ sasl.Client = (*xoauth2Client)(nil)

func newXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return XOAUTH2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next is only reached when the server refused the token: it then sends
// its error as a JSON challenge and waits for the client to answer before
// failing. The error ends the exchange (go-smtp cancels it with "*") and
// carries the server's status for the report.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return nil, decodeChallenge(XOAUTH2, challenge)
}

// challengeError is a server's JSON error challenge to an OAuth SASL
// initial response, e.g. {"status":"401","schemes":"bearer","scope":"..."}
// (Google and Dovecot's XOAUTH2) or {"status":"invalid_token"} (RFC 7628).
type challengeError struct {
	Mechanism string
	Status    string // "" when the challenge was not the JSON expected
	Scope     string
}

func (e *challengeError) Error() string {
	if e.Status == "" {
		return e.Mechanism + ": server sent an unreadable error challenge"
	}
	return e.Mechanism + ": server refused the token (status " + e.Status + ")"
}

// decodeChallenge reads an error challenge. The status is a JSON string
// at Google, Microsoft and Dovecot; a number is taken too. Only short,
// printable fields are kept: they end up in logs and errors.
func decodeChallenge(mech string, challenge []byte) *challengeError {
	var body struct {
		Status json.RawMessage `json:"status"`
		Scope  string          `json:"scope"`
	}
	e := &challengeError{Mechanism: mech}
	if err := json.Unmarshal(challenge, &body); err != nil {
		return e
	}
	var s string
	if err := json.Unmarshal(body.Status, &s); err != nil {
		s = string(body.Status)
	}
	e.Status, e.Scope = printable(s), printable(body.Scope)
	return e
}

func printable(s string) string {
	const limit = 100
	if len(s) > limit || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return ""
	}
	return s
}

// OAuthClient runs one XOAUTH2 or OAUTHBEARER exchange and keeps the
// server's error challenge, if one came, for the caller.
//
// answer says how the challenge is met. go-smtp cancels the exchange with
// "*" when Next fails, which is clean. go-imap (v2.0.0-beta.8) does not:
// it returns Next's error with the AUTHENTICATE still open on the server,
// which would read the next command as the SASL response. Nor can it send
// the empty response Google documents for XOAUTH2: it encodes one as "=",
// which Dovecot 2.3 answers with "BAD Invalid base64 data". So for IMAP
// the challenge is answered with a single %x01, the response RFC 7628
// section 3.2.3 prescribes for OAUTHBEARER, for XOAUTH2 as well: Dovecot
// 2.3 then fails the command with NO [AUTHENTICATIONFAILED], as after an
// empty response, and the connection stays in step for a second attempt.
// Gmail, which sends the challenge, offers OAUTHBEARER and gets that.
type OAuthClient struct {
	sasl.Client
	mech    string
	answer  bool
	refusal *challengeError
}

// NewOAuthClient makes the exchange for mech, XOAUTH2 or OAUTHBEARER;
// answer is true for IMAP and false for SMTP (see OAuthClient).
func NewOAuthClient(mech, username, token string, answer bool) *OAuthClient {
	var c sasl.Client
	if mech == sasl.OAuthBearer {
		c = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: username, Token: token})
	} else {
		c = newXOAuth2Client(username, token)
	}
	return &OAuthClient{Client: c, mech: mech, answer: answer}
}

// Refusal reports whether the server sent an error challenge, and its
// "status" ("" when the challenge was unreadable): a refusal of the token
// itself, which a renewed token may mend.
func (c *OAuthClient) Refusal() (status string, refused bool) {
	if c.refusal == nil {
		return "", false
	}
	return c.refusal.Status, true
}

func (c *OAuthClient) Next(challenge []byte) ([]byte, error) {
	// Neither mechanism has a second step: whatever the inner client
	// makes of it, a challenge is the server's error.
	_, err := c.Client.Next(challenge)
	var own *challengeError
	var bearer *sasl.OAuthBearerError
	switch {
	case errors.As(err, &own):
		c.refusal = own
	case errors.As(err, &bearer):
		c.refusal = &challengeError{Mechanism: c.mech, Status: printable(bearer.Status), Scope: printable(bearer.Scope)}
	default:
		c.refusal = decodeChallenge(c.mech, challenge)
	}
	if c.answer {
		return []byte{0x01}, nil
	}
	return nil, c.refusal
}

// OAuthMechanism picks OAUTHBEARER, the standard, when the server offers
// it, and XOAUTH2 otherwise: Microsoft 365 offers only XOAUTH2, and a
// server that offers neither says so in its answer.
func OAuthMechanism(offered []string) string {
	for _, m := range offered {
		if strings.EqualFold(m, sasl.OAuthBearer) {
			return sasl.OAuthBearer
		}
	}
	return XOAUTH2
}

// RedactToken removes token from text a server sent, in case it echoes
// what it was sent; nothing of ours ever contains it.
func RedactToken(text, token string) string {
	if token == "" {
		return text
	}
	return strings.ReplaceAll(text, token, "[redacted]")
}
