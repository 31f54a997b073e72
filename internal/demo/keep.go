package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// printAddresses tells a person how to reach every server with their own
// mail client, curl or the ticketsync CLI.
func (w *World) printAddresses(out io.Writer, ticket int) {
	edge := strings.TrimSuffix(w.SlackEdge.URL(), "/api/")
	d := w.DaemonURL()
	fmt.Fprintf(out, `
The servers stay up until Ctrl-C. Every address is on loopback and every secret a demo value.
  IMAP    %s   user %s, password %s, no TLS
  SMTP    %s   no TLS, no AUTH; mail to %s (or +tag) is delivered to the INBOX
                      above, the rest (the daemon's mail to customers) is only recorded
  TaskIP  %s   X-Secret-Key: %s
          TASKIP_BASE_URL=%s TASKIP_SECRET_KEY=%s ticketsync ticket list
  Slack   events    %s/slack/events     (Events API, signed)
          commands  %s/slack/commands   (slash commands, signed)
          signing secret %s; channel %s; agent %s is %s
          the fake Web API the daemon posts to: %s; response_url: %s/response/<name>
  daemon  %s/metrics  %s/readyz  config %s

A slash command from the shell (its answer arrives at the response_url, shown below):
  body='command=/ticket&text=show+%d&user_id=%s&channel_id=%s&response_url=%s/response/shell'
  ts=$(date +%%s)
  sig="v0=$(printf 'v0:%%s:%%s' "$ts" "$body" | openssl dgst -sha256 -hmac %s | sed 's/^.* //')"
  curl -s -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $sig" --data "$body" %s/slack/commands

What the fakes record from now on:
`, w.IMAP.Addr(), SupportAddress, IMAPPassword,
		w.SMTP.Addr(), SupportAddress,
		w.taskipURL, TaskIPKey, w.taskipURL, TaskIPKey,
		d, d, SigningSecret, Channel, AgentSlackID, AgentEmail, w.SlackEdge.URL(), edge,
		d, d, w.configPath,
		ticket, AgentSlackID, Channel, edge, SigningSecret, d)
}

// feed prints what the fakes record until ctx ends: TaskIP writes, Slack
// posts and answers, mail sent. It returns an error if the daemon stops
// on its own.
func (w *World) feed(ctx context.Context, out io.Writer) error {
	var nTaskIP, nSlack, nResp, nMail int
	nTaskIP = len(w.TaskIP.Requests())
	nSlack = len(w.Slack.Calls())
	nResp = len(w.SlackEdge.Responses())
	nMail = len(w.SMTP.Messages())
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := w.DaemonErr(); err != nil {
			return err
		}
		at := time.Now().Format("15:04:05")
		reqs := w.TaskIP.Requests()
		for _, r := range reqs[min(nTaskIP, len(reqs)):] {
			if r.Method != http.MethodGet {
				fmt.Fprintf(out, "  %s  taskip  %s %s → %d\n", at, r.Method, r.Path, r.Status)
			}
		}
		nTaskIP = len(reqs)
		calls := w.Slack.Calls()
		for _, c := range calls[min(nSlack, len(calls)):] {
			if c.Method == "chat.postMessage" || c.Method == "chat.update" {
				where := "channel " + c.Channel
				if c.ThreadTS != "" {
					where = "thread " + c.ThreadTS
				}
				fmt.Fprintf(out, "  %s  slack   %s in %s: %s\n", at, c.Method, where, firstLine(c.Text))
			}
		}
		nSlack = len(calls)
		resps := w.SlackEdge.Responses()
		for _, r := range resps[min(nResp, len(resps)):] {
			fmt.Fprintf(out, "  %s  slack   response_url %s: %s\n", at, r.Name, firstLine(string(r.Body)))
		}
		nResp = len(resps)
		mails := w.SMTP.Messages()
		for _, m := range mails[min(nMail, len(mails)):] {
			subject := "(unreadable)"
			if sm, err := readSinkMail(m.Data); err == nil {
				subject = sm.subject
			}
			fmt.Fprintf(out, "  %s  smtp    to %s: %s\n", at, strings.Join(m.To, ", "), subject)
		}
		nMail = len(mails)
	}
}

func firstLine(s string) string {
	line, _, cut := strings.Cut(s, "\n")
	const limit = 120
	if r := []rune(line); len(r) > limit {
		line, cut = string(r[:limit]), true
	}
	if cut {
		line += " …"
	}
	return line
}
