package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// baselineFields is what the daemon sends for message i: the same subject,
// a description of the same shape (body, sender, Message-ID footer), normal
// priority and the customer's contact id.
func baselineFields(run string, i int) (subject, description string, userID int) {
	name, email := customer(i)
	p := problems[i%len(problems)]
	subject = fmt.Sprintf("%s (ref %s-%05d)", p.subject, run, i)
	description = fmt.Sprintf("%s\n\n-- \n%s\nIT Operations, Client %03d GmbH\nPhone +49 30 1234 %04d\n\n--\nFrom: %s <%s>\nMessage-ID: <%s.%05d.0@client%03d.example>",
		p.body, name, i%211, i%10000, name, email, run, i, i%211)
	return subject, description, i + 1 // contacts are seeded in order from id 1
}

// baselineClient is createLoop against a fresh taskipfake holding
// contacts, in the test process.
func baselineClient(t testing.TB, run string, n, contacts int, lookup bool) time.Duration {
	t.Helper()
	api := startAPI(t, contacts)
	took, err := createLoop(api.base, run, n, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := api.creates(); got != n {
		t.Fatalf("baseline: %d tickets created, want %d", got, n)
	}
	return took
}

// baselineChild is baselineClient's loop run by a child process (this test
// binary again, see TestBaselineChild), so the creates cross a process
// boundary as the daemon's do.
func baselineChild(t testing.TB, run string, n, contacts int, lookup bool) time.Duration {
	t.Helper()
	api := startAPI(t, contacts)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBaselineChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childBaseEnv+"="+api.base, fmt.Sprintf("%s=%s,%d,%t", childArgsEnv, run, n, lookup))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("baseline child: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`baseline-took-ns=(\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("baseline child printed no duration:\n%s", out.String())
	}
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	if got := api.creates(); got != n {
		t.Fatalf("baseline child: %d tickets created, want %d", got, n)
	}
	return time.Duration(ns)
}

const (
	childBaseEnv = "BENCH_CHILD_BASE"
	childArgsEnv = "BENCH_CHILD_ARGS"
)

// TestBaselineChild is the child of baselineChild; without its environment
// it skips.
func TestBaselineChild(t *testing.T) {
	base := os.Getenv(childBaseEnv)
	if base == "" {
		t.Skip("only run as the child of the intake benchmark's baseline")
	}
	var run string
	var n int
	var lookup bool
	args := strings.Split(os.Getenv(childArgsEnv), ",")
	if len(args) != 3 {
		t.Fatalf("%s=%q", childArgsEnv, os.Getenv(childArgsEnv))
	}
	run = args[0]
	n, _ = strconv.Atoi(args[1])
	lookup = args[2] == "true"
	took, err := createLoop(base, run, n, lookup)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("baseline-took-ns=%d\n", took.Nanoseconds())
}

// createLoop is the plain loop of the baseline: n sequential
// taskip.Client.CreateTicket calls with the client configuration the daemon
// builds. Without lookup it is the baseline of the throughput target. With
// lookup it is the daemon's TaskIP traffic without the daemon: per email
// also the contact lookup it makes (GET /contact?search=EMAIL&limit=10)
// before the create. That is not the baseline of the target; it shows how
// much of the gap is the extra read.
func createLoop(base, run string, n int, lookup bool) (time.Duration, error) {
	c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: secretKey, Timeout: 30 * time.Second,
		Observe: func(string, string, int, time.Duration) {}})
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	prio := taskip.PriorityNormal
	start := time.Now()
	for i := range n {
		subject, desc, uid := baselineFields(run, i)
		id := taskip.ID(uid)
		if lookup {
			_, email := customer(i)
			page, err := c.SearchContacts(ctx, taskip.SearchParams{Search: email, Limit: 10})
			if err != nil || len(page.Contacts) != 1 {
				return 0, fmt.Errorf("lookup %s: %d contacts, %v", email, len(page.Contacts), err)
			}
			id = page.Contacts[0].ID
		}
		if _, err := c.CreateTicket(ctx, taskip.TicketFields{Subject: &subject, Description: &desc, Priority: &prio, UserID: &id}); err != nil {
			return 0, fmt.Errorf("baseline create %d: %w", i, err)
		}
	}
	return time.Since(start), nil
}

// baselineRaw is the same loop as bare net/http: marshal, POST, read and
// discard the answer.
func baselineRaw(t testing.TB, run string, n, contacts int) time.Duration {
	t.Helper()
	api := startAPI(t, contacts)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	type fields struct {
		Subject     string `json:"subject"`
		Priority    int    `json:"priority"`
		Description string `json:"description"`
		UserID      int    `json:"user_id"`
	}
	start := time.Now()
	for i := range n {
		subject, desc, uid := baselineFields(run, i)
		body, err := json.Marshal(fields{Subject: subject, Priority: 1, Description: desc, UserID: uid})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, api.base+"/support-ticket", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Secret-Key", secretKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("raw create %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("raw create %d: HTTP %d", i, resp.StatusCode)
		}
	}
	return time.Since(start)
}
