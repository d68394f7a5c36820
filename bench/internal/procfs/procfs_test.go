package procfs

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Stat
	}{
		{
			name: "cat",
			line: "12705 (cat) R 12703 12703 20946 0 -1 4194304 98 0 0 0 7 3 0 0 20 0 1 0 467322 3133440 416 18446744073709551615 93932458446848 93932458466729 140723661384912 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			want: Stat{PID: 12705, Comm: "cat", State: 'R', UTime: 7, STime: 3, Threads: 1, RSSPage: 416},
		},
		{
			name: "comm with spaces and parens",
			line: "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 5000 0 0 0 123456 7890 0 0 20 0 9 0 100 800000000 20480 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			want: Stat{PID: 4242, Comm: "my (odd) prog", State: 'S', UTime: 123456, STime: 7890, Threads: 9, RSSPage: 20480},
		},
	} {
		got, err := ParseStat(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("%s: ParseStat = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "12 cat R 1", "12 (cat) R 1 2 3", "x (cat) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q) accepted", bad)
		}
	}
}

func TestParseRSS(t *testing.T) {
	status := "Name:\tcat\nVmPeak:\t    5000 kB\nVmRSS:\t    2096 kB\nRssAnon:\t  100 kB\n"
	if got, err := ParseRSS(status); err != nil || got != 2096 {
		t.Fatalf("ParseRSS = %d, %v", got, err)
	}
	if _, err := ParseRSS("Name:\tkthreadd\n"); err == nil {
		t.Fatal("ParseRSS accepted a status without VmRSS")
	}
}

func TestParseCPUTimes(t *testing.T) {
	stat := "cpu  117937 0 55545 755922 1449 0 1496 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	got, err := ParseCPUTimes(stat)
	want := CPUTimes{Total: 117937 + 55545 + 755922 + 1449 + 1496, Idle: 755922 + 1449}
	if err != nil || got != want {
		t.Fatalf("ParseCPUTimes = %+v, %v; want %+v", got, err, want)
	}
	a := CPUTimes{Total: 1000, Idle: 800}
	b := CPUTimes{Total: 1200, Idle: 850}
	if busy := Busy(a, b); busy != 0.75 {
		t.Fatalf("Busy = %v, want 0.75", busy)
	}
	if _, err := ParseCPUTimes("intr 1 2 3\n"); err == nil {
		t.Fatal("accepted a file without a cpu line")
	}
}

func TestClockTicksMatchesGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Skip("no getconf:", err)
	}
	want, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if got := ClockTicks(); got != want {
		t.Fatalf("ClockTicks = %d, getconf says %d", got, want)
	}
}

// The test's own process: the figures read are plausible and CPU time grows
// while the test burns CPU.
func TestReadSelf(t *testing.T) {
	s0, err := ReadStat(0)
	if err != nil {
		t.Fatal(err)
	}
	if s0.PID != os.Getpid() || s0.Threads < 1 || s0.RSSPage <= 0 {
		t.Fatalf("ReadStat(self) = %+v (pid %d)", s0, os.Getpid())
	}
	same, err := ReadStat(os.Getpid())
	if err != nil || same.PID != s0.PID || same.Comm != s0.Comm {
		t.Fatalf("ReadStat(getpid) = %+v, %v", same, err)
	}
	hz := ClockTicks()
	deadline := time.Now().Add(5 * time.Second)
	x := uint64(1)
	for {
		for i := 0; i < 1_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		s1, err := ReadStat(0)
		if err != nil {
			t.Fatal(err)
		}
		if d := s1.CPUTicks() - s0.CPUTicks(); d >= uint64(hz/20) { // 50 ms seen
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU ticks did not grow in 5 s of spinning (x=%d)", x)
		}
	}
	rss, err := ReadRSS(0)
	if err != nil {
		t.Fatal(err)
	}
	pageKiB := int64(os.Getpagesize() / 1024)
	if rss <= 0 || rss < s0.RSSPage*pageKiB/4 || rss > s0.RSSPage*pageKiB*4+100<<10 {
		t.Fatalf("VmRSS %d KiB vs stat rss %d pages", rss, s0.RSSPage)
	}
	a, err := ReadCPUTimes()
	if err != nil || a.Total == 0 || a.Idle > a.Total {
		t.Fatalf("ReadCPUTimes = %+v, %v", a, err)
	}
}

func TestCPUModelAndKernel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := ParseCPUModel(info); got != "AMD EPYC 7B13" {
		t.Errorf("ParseCPUModel = %q", got)
	}
	if got := ParseCPUModel("processor\t: 0\n"); got != "" {
		t.Errorf("ParseCPUModel without a model = %q", got)
	}
	if KernelRelease() == "" {
		t.Error("no kernel release")
	}
	t.Logf("CPU %q, kernel %q", CPUModel(), KernelRelease())
}

func TestParseKernelMem(t *testing.T) {
	mi := "MemTotal:       24000000 kB\nSlab:             209056 kB\nSReclaimable:     177092 kB\n"
	ss := "sockets: used 13\nTCP: inuse 3 orphan 0 tw 3 alloc 3 mem 86\nUDP: inuse 0 mem 0\n"
	k, err := ParseKernelMem(mi, ss, 4096)
	if err != nil || k.SlabKiB != 209056 || k.TCPBufKiB != 344 || k.TCPInUse != 3 {
		t.Fatalf("%+v, %v", k, err)
	}
	if _, err := ParseKernelMem("MemTotal: 1 kB\n", ss, 4096); err == nil {
		t.Error("no Slab accepted")
	}
	if _, err := ReadKernelMem(); err != nil {
		t.Fatal(err)
	}
}
