package oauth

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"
)

// MicrosoftEndpoint is the identity platform's v2.0 endpoint of a tenant.
func MicrosoftEndpoint(tenant string) oauth2.Endpoint {
	base := "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/"
	return oauth2.Endpoint{AuthURL: base + "authorize", TokenURL: base + "token", DeviceAuthURL: base + "devicecode",
		AuthStyle: oauth2.AuthStyleInParams}
}

// microsoft signs in app-only (client credentials, with a secret or a
// certificate) or, with a refresh token, as the mailbox's user.
func (s *Source) microsoft(ctx context.Context, secret, refresh string) (oauth2.TokenSource, error) {
	c := s.cfg
	ep := MicrosoftEndpoint(c.TenantID)
	if c.TokenURL != "" {
		ep.TokenURL = c.TokenURL
	}
	if refresh != "" {
		conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: secret, Endpoint: ep, Scopes: s.scopes(microsoftDelegatedScopes)}
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}), nil
	}
	cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: secret, TokenURL: ep.TokenURL,
		Scopes: s.scopes(microsoftAppScopes), AuthStyle: oauth2.AuthStyleInParams}
	if c.ClientCertificateFile == "" {
		return cc.TokenSource(ctx), nil
	}
	signer, err := loadAssertionSigner(c.ClientCertificateFile, c.ClientKeyFile, c.ReadFile)
	if err != nil {
		return nil, err
	}
	return &assertionSource{ctx: ctx, conf: cc, sign: signer}, nil
}

// google signs in as a Workspace mailbox through a service account with
// domain-wide delegation, or as one account with a refresh token.
func (s *Source) google(ctx context.Context, secret, refresh string) (oauth2.TokenSource, error) {
	c := s.cfg
	if c.ServiceAccountFile != "" {
		data, err := c.ReadFile(c.ServiceAccountFile)
		if err != nil {
			return nil, fmt.Errorf("oauth: mail.oauth2.service_account_file: %w", err)
		}
		conf, err := google.JWTConfigFromJSON(data, s.scopes(googleScopes)...)
		if err != nil {
			return nil, fmt.Errorf("oauth: mail.oauth2.service_account_file %s is not a service account key: %w", c.ServiceAccountFile, err)
		}
		conf.Subject = c.Mailbox
		if c.TokenURL != "" {
			conf.TokenURL = c.TokenURL
		}
		return conf.TokenSource(ctx), nil
	}
	ep := google.Endpoint
	if c.TokenURL != "" {
		ep.TokenURL = c.TokenURL
	}
	conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: secret, Endpoint: ep, Scopes: s.scopes(googleScopes)}
	return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}), nil
}

// generic is any provider by token URL: a refresh token, or client
// credentials.
func (s *Source) generic(ctx context.Context, secret, refresh string) (oauth2.TokenSource, error) {
	c := s.cfg
	if c.TokenURL == "" {
		return nil, fmt.Errorf("oauth: mail.oauth2.token_url is required for provider generic")
	}
	if refresh != "" {
		conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: c.TokenURL}, Scopes: c.Scopes}
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}), nil
	}
	cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: secret, TokenURL: c.TokenURL, Scopes: c.Scopes}
	return cc.TokenSource(ctx), nil
}

// assertionSource is client credentials with a certificate: every request
// carries a new signed assertion, since each may be used once and expires.
type assertionSource struct {
	ctx  context.Context
	conf clientcredentials.Config
	sign func(clientID, tokenURL string, now time.Time) (string, error)
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	jwt, err := a.sign(a.conf.ClientID, a.conf.TokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	conf := a.conf
	conf.EndpointParams = url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {jwt},
	}
	return conf.Token(a.ctx)
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
