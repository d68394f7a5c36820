package main

import (
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// write prints the report as markdown: the medians table, the rounds
// table, and the anomalies.
func (rep *report) write(w io.Writer) {
	sc := rep.scen
	fmt.Fprintf(w, "## %s — %s\n\n", sc.name, sc.about)
	fmt.Fprintf(w, "%s; %d round(s), targets interleaved in each round (%s); medians over rounds.\n",
		sc.describe(rep.o, rep.conns), rep.o.rounds, strings.Join(rep.targets, ", "))
	if len(rep.skipped) > 0 {
		why := "no heartbeat timeout"
		if rep.o.compression {
			why += ", or no permessage-deflate"
		}
		if rep.o.tls {
			why += ", or no TLS"
		}
		fmt.Fprintf(w, "Not run against %s: %s.\n", strings.Join(rep.skipped, ", "), why)
	}
	if rep.o.compression {
		fmt.Fprintf(w, "permessage-deflate on: clients offer it with no context takeover, servers accept it (messages of %d bytes and more compressed at level %d where the server lets that be set).\n", 128, 3)
	}
	if rep.o.tls {
		fmt.Fprintf(w, "TLS on (wss://): an ECDSA P-256 certificate; the clients offer TLS 1.3 with X25519 (crypto/tls's defaults), seal and open records on their event loops; wsloop serves with internal/tlsrec, the net/http peers with crypto/tls.\n")
	}
	fmt.Fprintf(w, "%s\n\n", rep.env)

	// Medians.
	head := []string{"target"}
	align := []string{"---"}
	for _, c := range sc.columns {
		head = append(head, c.title)
		align = append(align, "---:")
		if c.ratio && rep.baseline != "" {
			head = append(head, "ratio to "+rep.baseline)
			align = append(align, "---:")
		}
	}
	row(w, head)
	row(w, align)
	for _, t := range rep.targets {
		cells := []string{t}
		for _, c := range sc.columns {
			v, ok := rep.median(t, c.key)
			cells = append(cells, cell(c.format, v, ok))
			if c.ratio && rep.baseline != "" {
				b, bok := rep.median(rep.baseline, c.key)
				cells = append(cells, cell("%.2f", v/b, ok && bok && b != 0))
			}
		}
		row(w, cells)
	}
	fmt.Fprintln(w)

	// Every round.
	if rep.o.rounds > 1 || len(rep.results) > len(rep.targets) {
		fmt.Fprintf(w, "Rounds:\n\n")
		head = []string{"round", "target"}
		align = []string{"---:", "---"}
		for _, c := range sc.columns {
			head = append(head, c.title)
			align = append(align, "---:")
		}
		row(w, head)
		row(w, align)
		for _, r := range rep.results {
			cells := []string{fmt.Sprint(r.round), r.target}
			for _, c := range sc.columns {
				v, ok := r.m[c.key]
				cells = append(cells, cell(c.format, v, ok))
			}
			row(w, cells)
		}
		fmt.Fprintln(w)
	}

	if a := rep.anomalies(); len(a) > 0 {
		fmt.Fprintf(w, "Anomalies:\n\n")
		for _, s := range a {
			fmt.Fprintf(w, "- %s\n", s)
		}
		fmt.Fprintln(w)
	}
	if a := rep.observations(); len(a) > 0 {
		fmt.Fprintf(w, "Notes:\n\n")
		for _, s := range a {
			fmt.Fprintf(w, "- %s\n", s)
		}
		fmt.Fprintln(w)
	}
}

func row(w io.Writer, cells []string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

func cell(format string, v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// environment describes the machine and the code measured, for the report.
func environment(o *options) string {
	s := fmt.Sprintf("Machine: %d CPUs, CLK_TCK %d, RLIMIT_NOFILE %d, %s; server loops %s, load-generator loops %d",
		runtime.NumCPU(), procfs.ClockTicks(), fileLimit(), runtime.Version(), loopsText(o.serverLoops), clientLoops(o))
	if rev := gitRevision(o.src); rev != "" {
		s += "; tree " + rev
	}
	return s + "."
}

func loopsText(n int) string {
	if n == 0 {
		return fmt.Sprintf("%d (one per CPU)", runtime.NumCPU())
	}
	return fmt.Sprint(n)
}

// treeAtStart is the revision of the tree the run started from: read once,
// before the run writes anything (RESULTS.md and charts/ are in the tree).
var treeAtStart struct {
	once sync.Once
	rev  string
}

// gitRevision returns the short HEAD of the repository around dir, with
// "+uncommitted" when its work tree had changes, as they were when it was
// first called (the start of the run); "" when it cannot tell.
func gitRevision(dir string) string {
	treeAtStart.once.Do(func() { treeAtStart.rev = readRevision(dir) })
	return treeAtStart.rev
}

func readRevision(dir string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	cmd.Dir = dir
	if st, err := cmd.Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += "+uncommitted"
	}
	return rev
}
