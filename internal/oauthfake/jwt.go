package oauthfake

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// signedJWT is a compact JWS as received, verified separately from parsing so
// that the key can be picked from its header.
type signedJWT struct {
	header struct {
		Alg     string `json:"alg"`
		Typ     string `json:"typ"`
		Kid     string `json:"kid"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	claims       map[string]any
	signingInput []byte
	sig          []byte
}

func parseJWT(s string) (*signedJWT, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%d parts instead of 3", len(parts))
	}
	var j signedJWT
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := json.Unmarshal(hdr, &j.header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&j.claims); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if j.sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	j.signingInput = []byte(parts[0] + "." + parts[1])
	return &j, nil
}

var errBadSignature = errors.New("signature does not verify")

// verify checks the signature with pub. RS256 is what x/oauth2 and most
// libraries sign with; PS256 is what Microsoft now recommends for
// certificate credentials.
func (j *signedJWT) verify(pub *rsa.PublicKey) error {
	digest := sha256.Sum256(j.signingInput)
	var err error
	switch j.header.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], j.sig)
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], j.sig, nil)
	default:
		return fmt.Errorf("unsupported alg %q", j.header.Alg)
	}
	if err != nil {
		return errBadSignature
	}
	return nil
}

func (j *signedJWT) str(name string) string {
	v, _ := j.claims[name].(string)
	return v
}

// unix reads a NumericDate claim.
func (j *signedJWT) unix(name string) (time.Time, bool) {
	n, ok := j.claims[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// audiences reads aud, which RFC 7519 lets be a string or an array.
func (j *signedJWT) audiences() []string {
	switch v := j.claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, a := range v {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
