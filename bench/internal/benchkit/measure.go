package benchkit

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the daemon's user+system CPU time so far, from /proc/PID/stat in
// clock ticks of 10 ms; 0 once the process is gone.
func (d *Daemon) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.Pid()))
	if err != nil {
		return 0
	}
	// The command name in parentheses may contain spaces; fields count
	// from the closing one.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Status is the numeric fields of /proc/PID/status: VmRSS, VmHWM and the
// other Vm* sizes in kB, Threads, ...; nil once the process is gone.
func (d *Daemon) Status() map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.Pid()))
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// Memory is VmHWM (the peak resident set since exec) and VmRSS, in bytes;
// 0 once the process is gone. Not getrusage's ru_maxrss of the exited
// child: Go starts children with vfork semantics (CLONE_VM), and exec
// records the parent's high-water mark as the child's, so that figure is
// the bench process's peak, not the daemon's.
func (d *Daemon) Memory() (hwm, rss int64) {
	s := d.Status()
	return s["VmHWM"] << 10, s["VmRSS"] << 10
}

// LoadAvg is the 1/5/15-minute load average from /proc/loadavg, "?" when
// it cannot be read. The benchmarks print it with every table: the machine
// is shared and the figures move with other work.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Scrape reads the named unlabelled series from the Prometheus text page
// at url (the daemon's /metrics).
func Scrape(url string, names ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// SelfCPU is this process's user+system CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUTimes is the machine's busy and total CPU time so far, from the first
// line of /proc/stat, in clock ticks.
type CPUTimes struct{ Busy, Total int64 }

// MachineCPU reads CPUTimes; zero when /proc/stat is unreadable.
func MachineCPU() CPUTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var c CPUTimes
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		c.Total += n
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += n
		}
	}
	return c
}

// BusySince is the share of all CPUs that was busy since earlier, 0-1.
func (c CPUTimes) BusySince(earlier CPUTimes) float64 {
	if c.Total <= earlier.Total {
		return 0
	}
	return float64(c.Busy-earlier.Busy) / float64(c.Total-earlier.Total)
}
