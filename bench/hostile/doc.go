// Package hostile measures ticketsync under hostile traffic on its public
// HTTP listener: connections holding unsigned 1 MiB bodies open and tens of
// thousands of idle connections, while the harness times /healthz and a
// correctly signed slash command and mails customers whose tickets and
// acknowledgements must keep flowing. The harness (hostile_test.go) runs
// the real binary as a child process against fakes on 127.0.0.1 and only
// with TICKETSYNC_BENCH=1; bench/README.md says what each figure is.
package hostile
