// Package firststart measures the intake's first start on a large mailbox:
// the real `ticketsync run` daemon as a child process, go-imap's memory
// server holding 50,000 messages of which 50 are unread and recent, and
// taskipfake, all on 127.0.0.1. The harness (firststart_test.go) runs only
// with TICKETSYNC_BENCH=1; bench/README.md says how to run it and what each
// figure means.
package firststart
