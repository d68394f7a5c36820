// Package procfs reads the few Linux /proc figures wsbench reports: a
// process's CPU time (/proc/PID/stat), its resident set (/proc/PID/status
// VmRSS) and the machine's CPU time split (/proc/stat).
//
// The Parse functions work on the file's text, so they are tested against
// sample lines; the Read functions open the file. All are safe for
// concurrent use.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrFormat is returned when a /proc file does not have the expected shape.
var ErrFormat = errors.New("procfs: unexpected format")

// Stat holds the fields of /proc/PID/stat that wsbench uses. Times are in
// clock ticks (see ClockTicks).
type Stat struct {
	PID     int
	Comm    string
	State   byte
	UTime   uint64 // field 14: user time, ticks
	STime   uint64 // field 15: system time, ticks
	Threads int    // field 20
	RSSPage int64  // field 24: resident pages
}

// CPUTicks returns user plus system time, in clock ticks.
func (s Stat) CPUTicks() uint64 { return s.UTime + s.STime }

// ParseStat parses one /proc/PID/stat line. The command name may contain
// spaces and parentheses; it ends at the last ')'.
func ParseStat(line string) (Stat, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("%w: stat line %q", ErrFormat, line)
	}
	var s Stat
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("%w: pid in %q", ErrFormat, line)
	}
	s.PID = pid
	s.Comm = line[open+1 : end]
	// f[0] is field 3 (state); field k is f[k-3].
	f := strings.Fields(line[end+1:])
	if len(f) < 22 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("%w: %d fields after comm", ErrFormat, len(f))
	}
	s.State = f[0][0]
	if s.UTime, err = strconv.ParseUint(f[14-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("%w: utime: %v", ErrFormat, err)
	}
	if s.STime, err = strconv.ParseUint(f[15-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("%w: stime: %v", ErrFormat, err)
	}
	if s.Threads, err = strconv.Atoi(f[20-3]); err != nil {
		return Stat{}, fmt.Errorf("%w: num_threads: %v", ErrFormat, err)
	}
	if s.RSSPage, err = strconv.ParseInt(f[24-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("%w: rss: %v", ErrFormat, err)
	}
	return s, nil
}

// ReadStat reads /proc/PID/stat; pid 0 means the calling process.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(bytes.TrimSpace(b)))
}

// ParseRSS returns the VmRSS of a /proc/PID/status text, in KiB (the file
// says "kB" and means 1024 bytes).
func ParseRSS(status string) (kib int64, err error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: VmRSS line %q", ErrFormat, line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("%w: no VmRSS line", ErrFormat)
}

// ReadRSS returns the VmRSS of process pid (0: the calling process), in KiB.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0, err
	}
	return ParseRSS(string(b))
}

// CPUTimes is the machine-wide "cpu" line of /proc/stat, in clock ticks.
type CPUTimes struct {
	Total uint64 // every field summed (guest time is already in user/nice)
	Idle  uint64 // idle + iowait
}

// Busy returns the fraction of the time between a and b that the machine's
// CPUs were not idle, in [0, 1].
func Busy(a, b CPUTimes) float64 {
	dt := float64(b.Total - a.Total)
	if dt <= 0 {
		return 0
	}
	return 1 - float64(b.Idle-a.Idle)/dt
}

// ParseCPUTimes parses the text of /proc/stat (only its "cpu " line).
func ParseCPUTimes(stat string) (CPUTimes, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return CPUTimes{}, fmt.Errorf("%w: /proc/stat first line %q", ErrFormat, line)
	}
	var t CPUTimes
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("%w: /proc/stat field %d: %v", ErrFormat, i+1, err)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice
		switch i {
		case 3, 4:
			t.Idle += v
		}
		if i < 8 { // guest and guest_nice are included in user and nice
			t.Total += v
		}
	}
	return t, nil
}

// ReadCPUTimes reads /proc/stat.
func ReadCPUTimes() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	return ParseCPUTimes(string(b))
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

var (
	ticksOnce sync.Once
	ticks     int64
)

// atClkTck is the auxiliary vector key the kernel passes CLK_TCK in; it is
// what sysconf(_SC_CLK_TCK) returns in C.
const atClkTck = 17

// ClockTicks returns the kernel's USER_HZ, the unit of the /proc times:
// AT_CLKTCK from the auxiliary vector, else `getconf CLK_TCK`, else 100.
func ClockTicks() int64 {
	ticksOnce.Do(func() {
		ticks = 100
		if av, err := unix.Auxv(); err == nil {
			for _, kv := range av {
				if kv[0] == atClkTck && kv[1] > 0 {
					ticks = int64(kv[1])
					return
				}
			}
		}
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
				ticks = v
			}
		}
	})
	return ticks
}

// ParseCPUModel returns the first "model name" of a /proc/cpuinfo text, or
// "" if there is none.
func ParseCPUModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CPUModel returns the processor's model name from /proc/cpuinfo ("" when
// unknown).
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return ParseCPUModel(string(b))
}

// KernelRelease returns the running kernel's release
// (/proc/sys/kernel/osrelease; "" when unknown).
func KernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// KernelMem is the kernel's memory that sockets use, machine-wide: the slab
// caches (socket structures, inodes, epoll items, …) and the pages of TCP
// socket buffers.
type KernelMem struct {
	SlabKiB   int64 // /proc/meminfo Slab
	TCPBufKiB int64 // /proc/net/sockstat "TCP: … mem" pages × page size
	TCPInUse  int64 // /proc/net/sockstat "TCP: inuse"
}

// ParseKernelMem reads KernelMem from the texts of /proc/meminfo and
// /proc/net/sockstat (pages of pageSize bytes).
func ParseKernelMem(meminfo, sockstat string, pageSize int64) (KernelMem, error) {
	var k KernelMem
	found := 0
	for _, line := range strings.Split(meminfo, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Slab:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return k, fmt.Errorf("meminfo Slab: %w", err)
			}
			k.SlabKiB = v
			found++
		}
	}
	for _, line := range strings.Split(sockstat, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return k, fmt.Errorf("sockstat TCP %s: %w", f[i], err)
			}
			switch f[i] {
			case "inuse":
				k.TCPInUse = v
				found++
			case "mem":
				k.TCPBufKiB = v * pageSize / 1024
				found++
			}
		}
	}
	if found != 3 {
		return k, fmt.Errorf("meminfo Slab or sockstat TCP inuse/mem missing")
	}
	return k, nil
}

// ReadKernelMem reads KernelMem now.
func ReadKernelMem() (KernelMem, error) {
	mi, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return KernelMem{}, err
	}
	ss, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return KernelMem{}, err
	}
	return ParseKernelMem(string(mi), string(ss), int64(os.Getpagesize()))
}
