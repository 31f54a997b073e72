package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ticketsync/ticketsync/internal/cli"
	"github.com/ticketsync/ticketsync/internal/oauth"
)

var mailAuthorizeSpec = cli.Spec{
	Name: "mail authorize",
	Synopsis: "--provider microsoft|google --client-id ID [--client-secret-file FILE]\n" +
		"                                [--tenant T] [--mailbox ADDRESS] [--device]",
	Summary: "Sign the support mailbox in once with OAuth 2.0 and print the refresh token for mail.oauth2.",
	Details: "It signs in with a browser (or, for Microsoft, a code on another device) and prints\n" +
		"the refresh token on stdout for mail.oauth2.refresh_token. It writes nothing else.",
}

var mailGroup = cli.Group{
	Name:     "mail",
	Summary:  "Set up the support mailbox's sign-in.",
	Commands: []cli.Spec{mailAuthorizeSpec},
}

func mailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		return mailGroup.UsageError(stderr, errors.New("missing verb"))
	case cli.IsHelp(args[0]) || args[0] == "help":
		mailGroup.WriteHelp(stdout)
		return 0
	case args[0] != "authorize":
		return mailGroup.UsageError(stderr, fmt.Errorf("unknown verb %q", args[0]))
	}
	cmd := mailAuthorizeSpec.New()
	fs := cmd.Flags
	provider := fs.String("provider", "", "the provider `NAME`: microsoft or google; required")
	clientID := fs.String("client-id", "", "the app registration's (Microsoft) or OAuth client's (Google) `ID`; required")
	secretFile := fs.String("client-secret-file", "", "`FILE` holding the client secret (Google installed apps; Microsoft confidential clients)")
	tenant := fs.String("tenant", "", "Microsoft tenant id or domain `T` (default: organizations)")
	mailbox := fs.String("mailbox", "", "the support mailbox `ADDRESS`, suggested on the sign-in page")
	device := fs.Bool("device", false, "Microsoft: sign in on another device with a code instead of a browser here")
	listen := fs.String("listen", "127.0.0.1:0", "loopback `ADDR` the browser returns to")
	authURL := fs.String("auth-url", "", "authorization endpoint `URL` override (sovereign clouds)")
	tokenURL := fs.String("token-url", "", "token endpoint `URL` override (sovereign clouds)")
	deviceURL := fs.String("device-auth-url", "", "device-code endpoint `URL` override (sovereign clouds)")
	if code, ok := cmd.Parse(args[1:], stdout, stderr); !ok {
		return code
	}
	switch {
	case *provider == "":
		return cmd.Usagef(stderr, "--provider is required")
	case *clientID == "":
		return cmd.Usagef(stderr, "--client-id is required")
	}
	secret := ""
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return cmd.Fail(stderr, fmt.Errorf("--client-secret-file: %w", err))
		}
		secret = strings.TrimSpace(string(b))
	}
	rt, err := oauth.Authorize(ctx, oauth.AuthorizeConfig{
		Provider: *provider, TenantID: *tenant, ClientID: *clientID, ClientSecret: secret, Mailbox: *mailbox,
		Device: *device, Listen: *listen, AuthURL: *authURL, TokenURL: *tokenURL, DeviceAuthURL: *deviceURL,
	}, stderr)
	if err != nil {
		return cmd.Fail(stderr, err)
	}
	fmt.Fprintln(stderr, "\nSigned in. The refresh token follows on standard output, once. Store it as a secret file\n"+
		"(e.g. a Kubernetes or Docker secret) and point mail.oauth2.refresh_token_file at it; keep it like a password.")
	fmt.Fprintln(stdout, rt)
	return 0
}
