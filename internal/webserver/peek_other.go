//go:build !unix

package webserver

import "net"

// hasInput cannot peek here: every quiet connection counts as silent.
func hasInput(net.Conn) bool { return false }
