package idle_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/bench/internal/benchkit"
)

// The burst: n customers known to TaskIP write at once, as after an outage
// of the customers' own product. Each mail is a first mail (a new ticket,
// its Slack post, an acknowledgement up to the hourly cap of 60), 2-3 KB
// with the header a real delivery carries.

// customer is the sender of mail i, seeded as a TaskIP contact.
func customer(i int) (name, email string) {
	return fmt.Sprintf("Burst Customer %d", i), fmt.Sprintf("burst%05d@client%03d.example", i, i%97)
}

func burstMail(run string, i int, when time.Time) []byte {
	name, email := customer(i)
	domain := email[strings.IndexByte(email, '@')+1:]
	date := when.Format(time.RFC1123Z)
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", email)
	fmt.Fprintf(&b, "Received: from mail-out.%s (mail-out.%s [192.0.2.%d])\r\n\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n",
		domain, domain, i%250+1, i*104729, supportAddr, date)
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail2024;\r\n\th=from:to:subject:date:message-id;\r\n\tbh=%s;\r\n\tb=%s\r\n",
		domain, strings.Repeat("Qk", 22), strings.Repeat("dGlja2V0c3luYw", 24))
	fmt.Fprintf(&b, "Date: %s\r\nFrom: \"%s\" <%s>\r\nTo: Example Support <%s>\r\n", date, name, email, supportAddr)
	fmt.Fprintf(&b, "Subject: Dashboard shows no data since the update (%s-%05d)\r\n", run, i)
	fmt.Fprintf(&b, "Message-ID: <%s.%05d@%s>\r\nMIME-Version: 1.0\r\n", run, i, domain)
	b.WriteString("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	for range 12 {
		b.WriteString("Since this morning's update the dashboard stays empty for all of our users.\r\n")
	}
	fmt.Fprintf(&b, "\r\n-- \r\n%s\r\nIT Operations, Client %03d GmbH\r\n", name, i%97)
	return []byte(b.String())
}

// burstResult is what the burst cost. Sizes are in kB, as /proc gives them.
type burstResult struct {
	mails       int
	took        time.Duration // first delivery → the last mail a ticket and \Seen
	peak        int64         // largest VmRSS sample (every 10 ms)
	hwm         int64         // VmHWM at the end
	before      int64         // VmRSS just before the burst
	after       int64         // VmRSS at the end of the tail
	created     int           // tickets
	posts, acks int           // Slack calls, mails sent
	samples     int
	load        string // load average at the end
}

// runBurst delivers n mails at once into INBOX while the daemon IDLEs,
// and samples its VmRSS every 10 ms until every mail is a ticket and
// every message is \Seen, and for tail after that.
func runBurst(t *testing.T, r *rig, d *benchkit.Daemon, n int, tail time.Duration) burstResult {
	t.Helper()
	res := burstResult{mails: n, before: d.Status()["VmRSS"]}
	created0, posts0, acks0 := r.created(), len(r.sf.Calls()), len(r.smtp.Messages())

	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if s := d.Status(); s != nil {
				res.peak = max(res.peak, s["VmRSS"])
				res.samples++
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	run := time.Now().Format("150405")
	start := time.Now()
	for i := range n {
		// Straight into the backend: the mails land faster than any
		// session could APPEND them, and each still notifies the IDLE.
		r.imap.Preload(t, "INBOX", burstMail(run, i, time.Now()), time.Now())
	}

	deadline := time.Now().Add(2*time.Minute + time.Duration(n)*100*time.Millisecond)
	for r.created()-created0 < n || r.imap.Unseen(t, "INBOX") > 0 {
		if !d.Alive() {
			t.Fatalf("daemon exited during the burst; log:\n%s", d.Problems())
		}
		if time.Now().After(deadline) {
			t.Fatalf("burst: %d of %d tickets, %d unseen after %s; log:\n%s",
				r.created()-created0, n, r.imap.Unseen(t, "INBOX"), time.Since(start).Round(time.Second), d.Problems())
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.took = time.Since(start)
	// Slack posts and acknowledgements follow the tickets; the tail keeps
	// sampling while they are made.
	time.Sleep(tail)
	close(stop)
	<-sampled
	s := d.Status()
	res.hwm, res.after = s["VmHWM"], s["VmRSS"]
	res.created, res.posts, res.acks = r.created()-created0, len(r.sf.Calls())-posts0, len(r.smtp.Messages())-acks0
	res.load = benchkit.LoadAvg()
	return res
}
