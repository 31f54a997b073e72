package oauth

import (
	"os"

	"github.com/ticketsync/ticketsync/internal/config"
)

// FromConfig is the sign-in mail.oauth2 describes for mailbox. Secrets
// that came from a file are read from it each time the sign-in is built,
// so replacing the file takes effect without a restart; inline ones are
// what the configuration holds.
func FromConfig(cfg *config.Config, mailbox string) Config {
	o := cfg.Mail.OAuth2
	secret := func(path string, v config.Secret) func() (string, error) {
		if v == "" {
			return nil
		}
		if file := cfg.SecretFile(path); file != "" {
			return func() (string, error) {
				b, err := os.ReadFile(file)
				return string(b), err
			}
		}
		return func() (string, error) { return v.Reveal(), nil }
	}
	return Config{
		Provider: o.Provider, TenantID: o.TenantID, ClientID: o.ClientID,
		ClientSecret:          secret("mail.oauth2.client_secret", o.ClientSecret),
		RefreshToken:          secret("mail.oauth2.refresh_token", o.RefreshToken),
		ClientCertificateFile: o.ClientCertificateFile, ClientKeyFile: o.ClientKeyFile,
		ServiceAccountFile: o.ServiceAccountFile, TokenURL: o.TokenURL, Scopes: o.Scopes,
		Mailbox: mailbox,
	}
}
