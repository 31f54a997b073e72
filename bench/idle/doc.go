// Package idle measures what ticketsync costs while nothing happens: the
// size of the release binary, the time from exec to /readyz 200, and the
// resident memory and CPU of a daemon with every flow switched on and the
// default poll schedules, and its peak resident memory while a burst of
// mail arrives. The harness (idle_test.go) runs the real binary
// as a child process against fakes on 127.0.0.1 and only with
// TICKETSYNC_BENCH=1; README.md says what each figure is.
package idle
