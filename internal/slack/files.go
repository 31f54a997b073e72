package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
)

// DefaultMaxFileBytes bounds one OpenFile download when
// PosterConfig.MaxFileBytes is not set: far above the logs and screenshots
// shared in a support thread, and a fixed cost where the alternative is
// whatever size a message claims.
const DefaultMaxFileBytes = 100 << 20

// slackFileHost serves every workspace's url_private_download.
const slackFileHost = "files.slack.com"

// maxFileRedirects bounds a chain of redirects within one file host.
const maxFileRedirects = 5

// Errors of OpenFile that callers can branch on. Both also match
// ErrPermanent: the same URL or file would be refused again.
var (
	// ErrFileHostRefused: the file URL, or a redirect from it, points
	// somewhere other than Slack's file host or the configured API host,
	// where the bot token must not go. Nothing was sent there.
	ErrFileHostRefused = errors.New("slack: file host refused")
	// ErrFileTooLarge: the file is larger than PosterConfig.MaxFileBytes.
	ErrFileTooLarge = errors.New("slack: file too large")
)

// fileError is an OpenFile refusal. Its text names hosts and sizes only:
// never the token, nor the user info or query of a URL.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }

func (e *fileError) Is(target error) bool { return target == e.kind || target == ErrPermanent }

// OpenFile streams a file shared in Slack (its url_private_download), which
// needs the bot token (files:read). The caller closes the body; nothing is
// held in memory, so a shared file goes to TaskIP as it is read.
//
// The URL comes from a message, which anyone in the channel can shape, and
// the request carries the bot token. So the token goes only to
// https://files.slack.com and to the origin of the configured API URL (a
// test fake or proxy, which may be plain http), and a redirect is followed
// only within the origin it came from. Anything else is refused before a
// connection is made. The body stops with ErrFileTooLarge past the limit.
func (p *Poster) OpenFile(ctx context.Context, fileURL string) (io.ReadCloser, error) {
	u, err := url.Parse(fileURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("slack: file URL is not an absolute http(s) URL: %w", ErrPermanent)
	}
	if !p.fileOriginAllowed(u) {
		return nil, &fileError{kind: ErrFileHostRefused, msg: fmt.Sprintf(
			"slack: refusing to send the bot token to %s: files are only fetched from https://%s%s",
			fileOrigin(u), slackFileHost, p.apiOriginNote())}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return nil, fmt.Errorf("slack: file request: %w", p.redact.error(err))
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	// Timed to the response headers: the body is streamed at the pace of
	// the TaskIP upload it feeds, which is not Slack's latency.
	start := time.Now()
	resp, err := p.files.Do(req)
	if err != nil {
		p.observe(methodFileDownload, requestOutcome(err), start)
		// url.Error repeats the URL, which after a refused redirect is the
		// Location header as sent: it may hold user info or a token.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		var fe *fileError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("slack: download %s: %w", u.Host, p.redact.error(err))
	}
	p.observe(methodFileDownload, statusOutcome(resp.StatusCode), start)
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("slack: download %s: HTTP %d", u.Host, resp.StatusCode)
	}
	if resp.ContentLength > p.maxFileBytes {
		resp.Body.Close()
		return nil, p.tooLarge(u)
	}
	return &fileBody{ReadCloser: resp.Body, left: p.maxFileBytes, tooLarge: func() error { return p.tooLarge(u) }}, nil
}

func (p *Poster) tooLarge(u *url.URL) error {
	return &fileError{kind: ErrFileTooLarge, msg: fmt.Sprintf(
		"slack: download %s: file larger than %d bytes", u.Host, p.maxFileBytes)}
}

// fileOriginAllowed reports whether u may receive the bot token.
func (p *Poster) fileOriginAllowed(u *url.URL) bool {
	if strings.EqualFold(u.Scheme, "https") && strings.EqualFold(u.Hostname(), slackFileHost) && port(u) == "443" {
		return true
	}
	return p.apiOrigin != nil && sameOrigin(u, p.apiOrigin)
}

func (p *Poster) apiOriginNote() string {
	if p.apiOrigin == nil || fileOrigin(p.apiOrigin) == "https://"+slackFileHost {
		return ""
	}
	return " and " + fileOrigin(p.apiOrigin)
}

// apiOriginOf is the origin of the API URL ("" is Slack's own), or nil
// when it does not parse: then only Slack's file host is allowed.
func apiOriginOf(apiURL string) *url.URL {
	if apiURL == "" {
		apiURL = slackapi.APIURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}
}

// fileClient is hc (already the Poster's own copy) copied again with a
// redirect policy of its own, so that the Web API calls keep theirs. Go
// keeps Authorization on a redirect to the same host name on another port,
// and follows https to http; only the same scheme, host and port are
// followed here.
func fileClient(hc *http.Client) *http.Client {
	fc := *hc
	next := hc.CheckRedirect
	fc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		if !sameOrigin(from, req.URL) {
			return &fileError{kind: ErrFileHostRefused, msg: fmt.Sprintf(
				"slack: download %s: refusing to follow a redirect to %s with the bot token",
				from.Host, fileOrigin(req.URL))}
		}
		if len(via) > maxFileRedirects {
			return &fileError{kind: ErrFileHostRefused, msg: fmt.Sprintf(
				"slack: download %s: more than %d redirects", from.Host, maxFileRedirects)}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &fc
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// port is u's port, or the scheme's default when the URL leaves it out.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// fileOrigin names u by scheme, host and port; user info is never part of
// url.URL.Host.
func fileOrigin(u *url.URL) string { return strings.ToLower(u.Scheme) + "://" + u.Host }

// fileBody stops a download that runs past the limit. It reads one byte
// beyond it to tell a file of exactly the limit from a longer one.
type fileBody struct {
	io.ReadCloser
	left     int64
	tooLarge func() error
	err      error
}

func (b *fileBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		b.err = b.tooLarge()
		return int(b.left), b.err
	}
	b.left -= int64(n)
	return n, err
}
