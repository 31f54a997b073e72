package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// AuthorizeConfig configures the one-time delegated sign-in that yields a
// refresh token for mail.oauth2.refresh_token.
type AuthorizeConfig struct {
	Provider     string // Microsoft or Google
	TenantID     string // Microsoft; default "organizations" (work and school accounts)
	ClientID     string
	ClientSecret string // Google's installed-app clients have one; Microsoft public clients none
	// Mailbox, when set, is suggested to the sign-in page (login_hint).
	Mailbox string
	// Device uses the device-code flow instead of a browser on this
	// machine (Microsoft; Google does not offer it for mail scopes).
	Device bool
	// Listen is the loopback address the browser is sent back to;
	// default 127.0.0.1:0 (any free port; the providers accept any port
	// on a loopback redirect URI).
	Listen string
	// AuthURL, TokenURL and DeviceAuthURL override the provider's
	// endpoints (a sovereign cloud, tests).
	AuthURL, TokenURL, DeviceAuthURL string
	Scopes                           []string
	HTTPClient                       *http.Client
	// Wait bounds how long the person has to sign in; default 10 minutes.
	Wait time.Duration
}

// Authorize runs the authorization-code flow with PKCE and a loopback
// redirect (or the device-code flow), telling the person at the terminal
// what to do on out, and returns the refresh token. It writes nothing.
func Authorize(ctx context.Context, cfg AuthorizeConfig, out io.Writer) (string, error) {
	conf, opts, err := authorizeConfig(cfg)
	if err != nil {
		return "", err
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Wait)
	defer cancel()
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	var tok *oauth2.Token
	if cfg.Device {
		tok, err = deviceFlow(ctx, conf, opts, out)
	} else {
		tok, err = browserFlow(ctx, conf, opts, cfg.Listen, out)
	}
	if err != nil {
		return "", err
	}
	if tok.RefreshToken == "" {
		return "", errors.New("oauth: the provider issued no refresh token: the app must be allowed offline access " +
			"(Microsoft: the offline_access permission; Google: remove the app's access to the account and sign in again)")
	}
	return tok.RefreshToken, nil
}

func authorizeConfig(cfg AuthorizeConfig) (*oauth2.Config, []oauth2.AuthCodeOption, error) {
	if cfg.ClientID == "" {
		return nil, nil, errors.New("oauth: a client id is required")
	}
	conf := &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes}
	var opts []oauth2.AuthCodeOption
	switch cfg.Provider {
	case Microsoft:
		tenant := cfg.TenantID
		if tenant == "" {
			tenant = "organizations"
		}
		conf.Endpoint = MicrosoftEndpoint(tenant)
		if len(conf.Scopes) == 0 {
			conf.Scopes = microsoftDelegatedScopes
		}
	case Google:
		if cfg.Device {
			return nil, nil, errors.New("oauth: Google offers no device-code sign-in for mail; sign in with a browser on this machine")
		}
		conf.Endpoint = google.Endpoint
		if len(conf.Scopes) == 0 {
			conf.Scopes = googleScopes
		}
		// A refresh token only with offline access, and again only when
		// consent is asked for again.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	default:
		return nil, nil, fmt.Errorf("oauth: provider %q: want microsoft or google", cfg.Provider)
	}
	if cfg.AuthURL != "" {
		conf.Endpoint.AuthURL = cfg.AuthURL
	}
	if cfg.TokenURL != "" {
		conf.Endpoint.TokenURL = cfg.TokenURL
	}
	if cfg.DeviceAuthURL != "" {
		conf.Endpoint.DeviceAuthURL = cfg.DeviceAuthURL
	}
	if cfg.Mailbox != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", cfg.Mailbox))
	}
	return conf, opts, nil
}

// browserFlow sends the person to the sign-in page and takes the answer on
// a loopback listener: the code never crosses the network, and PKCE ties
// it to this process.
func browserFlow(ctx context.Context, conf *oauth2.Config, opts []oauth2.AuthCodeOption, listen string, out io.Writer) (*oauth2.Token, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("oauth: listen for the sign-in's answer on %s: %w", listen, err)
	}
	conf.RedirectURL = "http://" + ln.Addr().String() + "/"
	verifier := oauth2.GenerateVerifier()
	state := randomHex(16)
	type answer struct {
		code string
		err  error
	}
	answers := make(chan answer, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var a answer
		switch {
		case q.Get("state") != state:
			http.Error(w, "This answer is not for the sign-in ticketsync started.", http.StatusBadRequest)
			return
		case q.Get("error") != "":
			a.err = fmt.Errorf("oauth: the sign-in was refused: %s (%s)", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			a.err = errors.New("oauth: the sign-in returned no code")
		default:
			a.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := "Signed in. You can close this window and return to the terminal."
		if a.err != nil {
			msg = "The sign-in failed: " + html.EscapeString(a.err.Error())
		}
		fmt.Fprintf(w, "<!DOCTYPE html><title>ticketsync</title><p>%s</p>", msg)
		select {
		case answers <- a:
		default:
		}
	})}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() {
		// Shutdown lets the browser's page finish before the listener
		// goes; Close would cut it off mid-answer.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-serveErr
	}()

	u := conf.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...)
	fmt.Fprintf(out, "Open this address in a browser on this machine and sign in as the support mailbox:\n\n  %s\n\nWaiting for the sign-in...\n", u)
	var a answer
	select {
	case a = <-answers:
	case <-ctx.Done():
		return nil, fmt.Errorf("oauth: no sign-in arrived: %w", ctx.Err())
	}
	if a.err != nil {
		return nil, a.err
	}
	tok, err := conf.Exchange(ctx, a.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("oauth: exchange the sign-in's code: %w", redactRetrieve(err))
	}
	return tok, nil
}

// deviceFlow shows a code to enter on another device.
func deviceFlow(ctx context.Context, conf *oauth2.Config, opts []oauth2.AuthCodeOption, out io.Writer) (*oauth2.Token, error) {
	resp, err := conf.DeviceAuth(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("oauth: start the device sign-in: %w", redactRetrieve(err))
	}
	uri := resp.VerificationURIComplete
	if uri == "" {
		uri = resp.VerificationURI
	}
	fmt.Fprintf(out, "On any device, open %s and enter the code %s, then sign in as the support mailbox.\n\nWaiting for the sign-in...\n", uri, resp.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, resp)
	if err != nil {
		return nil, fmt.Errorf("oauth: device sign-in: %w", redactRetrieve(err))
	}
	return tok, nil
}

// redactRetrieve keeps an x/oauth2 error's code and description and drops
// the raw body, which could hold what was exchanged.
func redactRetrieve(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		d := strings.TrimSpace(re.ErrorDescription)
		if i := strings.Index(d, "\r\n"); i > 0 {
			d = d[:i]
		}
		return &Error{Code: re.ErrorCode, Description: d}
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
