package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ticketsync/ticketsync/internal/oauthfake"
)

// `ticketsync mail authorize` prints the sign-in address on stderr, takes
// the browser's return, checks PKCE at the token endpoint, and prints the
// refresh token alone on stdout.
func TestMailAuthorize(t *testing.T) {
	fake := oauthfake.New(t, oauthfake.Options{Flavor: oauthfake.Microsoft, RequirePKCE: true})
	fake.AddClient(oauthfake.Client{ID: "desktop-app", RedirectURIs: []string{"http://127.0.0.1/"}})
	fake.AddUser("support@acme.example")
	fake.SetSignedInUser("support@acme.example")

	errR, errW := io.Pipe()
	go func() {
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			if u := strings.TrimSpace(sc.Text()); strings.HasPrefix(u, "http://") {
				if resp, err := http.Get(u); err == nil {
					_ = resp.Body.Close()
				}
			}
		}
	}()
	var out strings.Builder
	code := dispatch(context.Background(), []string{"mail", "authorize", "--provider", "microsoft", "--client-id", "desktop-app",
		"--mailbox", "support@acme.example", "--auth-url", fake.AuthURL(), "--token-url", fake.TokenURL()}, &out, errW)
	_ = errW.Close()
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	rt := strings.TrimSpace(out.String())
	info, ok := fake.Lookup(rt)
	if !ok || info.Kind != oauthfake.RefreshToken || info.Subject != "support@acme.example" {
		t.Fatalf("stdout is not the issued refresh token: %+v %v", info, ok)
	}
	verified := false
	for _, r := range fake.RequestsTo(oauthfake.PathToken) {
		verified = verified || r.PKCE == oauthfake.PKCEVerified
	}
	if !verified {
		t.Fatal("the code verifier was not checked")
	}
	if code := dispatch(context.Background(), []string{"mail", "authorize"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("no flags: exit %d", code)
	}
}
