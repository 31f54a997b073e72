// Package watch benchmarks the ticket watch (internal/bridge watch.go,
// watch_sync.go) against 10,000 tickets in taskipfake, with slackfake as
// Slack and a real bbolt state file:
//
//   - BenchmarkWatchIdlePoll and BenchmarkWatchChangedTicket (go test
//     -bench) report TaskIP requests and CPU time per poll, with the fakes
//     in the benchmark process or in a child process so the CPU figure is
//     the watch's own;
//   - TestWatchChangeLatency (TICKETSYNC_BENCH=1) runs the watch's Run loop
//     on a 1 s schedule and times server-side change → Slack thread reply;
//   - TestWatchDaemonEmailToSlack (TICKETSYNC_BENCH=1) runs the real daemon
//     and times IMAP APPEND → Slack parent message with IDLE;
//   - TestWatchBaseline (TICKETSYNC_BENCH=1) times the first run's baseline.
//
// README.md in this directory says how to run them and what each figure
// means.
package watch
