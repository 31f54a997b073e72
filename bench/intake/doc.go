// Package intake is the end-to-end benchmark of the inbound-mail intake: the
// real `ticketsync run` daemon as a child process, an IMAP server
// (imapmemserver or Dovecot) and taskipfake on loopback. The harness is
// intake_test.go and runs only with TICKETSYNC_BENCH=1; bench/README.md says
// how to run it and what each figure means.
package intake
