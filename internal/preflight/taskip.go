package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func (c *checker) taskip(ctx context.Context) []Result {
	return []Result{c.timed(ctx, ServiceTaskIP, func(ctx context.Context) (string, error) {
		t := c.cfg.TaskIP
		where, hostPort := showURL(t.BaseURL)
		client, err := taskip.New(taskip.Config{
			BaseURL: t.BaseURL, SecretKey: t.SecretKey.Reveal(), Timeout: c.opts.Timeout, MaxResponseBytes: t.MaxResponseBytes,
			// One attempt: a retried 5xx would spend the whole timeout
			// and still be the answer.
			MaxAttempts: 1,
		})
		if err != nil {
			return "", failf("%v: check taskip.base_url and taskip.secret_key", err)
		}
		page, err := client.ListTickets(ctx, taskip.ListParams{Limit: 1})
		if err != nil {
			return "", taskipProblem(err, where, hostPort, c.opts)
		}
		detail := fmt.Sprintf("GET %s/support-ticket?limit=1: key accepted", where)
		if page.Meta != nil {
			detail += fmt.Sprintf(" (%d %s)", page.Meta.Total, plural(page.Meta.Total, "ticket", "tickets"))
		}
		return detail, nil
	})}
}

func taskipProblem(err error, where, hostPort string, opts Options) error {
	var apiErr *taskip.APIError
	if errors.As(err, &apiErr) {
		status := fmt.Sprintf("%d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
		switch {
		case errors.Is(err, taskip.ErrUnauthorized):
			return failf("TaskIP refused the key (%s): check taskip.secret_key", status)
		case apiErr.StatusCode == http.StatusNotFound:
			return failf("%s/support-ticket answered %s: check taskip.base_url (the API root, ending in /api/public-v1)", where, status)
		case apiErr.Temporary():
			return failf("TaskIP answered %s: a problem on its side, try again later (taskip.base_url is %s)", status, where)
		}
		return failf("TaskIP answered %s: check taskip.base_url", status)
	}
	if s := unreachable(err, hostPort, "taskip.base_url", opts.Timeout); s != "" {
		return failf("%s", s)
	}
	if s := tlsFailure(err, hostPort, "taskip.base_url", "taskip.base_url", "https is usually port 443"); s != "" {
		return failf("%s", s)
	}
	return failf("GET %s/support-ticket failed (%s): check taskip.base_url", where, cause(err))
}

// showURL returns the URL without user info, query or fragment, and its
// host:port, for messages: user info may carry a password.
func showURL(raw string) (where, hostPort string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)", ""
	}
	host := u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return clean.String(), host
}
