package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

// The baseline of TestIntakeRemoteTaskIP: a plain loop making the
// backlog's TaskIP writes (one create per conversation, one reply per
// reply mail) with `width` requests in flight, from a child process as
// the daemon makes them.

const (
	remoteChildBaseEnv = "BENCH_REMOTE_CHILD_BASE"
	remoteChildArgsEnv = "BENCH_REMOTE_CHILD_ARGS"
)

// remoteLoopChild runs writeLoop in a child process (this test binary
// again, see TestRemoteLoopChild) against a fresh fake with the round trip
// rtt, checks what it wrote and returns how long the loop took.
func remoteLoopChild(t testing.TB, run string, conversations, replies, width int, rtt time.Duration) loopRun {
	t.Helper()
	api := startRemoteAPI(t, conversations, rtt)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRemoteLoopChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), remoteChildBaseEnv+"="+api.base,
		fmt.Sprintf("%s=%s,%d,%d,%d", remoteChildArgsEnv, run, conversations, replies, width))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("loop child: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`loop-took-ns=(\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("loop child printed no duration:\n%s", out.String())
	}
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	api.mu.Lock()
	lr := loopRun{took: time.Duration(ns), writes: api.nWrites, maxInFlight: api.maxInFlight}
	api.mu.Unlock()
	if lr.writes != conversations+replies {
		t.Fatalf("loop child: %d writes answered, want %d", lr.writes, conversations+replies)
	}
	if p := checkThreads(api, run, conversations, replies); len(p) > 0 {
		t.Fatalf("loop child: %s", strings.Join(p, "; "))
	}
	return lr
}

// loopRun is one run of the plain loop.
type loopRun struct {
	took        time.Duration
	writes      int
	maxInFlight int // writes in flight at the fake at once
}

// TestRemoteLoopChild is the child of remoteLoopChild; without its
// environment it skips.
func TestRemoteLoopChild(t *testing.T) {
	base := os.Getenv(remoteChildBaseEnv)
	if base == "" {
		t.Skip("only run as the child of the remote-TaskIP benchmark's baseline")
	}
	args := strings.Split(os.Getenv(remoteChildArgsEnv), ",")
	if len(args) != 4 {
		t.Fatalf("%s=%q", remoteChildArgsEnv, os.Getenv(remoteChildArgsEnv))
	}
	var n [3]int
	for i, a := range args[1:] {
		v, err := strconv.Atoi(a)
		if err != nil || v < 0 {
			t.Fatalf("%s=%q", remoteChildArgsEnv, os.Getenv(remoteChildArgsEnv))
		}
		n[i] = v
	}
	took, err := writeLoop(base, args[0], n[0], n[1], n[2])
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("loop-took-ns=%d\n", took.Nanoseconds())
}

// writeLoop is the plain loop: a pool of width workers takes the creates
// in mailbox order from one queue; when the create of a conversation that
// has a reply is answered, its reply joins the end of the queue, so no
// reply is sent before its ticket exists and width requests stay in flight
// until the queue runs dry. The client is configured as the daemon builds
// it; the fields are those the daemon sends (baselineFields, replyText).
func writeLoop(base, run string, conversations, replies, width int) (time.Duration, error) {
	c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: secretKey, Timeout: 30 * time.Second,
		Observe: func(string, string, int, time.Duration) {}})
	if err != nil {
		return 0, err
	}
	type job struct {
		conv   int
		ticket taskip.ID // set for a reply
	}
	total := conversations + min(replies, conversations)
	queue := make(chan job, total)
	for i := range conversations {
		queue <- job{conv: i}
	}
	var (
		ctx     = context.Background()
		prio    = taskip.PriorityNormal
		notify  = false // the daemon does not mail the customer their own reply
		mu      sync.Mutex
		errs    []error
		pending sync.WaitGroup // jobs not yet done, replies included
		workers sync.WaitGroup
	)
	pending.Add(total)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	start := time.Now()
	for range width {
		workers.Go(func() {
			for j := range queue {
				if j.ticket != 0 {
					if _, err := c.AddReply(ctx, j.ticket, taskip.AddReplyFields{Message: replyText(run, j.conv),
						AuthorType: "client", NotifyClient: &notify}); err != nil {
						fail(fmt.Errorf("reply %d: %w", j.conv, err))
					}
					pending.Done()
					continue
				}
				subject, desc, uid := baselineFields(run, j.conv)
				id := taskip.ID(uid)
				t, err := c.CreateTicket(ctx, taskip.TicketFields{Subject: &subject, Description: &desc, Priority: &prio, UserID: &id})
				switch {
				case err != nil:
					fail(fmt.Errorf("create %d: %w", j.conv, err))
					if j.conv < replies {
						pending.Done() // its reply is never made
					}
				case j.conv < replies:
					queue <- job{conv: j.conv, ticket: t.ID}
				}
				pending.Done()
			}
		})
	}
	pending.Wait()
	took := time.Since(start)
	close(queue)
	workers.Wait()
	return took, errors.Join(errs...)
}
