//go:build !linux

package daemon

// releaseExecutable is Linux only: elsewhere the executable's pages are
// left to the kernel.
func releaseExecutable() int64 { return 0 }

// residentBytes is unknown outside Linux.
func residentBytes() int64 { return 0 }
