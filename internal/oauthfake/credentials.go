package oauthfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyBits is the RSA size of generated keys: what Azure and Google issue.
const keyBits = 2048

// Certificate is a self-signed certificate and its key, as uploaded to an
// app registration for certificate credentials.
type Certificate struct {
	Cert              *x509.Certificate
	Key               *rsa.PrivateKey
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
	// Thumbprint is the x5t (base64url SHA-1), ThumbprintS256 the
	// x5t#S256, and ThumbprintHex the SHA-1 as the Azure portal shows it.
	Thumbprint, ThumbprintS256, ThumbprintHex string
}

// GenerateCertificate is CreateCertificate into a directory removed when
// the test ends.
func GenerateCertificate(t testing.TB) *Certificate {
	t.Helper()
	c, err := CreateCertificate(t.TempDir(), "ticketsync-test")
	if err != nil {
		t.Fatalf("oauthfake: %v", err)
	}
	return c
}

// CreateCertificate writes cert.pem and key.pem (PKCS #8, mode 0600) for a
// new self-signed certificate to dir.
func CreateCertificate(dir, commonName string) (*Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	keyPEM, err := pkcs8PEM(key)
	if err != nil {
		return nil, err
	}
	sha := sha1.Sum(der)
	c := &Certificate{
		Cert: cert, Key: key,
		CertPEM:        pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:         keyPEM,
		CertFile:       filepath.Join(dir, "cert.pem"),
		KeyFile:        filepath.Join(dir, "key.pem"),
		Thumbprint:     Thumbprint(cert),
		ThumbprintS256: ThumbprintS256(cert),
		ThumbprintHex:  strings.ToUpper(hex.EncodeToString(sha[:])),
	}
	if err := os.WriteFile(c.CertFile, c.CertPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(c.KeyFile, c.KeyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write certificate key: %w", err)
	}
	return c, nil
}

func pkcs8PEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ClientAssertion signs a Microsoft-style client assertion (RS256, x5t)
// for clientID, valid for ten minutes from now. Tests of the fake use it;
// ticketsync's own code should build its assertions itself, so that the
// fake checks that code rather than this one.
func (c *Certificate) ClientAssertion(clientID, tokenURL string, now time.Time) (string, error) {
	return SignJWT(c.Key, map[string]any{"alg": "RS256", "typ": "JWT", "x5t": c.Thumbprint}, map[string]any{
		"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": newGUID(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
}

// SignJWT signs claims with key under header, whose alg must be RS256 or
// PS256. It exists to build deliberately wrong assertions in tests.
func SignJWT(key *rsa.PrivateKey, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("jwt header: %w", err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch header["alg"] {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], nil)
	default:
		return "", fmt.Errorf("jwt alg %v: want RS256 or PS256", header["alg"])
	}
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ServiceAccountKey is a Google service account key file the fake knows.
type ServiceAccountKey struct {
	Email, ClientID, KeyID, ProjectID string
	Key                               *rsa.PrivateKey
	JSON                              []byte
	Path                              string
}

// WriteServiceAccount is CreateServiceAccount failing the test on error.
func (s *Server) WriteServiceAccount(t testing.TB, dir, email string, delegatedScopes ...string) *ServiceAccountKey {
	t.Helper()
	k, err := s.CreateServiceAccount(dir, email, delegatedScopes...)
	if err != nil {
		t.Fatalf("oauthfake: %v", err)
	}
	return k
}

// CreateServiceAccount generates a key for the service account email,
// registers its public key (with domain-wide delegation for
// delegatedScopes, if any), and writes the key file that
// google.JWTConfigFromJSON and google.CredentialsFromJSONWithTypeAndParams
// read, with token_uri pointing at this fake, to dir/<name>.json.
func (s *Server) CreateServiceAccount(dir, email string, delegatedScopes ...string) (*ServiceAccountKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generate service account key: %w", err)
	}
	keyPEM, err := pkcs8PEM(key)
	if err != nil {
		return nil, err
	}
	kid := make([]byte, 20)
	_, _ = rand.Read(kid)
	uid, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	if err != nil {
		return nil, fmt.Errorf("service account client id: %w", err)
	}
	name, domain, _ := strings.Cut(email, "@")
	project, _, _ := strings.Cut(domain, ".")
	k := &ServiceAccountKey{
		Email: email, ClientID: "1" + fmt.Sprintf("%020s", uid.String()), KeyID: hex.EncodeToString(kid),
		ProjectID: project, Key: key, Path: filepath.Join(dir, name+".json"),
	}
	k.JSON, err = json.MarshalIndent(map[string]string{
		"type":            "service_account",
		"project_id":      k.ProjectID,
		"private_key_id":  k.KeyID,
		"private_key":     string(keyPEM),
		"client_email":    email,
		"client_id":       k.ClientID,
		"auth_uri":        s.AuthURL(),
		"token_uri":       s.TokenURL(),
		"universe_domain": "googleapis.com",
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("service account json: %w", err)
	}
	if err := os.WriteFile(k.Path, k.JSON, 0o600); err != nil {
		return nil, fmt.Errorf("write service account key: %w", err)
	}
	s.AddServiceAccount(ServiceAccount{
		Email: email, ClientID: k.ClientID, KeyID: k.KeyID, PublicKey: &key.PublicKey, DelegatedScopes: delegatedScopes,
	})
	return k, nil
}
