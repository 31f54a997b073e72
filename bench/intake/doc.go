// Package intake is the end-to-end benchmark of the inbound-mail intake: the
// real `ticketsync run` daemon as a child process, an IMAP server
// (imapmemserver or Dovecot) and taskipfake on loopback. The harnesses are
// intake_test.go (throughput, IDLE latency, peak RSS) and remote_test.go
// (a backlog of conversations against a TaskIP 100 ms away); they run only
// with TICKETSYNC_BENCH=1. bench/README.md says how to run them and what
// each figure means.
package intake
