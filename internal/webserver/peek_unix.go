//go:build unix

package webserver

import (
	"net"
	"syscall"
)

// hasInput reports whether bytes from the client wait in nc's socket,
// unread by its serving goroutine, without reading them. Control does not
// wait for the goroutine blocked in Read; MSG_DONTWAIT keeps the peek from
// waiting for data.
func hasInput(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pending := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = err == nil && n > 0
	})
	return pending
}
