package slack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// OpenFile streams a file shared in Slack (its url_private_download), which
// needs the bot token (files:read). The caller closes the body; nothing is
// held in memory, so a shared file goes to TaskIP as it is read.
func (p *Poster) OpenFile(ctx context.Context, fileURL string) (io.ReadCloser, error) {
	u, err := url.Parse(fileURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("slack: file URL is not http(s)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return nil, fmt.Errorf("slack: file request: %w", p.redact.error(err))
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	// Timed to the response headers: the body is streamed at the pace of
	// the TaskIP upload it feeds, which is not Slack's latency.
	start := time.Now()
	resp, err := p.http.Do(req)
	if err != nil {
		p.observe(methodFileDownload, requestOutcome(err), start)
		return nil, fmt.Errorf("slack: download %s: %w", u.Host, p.redact.error(err))
	}
	p.observe(methodFileDownload, statusOutcome(resp.StatusCode), start)
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("slack: download %s: HTTP %d", u.Host, resp.StatusCode)
	}
	return resp.Body, nil
}
