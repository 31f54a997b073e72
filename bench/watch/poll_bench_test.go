package watch_test

import (
	"fmt"
	"testing"
	"time"
)

// The variants of the per-poll benchmarks. fakes=child runs taskipfake and
// slackfake in a re-executed test binary, so cpu-us/op is the watch's own
// CPU (TaskIP client, Slack poster, bbolt, the diff); fakes=inproc adds the
// fakes' CPU, which serve the same process. state=fsync is the daemon's
// setting, state=nosync skips fsync on commit.
var pollVariants = []struct {
	name   string
	child  bool
	noSync bool
}{
	{"fakes=child/state=fsync", true, false},
	{"fakes=child/state=nosync", true, true},
	{"fakes=inproc/state=fsync", false, false},
	{"fakes=inproc/state=nosync", false, true},
}

// measure runs fn b.N times and reports TaskIP requests, Slack calls and
// CPU time per op. CPU is getrusage(RUSAGE_SELF) user+sys over the loop,
// all threads, divided by b.N; with the fakes in a child their CPU is
// reported apart as server-cpu-us/op.
func measure(b *testing.B, e *env, fn func(i int)) (reqPerOp, slackPerOp float64) {
	b.Helper()
	tk0, sl0 := e.fakes.Counts()
	srv0 := e.fakes.ServerCPU()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		fn(i)
	}
	cpu := processCPU() - cpu0
	b.StopTimer()
	srv := e.fakes.ServerCPU() - srv0
	tk1, sl1 := e.fakes.Counts()
	n := float64(b.N)
	reqPerOp, slackPerOp = float64(tk1-tk0)/n, float64(sl1-sl0)/n
	b.ReportMetric(reqPerOp, "req/op")
	b.ReportMetric(slackPerOp, "slack/op")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/op")
	if srv > 0 {
		b.ReportMetric(float64(srv.Microseconds())/n, "server-cpu-us/op")
	}
	return reqPerOp, slackPerOp
}

// BenchmarkWatchIdlePoll is one poll that finds nothing new, with 10,000
// tickets on the server (target: 1 TaskIP request, ≤ 2 ms of the watch's
// own CPU).
func BenchmarkWatchIdlePoll(b *testing.B) {
	for _, v := range pollVariants {
		b.Run(v.name, func(b *testing.B) {
			e := newEnv(b, envConfig{child: v.child, noSync: v.noSync, pacing: -1})
			e.poll(b) // keep-alive connection up, first read of every page
			e.poll(b)
			req, sl := measure(b, e, func(int) { e.poll(b) })
			if sl != 0 {
				b.Fatalf("an idle poll made %.2f Slack calls", sl)
			}
			if req < 1 {
				b.Fatalf("an idle poll made %.2f TaskIP requests", req)
			}
		})
	}
}

// changeWorkingSet is how many tickets the changed-ticket benchmark cycles
// through; each has a Slack thread before the clock starts.
const changeWorkingSet = 100

// BenchmarkWatchChangedTicket is one server-side change (a status flip on a
// ticket that already has a thread) followed by the poll that posts it: one
// thread reply and one parent update per op.
func BenchmarkWatchChangedTicket(b *testing.B) {
	for _, v := range pollVariants {
		b.Run(v.name, func(b *testing.B) {
			e := newEnv(b, envConfig{child: v.child, noSync: v.noSync, pacing: -1})
			n := ticketCount()
			// updated_at is set explicitly, 1 s apart and after everything
			// seeded: the fake would otherwise bump a ticket changed twice
			// in one second into the future (a real server's clock does
			// not), which hides changes to other tickets from a cursor.
			clock := time.Now().Truncate(time.Second).Add(time.Hour)
			next := func() time.Time { clock = clock.Add(time.Second); return clock }
			ids := make([]int, 0, changeWorkingSet)
			for k := range min(changeWorkingSet, n) {
				ids = append(ids, 1+k*(n/min(changeWorkingSet, n)))
			}
			for _, id := range ids {
				if err := e.fakes.Mutate(id, next()); err != nil {
					b.Fatal(err)
				}
			}
			_, sl0 := e.fakes.Counts()
			e.poll(b) // the working set gets its threads
			if _, sl := e.fakes.Counts(); sl-sl0 != len(ids) {
				b.Fatalf("warm-up posted %d parents, want %d", sl-sl0, len(ids))
			}
			e.poll(b)
			req, sl := measure(b, e, func(i int) {
				if err := e.fakes.Mutate(ids[i%len(ids)], next()); err != nil {
					b.Fatal(err)
				}
				e.poll(b)
			})
			if sl != 2 {
				b.Fatalf("a change made %.2f Slack calls, want 2 (thread reply + parent update)", sl)
			}
			if req < 1 {
				b.Fatalf("a change made %.2f TaskIP requests", req)
			}
		})
	}
}

// BenchmarkWatchIdlePollAfterBulk is an idle poll after one bulk action:
// bulk tickets changed in the same second (TaskIP has a bulk-actions
// endpoint; agents close dozens of tickets at once). Equal updated_at is
// re-read by design, so until another ticket changes every idle poll pages
// through all of them again.
func BenchmarkWatchIdlePollAfterBulk(b *testing.B) {
	for _, bulk := range []int{49, 200} {
		b.Run(fmt.Sprintf("bulk=%d/fakes=child/state=fsync", bulk), func(b *testing.B) {
			e := newEnv(b, envConfig{child: true, pacing: -1})
			at := time.Now().Truncate(time.Second).Add(time.Hour)
			n := ticketCount()
			for k := range bulk {
				if err := e.fakes.Mutate(1+k*(n/bulk), at); err != nil {
					b.Fatal(err)
				}
			}
			e.poll(b) // posts the bulk's parents
			e.poll(b)
			_, sl := measure(b, e, func(int) { e.poll(b) })
			if sl != 0 {
				b.Fatalf("an idle poll made %.2f Slack calls", sl)
			}
		})
	}
}
