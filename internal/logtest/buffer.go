// Package logtest holds what tests need to read a component's log while
// it runs.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer collects writes from any goroutine and lets a test read them at
// any time; the race detector would object to a plain bytes.Buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
