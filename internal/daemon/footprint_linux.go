package daemon

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// releaseExecutable drops this process's mappings of the pages of its own
// executable that cannot have changed (the code and the read-only data),
// and returns how many bytes were mapped. The pages stay in the page
// cache; the next use maps them again. A mapping with a page of its own
// (a debugger's breakpoint is one) is left alone: MADV_DONTNEED would put
// the file's page back under it.
func releaseExecutable() int64 {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	maps := parseSmaps(smaps)
	// The executable is the file this very code is mapped from; its
	// device and inode as the kernel lists them, rather than a stat of
	// /proc/self/exe, which on an overlay file system can differ.
	pc, _, _, _ := runtime.Caller(0)
	var exe *memoryMap
	for i := range maps {
		if maps[i].start <= pc && pc < maps[i].end {
			exe = &maps[i]
			break
		}
	}
	if exe == nil || exe.inode == 0 {
		return 0
	}
	var released int64
	for _, m := range maps {
		if m.dev != exe.dev || m.inode != exe.inode || m.perms[1] != '-' || m.perms[3] != 'p' || m.anonymous > 0 || m.rss == 0 {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno == 0 {
			released += m.rss
		}
	}
	return released
}

type memoryMap struct {
	start, end uintptr
	perms      string
	dev        string
	inode      uint64
	// rss and anonymous are in bytes.
	rss, anonymous int64
}

// parseSmaps reads the mappings of /proc/PID/smaps (proc(5)): a header
// line "start-end perms offset dev inode [path]" and then "Key: N kB"
// lines.
func parseSmaps(b []byte) []memoryMap {
	var out []memoryMap
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			inode, err3 := strconv.ParseUint(f[4], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || len(f[1]) < 4 {
				continue
			}
			out = append(out, memoryMap{start: uintptr(start), end: uintptr(end), perms: f[1], dev: f[3], inode: inode})
			continue
		}
		if len(out) == 0 || len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Rss:":
			out[len(out)-1].rss = kb << 10
		case "Anonymous:":
			out[len(out)-1].anonymous = kb << 10
		}
	}
	return out
}

// residentBytes is VmRSS, for the log line; 0 when unknown.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
