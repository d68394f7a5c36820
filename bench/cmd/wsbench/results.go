package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/wsloop/wsloop/bench/internal/procfs"
)

// writeResults writes RESULTS.md and charts/<scenario>.svg for a -matrix
// run into o.out (default: the bench module's directory) and returns the
// path of RESULTS.md.
func writeResults(o *options, reports []*report, started time.Time) (string, error) {
	dir := o.out
	if dir == "" {
		d, err := benchModuleDir(o)
		if err != nil {
			return "", err
		}
		dir = d
	}
	if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o755); err != nil {
		return "", err
	}
	for _, rep := range reports {
		svg, err := rep.chart()
		if err != nil {
			return "", fmt.Errorf("%s chart: %w", rep.scen.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "charts", rep.scen.name+".svg"), svg, 0o644); err != nil {
			return "", err
		}
	}
	var b bytes.Buffer
	writeResultsMarkdown(&b, o, reports, started, machineInfo(o))
	path := filepath.Join(dir, "RESULTS.md")
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// machine describes where a run happened.
type machine struct {
	cpu, kernel, goVersion, tree string
	cores                        int
	nofile                       uint64
}

func machineInfo(o *options) machine {
	return machine{
		cpu:       procfs.CPUModel(),
		kernel:    procfs.KernelRelease(),
		goVersion: runtime.Version(),
		tree:      gitRevision(o.src),
		cores:     runtime.NumCPU(),
		nofile:    fileLimit(),
	}
}

// writeResultsMarkdown writes the RESULTS.md text: the run's header, then
// each scenario's report and chart.
func writeResultsMarkdown(w io.Writer, o *options, reports []*report, started time.Time, m machine) {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	fmt.Fprintf(w, "# wsloop benchmark results\n\n")
	fmt.Fprintf(w, "Written by `wsbench -matrix` from the run below; every figure is measured, none is edited. Rerun the command from `bench/` to regenerate this file and `charts/`. How each figure is computed: README.md.\n\n")
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| date | %s (%s) |\n", started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(w, "| command | `%s` |\n", o.command)
	fmt.Fprintf(w, "| tree | `%s` |\n", unknown(m.tree))
	fmt.Fprintf(w, "| CPU | %s |\n", unknown(m.cpu))
	fmt.Fprintf(w, "| cores | %d |\n", m.cores)
	fmt.Fprintf(w, "| kernel | %s |\n", unknown(m.kernel))
	fmt.Fprintf(w, "| Go | %s |\n", m.goVersion)
	fmt.Fprintf(w, "| RLIMIT_NOFILE | %d |\n", m.nofile)
	fmt.Fprintf(w, "| event loops | server %s, load generator %d |\n", loopsText(o.serverLoops), clientLoops(o))
	fmt.Fprintf(w, "| rounds | %d per scenario, targets interleaved |\n\n", o.rounds)
	fmt.Fprintf(w, "The server and the load generator share the machine's cores, so throughput and latency are bounded by the machine; the per-unit server CPU figures are the ones to compare.\n\n")
	var names []string
	for _, rep := range reports {
		names = append(names, fmt.Sprintf("[%s](#%s)", rep.scen.name, anchor(rep.scen.name+" — "+rep.scen.about)))
	}
	fmt.Fprintf(w, "Scenarios: %s.\n\n", strings.Join(names, ", "))
	for _, rep := range reports {
		rep.write(w)
		fmt.Fprintf(w, "![%s](charts/%s.svg)\n\n", rep.scen.name, rep.scen.name)
	}
}

// anchor returns GitHub's anchor of a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// spread returns the median, minimum and maximum of the target's values
// for key over the rounds.
func (rep *report) spread(target, key string) (med, lo, hi float64, ok bool) {
	med, ok = rep.median(target, key)
	if !ok {
		return 0, 0, 0, false
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rep.results {
		if v, has := r.m[key]; has && r.target == target {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return med, lo, hi, true
}

// chart draws the scenario's chart as SVG: one panel per chart column, one
// bar per target (its median) with a whisker from the lowest to the
// highest round.
func (rep *report) chart() ([]byte, error) {
	var panels []*plot.Plot
	for _, key := range rep.scen.chart {
		col, ok := rep.column(key)
		if !ok {
			return nil, fmt.Errorf("no column %q", key)
		}
		p := plot.New()
		p.Title.Text = col.title
		p.Y.Min = 0
		p.Y.Tick.Marker = plainTicks{}
		var ranges rangeBars
		for i, t := range rep.targets {
			med, lo, hi, ok := rep.spread(t, key)
			if !ok {
				continue
			}
			bar, err := plotter.NewBarChart(plotter.Values{med}, vg.Points(22))
			if err != nil {
				return nil, err
			}
			bar.XMin = float64(i)
			bar.Color = targetColor(t)
			bar.LineStyle.Width = 0
			p.Add(bar)
			ranges.XYs = append(ranges.XYs, plotter.XY{X: float64(i), Y: med})
			ranges.YErrors = append(ranges.YErrors, struct{ Low, High float64 }{med - lo, hi - med})
		}
		if len(ranges.XYs) > 0 && rep.o.rounds > 1 {
			eb, err := plotter.NewYErrorBars(ranges)
			if err != nil {
				return nil, err
			}
			p.Add(eb)
		}
		p.NominalX(rep.targets...)
		p.X.Min, p.X.Max = -0.5, float64(len(rep.targets))-0.5
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return nil, fmt.Errorf("nothing to draw")
	}
	w, h := vg.Length(len(panels))*3.2*vg.Inch, 3*vg.Inch
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 8}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
	for j, p := range panels {
		p.Draw(canvases[0][j])
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// plainTicks are plot.DefaultTicks labelled without trailing zeros or
// exponents: 250000, 12, 0.5.
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label == "" {
			continue
		}
		if math.Abs(t.Value) >= 1000 {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', 0, 64)
		} else {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 4, 64)
		}
	}
	return ticks
}

// rangeBars are whiskers: a point and its distance to each end.
type rangeBars struct {
	plotter.XYs
	plotter.YErrors
}

func (rep *report) column(key string) (column, bool) {
	for _, c := range rep.scen.columns {
		if c.key == key {
			return c, true
		}
	}
	return column{}, false
}

// targetColor: wsloop and its variants in blue, peers in grey.
func targetColor(t string) color.Color {
	if strings.HasPrefix(t, "wsloop") {
		return color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	}
	return color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
}
