package intake

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ticketsync/ticketsync/internal/mail/mailtest"
)

// probePush measures the IMAP server's own IDLE push delay, without the
// daemon: a plain go-imap session idles on a separate mailbox while the
// appender delivers n messages there, interval apart; each delay is APPEND
// answered -> EXISTS covering that message received. It is the floor under
// the daemon's APPEND -> ticket latency on that server.
func probePush(t testing.TB, srv mailtest.Server, app *appender, run string, base, n int, interval time.Duration) ([]time.Duration, error) {
	t.Helper()
	const box = "Probe"
	srv.CreateMailbox(t, box)
	type exists struct {
		at    time.Time
		count uint32
	}
	var (
		mu     sync.Mutex
		events []exists
	)
	c, err := imapclient.DialInsecure(srv.Addr(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					mu.Lock()
					events = append(events, exists{time.Now(), *d.NumMessages})
					mu.Unlock()
				}
			},
		},
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(srv.Username(), srv.Password()).Wait(); err != nil {
		return nil, err
	}
	sel, err := c.Select(box, nil).Wait()
	if err != nil {
		return nil, err
	}
	start := sel.NumMessages
	idle, err := c.Idle()
	if err != nil {
		return nil, err
	}
	time.Sleep(200 * time.Millisecond)
	done := make([]time.Time, n)
	t0 := time.Now()
	for i := range n {
		_, raw := smallMail(run, base+i, time.Now())
		if err := app.append(box, raw); err != nil {
			return nil, err
		}
		done[i] = time.Now()
		time.Sleep(time.Until(t0.Add(time.Duration(i+1) * interval)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(events) > 0 && events[len(events)-1].count >= start+uint32(n)
		mu.Unlock()
		if got || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := idle.Close(); err != nil {
		return nil, err
	}
	if err := idle.Wait(); err != nil {
		return nil, err
	}
	_ = c.Logout().Wait()

	mu.Lock()
	defer mu.Unlock()
	delays := make([]time.Duration, 0, n)
	for i := range n {
		want := start + uint32(i+1)
		k := slices.IndexFunc(events, func(e exists) bool { return e.count >= want })
		if k < 0 {
			return nil, fmt.Errorf("no EXISTS for message %d of %d within 5 s", i+1, n)
		}
		delays = append(delays, events[k].at.Sub(done[i]))
	}
	slices.Sort(delays)
	return delays, nil
}
