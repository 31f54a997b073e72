// Package benchkit holds what the end-to-end benchmarks under bench/ share:
// the TICKETSYNC_BENCH gate and BENCH_* variables (env.go), nearest-rank
// percentiles and the figures' formatting (stats.go), the binary under test
// and its config file (setup.go), `ticketsync run` as a child process
// (daemon.go) and what is read about it from /proc and /metrics
// (measure.go). Each benchmark's scenario stays in its own package.
//
// The helpers take a testing.TB and fail it; the package is imported only
// by the benchmarks' _test.go files.
package benchkit
