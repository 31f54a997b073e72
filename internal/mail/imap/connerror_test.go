package imap

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A connection that was never made is not "lost": a name that does not
// resolve must read as such in the log.
func TestConnErrorSaysWhatHappened(t *testing.T) {
	dns := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "imap.example.invalid", IsNotFound: true}}
	err := &ConnError{Op: "connect: dial", Err: dns}
	assert.Equal(t, "imap: connect: dial: dial tcp: lookup imap.example.invalid: no such host", err.Error())
	assert.NotContains(t, err.Error(), "connection lost")
	assert.True(t, errors.Is(err, ErrNotConnected))

	lost := &ConnError{Op: "idle", Err: errors.New("EOF")}
	assert.Equal(t, "imap: idle: connection lost: EOF", lost.Error())
}
