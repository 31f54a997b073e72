package taskip_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ticketsync/ticketsync/internal/taskip"
	"github.com/ticketsync/ticketsync/internal/taskip/taskipfake"
)

// BenchmarkRoundTrip measures GET /support-ticket/{id} against taskipfake on
// loopback, alternating a bare net/http request (the baseline: same
// transport settings, body read and discarded) with the client's GetTicket
// (headers, retry wrapper, lenient decode). Alternating in one loop keeps
// machine noise out of the ratio.
func BenchmarkRoundTrip(b *testing.B) {
	fake, base := taskipfake.NewHTTPTest(b, taskipfake.Options{SecretKey: testKey})
	fake.SeedExamples()
	tk := fake.Tickets()[0]
	c, err := taskip.New(taskip.Config{BaseURL: base, SecretKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	bare := &http.Client{Transport: tr}
	url := base + "/support-ticket/" + taskip.ID(tk.ID).String()
	ctx := context.Background()

	bareOnce := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("X-Secret-Key", testKey)
		resp, err := bare.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	clientOnce := func() {
		if _, err := c.GetTicket(ctx, taskip.ID(tk.ID)); err != nil {
			b.Fatal(err)
		}
	}
	for range 50 { // warm both connection pools
		bareOnce()
		clientOnce()
	}
	fake.ResetRequests()

	var bareD, clientD []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		bareOnce()
		t1 := time.Now()
		clientOnce()
		t2 := time.Now()
		bareD = append(bareD, t1.Sub(t0))
		clientD = append(clientD, t2.Sub(t1))
	}
	bp, cp := p50(bareD), p50(clientD)
	b.ReportMetric(float64(bp)/1e3, "bare-p50-µs")
	b.ReportMetric(float64(cp)/1e3, "client-p50-µs")
	b.ReportMetric(float64(cp)/float64(bp), "client/bare")
}

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
