package hostile_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
	"github.com/ticketsync/ticketsync/internal/slack"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// latencies collects durations from any goroutine.
type latencies struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

func (l *latencies) summary() benchkit.Summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return benchkit.Summarize(l.ds)
}

// probes are what a monitoring system and Slack do while the window runs:
// /healthz and a signed slash command, each every interval on a new
// connection (a kubelet probe and Slack through a proxy both may open one
// per request, the harder case under a connection cap). Each probe starts
// on its tick whether or not the previous one has answered, so a stalled
// request cannot hide the ones that would have followed it.
type probes struct {
	health, command latencies
	healthErr       atomic.Int64
	commandErr      atomic.Int64
	errSample       atomic.Value // string
}

// runProbes probes until window passes and every probe has answered.
func runProbes(healthURL, commandURL string, window, interval time.Duration) *probes {
	p := &probes{}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	probe := func(into *latencies, errs *atomic.Int64, what string, build func() (*http.Request, error)) {
		wg.Go(func() {
			start := time.Now()
			if err := p.do(client, build); err != nil {
				errs.Add(1)
				p.errSample.Store(what + ": " + err.Error())
				return
			}
			into.add(time.Since(start))
		})
	}
	wg.Go(func() {
		tick(ctx, interval, func() {
			probe(&p.health, &p.healthErr, "healthz", func() (*http.Request, error) { return http.NewRequest(http.MethodGet, healthURL, nil) })
		})
	})
	wg.Go(func() {
		time.Sleep(interval / 2) // interleaved with the health probe
		tick(ctx, interval, func() {
			probe(&p.command, &p.commandErr, "command", func() (*http.Request, error) { return signedHelp(commandURL) })
		})
	})
	wg.Wait()
	return p
}

func tick(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// do sends the request and reads the whole answer, which must be 200.
func (p *probes) do(client *http.Client, build func() (*http.Request, error)) error {
	req, err := build()
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// helpForm is "/ticket help", which the daemon answers in the
// acknowledgement itself: the HTTP path alone, no TaskIP call.
var helpForm = url.Values{"team_id": {"T1"}, "channel_id": {channel}, "user_id": {"U1"}, "user_name": {"ann"},
	"command": {"/ticket"}, "text": {"help"}, "response_url": {"http://127.0.0.1:1/unused"}}.Encode()

func signedHelp(u string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(helpForm))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.SignatureHeader(signingSecret, ts, []byte(helpForm)))
	return req, nil
}

// mailRun delivers customers' mails during a window and follows them to
// a ticket at TaskIP and an acknowledgement at the SMTP server. Each mail
// carries a token (RUN_NNNNN) in its subject, without spaces so that
// header folding cannot split it.
type mailRun struct {
	imap *mailtest.MemServer
	fake *taskipfake.Server
	smtp *mailtest.SMTPServer

	mu        sync.Mutex
	delivered map[string]time.Time // token → appended
	ticketAt  map[string]time.Time // token → first seen at TaskIP
}

func newMailRun(imap *mailtest.MemServer, fake *taskipfake.Server, smtp *mailtest.SMTPServer) *mailRun {
	return &mailRun{imap: imap, fake: fake, smtp: smtp, delivered: map[string]time.Time{}, ticketAt: map[string]time.Time{}}
}

// deliver appends n mails spread over window, from customers first,
// first+1, ...
func (m *mailRun) deliver(run string, first, n int, window time.Duration) error {
	for i := range n {
		time.Sleep(window / time.Duration(n))
		token, raw := customerMail(run, first+i)
		at := time.Now()
		if _, err := m.imap.Deliver("INBOX", raw); err != nil {
			return fmt.Errorf("deliver mail %d: %w", i, err)
		}
		m.mu.Lock()
		m.delivered[token] = at
		m.mu.Unlock()
	}
	return nil
}

// watch records when each delivered mail's ticket shows up at the fake,
// polling every 10 ms until ctx ends.
func (m *mailRun) watch(ctx context.Context) {
	tick(ctx, 10*time.Millisecond, func() {
		tickets := m.fake.Tickets()
		now := time.Now()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, tk := range tickets {
			token := tokenOf(tk.Subject)
			if _, ok := m.delivered[token]; ok {
				if _, seen := m.ticketAt[token]; !seen {
					m.ticketAt[token] = now
				}
			}
		}
	})
}

// result is, for the mails of run: how many were delivered, how many have
// a ticket and an acknowledgement, and the latencies from delivery to
// each.
func (m *mailRun) result(run string) (delivered, tickets, acks int, toTicket, toAck benchkit.Summary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	acked := map[string]time.Time{}
	for _, r := range m.smtp.Messages() {
		if token := tokenRE.Find(r.Data); token != nil {
			if _, ok := acked[string(token)]; !ok {
				acked[string(token)] = r.At
			}
		}
	}
	var tl, al []time.Duration
	for token, at := range m.delivered {
		if !strings.HasPrefix(token, run+"_") {
			continue
		}
		delivered++
		if t, ok := m.ticketAt[token]; ok {
			tickets++
			tl = append(tl, t.Sub(at))
		}
		if t, ok := acked[token]; ok {
			acks++
			al = append(al, t.Sub(at))
		}
	}
	return delivered, tickets, acks, benchkit.Summarize(tl), benchkit.Summarize(al)
}

var tokenRE = regexp.MustCompile(`[a-z]+[0-9]*_[0-9]{5}`)

func tokenOf(subject string) string { return tokenRE.FindString(subject) }

// customerMail is mail i of a run from customer i, a known TaskIP contact.
func customerMail(run string, i int) (token string, raw []byte) {
	name, email := customer(i)
	token = fmt.Sprintf("%s_%05d", run, i)
	subject := "Cannot export invoices to PDF (" + token + ")"
	date := time.Now().Format(time.RFC1123Z)
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", email, supportAddr)
	fmt.Fprintf(&b, "Received: from mail-out.client.example (mail-out.client.example [192.0.2.%d])\r\n\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n", i%250+1, i*104729, supportAddr, date)
	fmt.Fprintf(&b, "Date: %s\r\nFrom: \"%s\" <%s>\r\nTo: Example Support <%s>\r\nSubject: %s\r\n", date, name, email, supportAddr, subject)
	fmt.Fprintf(&b, "Message-ID: <%s.%d@client.example>\r\nMIME-Version: 1.0\r\n", token, time.Now().UnixNano())
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Hello,\r\n\r\nthe PDF export of our invoices fails since this morning with \"internal error\".\r\nCould you please have a look?\r\n\r\nThanks,\r\n" + name + "\r\n")
	return token, []byte(b.String())
}

func customer(i int) (name, email string) {
	return fmt.Sprintf("Customer %05d", i), fmt.Sprintf("customer%05d@client.example", i)
}
