package oauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"
)

// loadAssertionSigner reads a certificate and its RSA key and returns what
// signs Microsoft's client assertions with them (RFC 7523, with the
// certificate's thumbprints in x5t and x5t#S256, which is how the identity
// platform finds the certificate among the app's). x/oauth2 has no signer
// that writes those header fields.
func loadAssertionSigner(certFile, keyFile string, read func(string) ([]byte, error)) (func(clientID, tokenURL string, now time.Time) (string, error), error) {
	certPEM, err := read(certFile)
	if err != nil {
		return nil, fmt.Errorf("oauth: mail.oauth2.client_certificate_file: %w", err)
	}
	cert, err := parseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("oauth: mail.oauth2.client_certificate_file %s: %w", certFile, err)
	}
	keyPEM, err := read(keyFile)
	if err != nil {
		return nil, fmt.Errorf("oauth: mail.oauth2.client_key_file: %w", err)
	}
	key, err := parseRSAKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("oauth: mail.oauth2.client_key_file %s: %w", keyFile, err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("oauth: mail.oauth2.client_key_file %s is not the key of client_certificate_file %s", keyFile, certFile)
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	header, err := json.Marshal(map[string]string{
		"alg": "RS256", "typ": "JWT",
		"x5t":      base64.RawURLEncoding.EncodeToString(s1[:]),
		"x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:]),
	})
	if err != nil {
		return nil, err
	}
	return func(clientID, tokenURL string, now time.Time) (string, error) {
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return "", err
		}
		claims, err := json.Marshal(map[string]any{
			"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": hex.EncodeToString(jti),
			"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		})
		if err != nil {
			return "", err
		}
		input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		digest := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		if err != nil {
			return "", fmt.Errorf("oauth: sign client assertion: %w", err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
	}, nil
}

func parseCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("no PEM CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, fmt.Errorf("no PEM private key block")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the key is %T; the identity platform takes RSA keys", k)
			}
			return rk, nil
		}
	}
}
