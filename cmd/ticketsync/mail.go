package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ticketsync/ticketsync/internal/oauth"
)

const mailUsage = `usage: ticketsync mail authorize --provider microsoft|google --client-id ID [--client-secret-file FILE]
                                [--tenant T] [--mailbox ADDRESS] [--device]

Signs the support mailbox in once, with a browser (or, for Microsoft, a code
on another device), and prints the refresh token for mail.oauth2.refresh_token.
It writes nothing else.
`

func mailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "authorize" {
		fmt.Fprint(stderr, mailUsage)
		return 2
	}
	fs := flag.NewFlagSet("mail authorize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	provider := fs.String("provider", "", "microsoft or google")
	clientID := fs.String("client-id", "", "the app registration's (Microsoft) or OAuth client's (Google) id")
	secretFile := fs.String("client-secret-file", "", "file holding the client secret (Google installed apps; Microsoft confidential clients)")
	tenant := fs.String("tenant", "", "Microsoft tenant id or domain (default: organizations)")
	mailbox := fs.String("mailbox", "", "the support mailbox, suggested on the sign-in page")
	device := fs.Bool("device", false, "Microsoft: sign in on another device with a code instead of a browser here")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address the browser returns to")
	authURL := fs.String("auth-url", "", "authorization endpoint override (sovereign clouds)")
	tokenURL := fs.String("token-url", "", "token endpoint override (sovereign clouds)")
	deviceURL := fs.String("device-auth-url", "", "device-code endpoint override (sovereign clouds)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *provider == "" || *clientID == "" {
		fmt.Fprint(stderr, mailUsage)
		return 2
	}
	secret := ""
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			fmt.Fprintf(stderr, "ticketsync mail authorize: --client-secret-file: %v\n", err)
			return 1
		}
		secret = strings.TrimSpace(string(b))
	}
	rt, err := oauth.Authorize(ctx, oauth.AuthorizeConfig{
		Provider: *provider, TenantID: *tenant, ClientID: *clientID, ClientSecret: secret, Mailbox: *mailbox,
		Device: *device, Listen: *listen, AuthURL: *authURL, TokenURL: *tokenURL, DeviceAuthURL: *deviceURL,
	}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ticketsync mail authorize: %v\n", err)
		return 1
	}
	fmt.Fprintln(stderr, "\nSigned in. The refresh token follows on standard output, once. Store it as a secret file\n"+
		"(e.g. a Kubernetes or Docker secret) and point mail.oauth2.refresh_token_file at it; keep it like a password.")
	fmt.Fprintln(stdout, rt)
	return 0
}
