package simulations

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// label names run i: its controller, and its policy when another run has
// the same controller (headroom with two policies).
func label(c *Comparison, i int) string {
	r := c.Runs[i]
	for j, o := range c.Runs {
		if j != i && o.Controller == r.Controller {
			return r.Controller + "/" + r.Policy
		}
	}
	return r.Controller
}

// WriteTable prints the comparison as terminal tables: one row per run,
// then attainment per class side by side.
func WriteTable(w io.Writer, c *Comparison) error {
	fmt.Fprintf(w, "workload: %s, %s from %s, seed %d\n", c.Workload, c.Duration, c.Start.UTC().Format("2006-01-02 15:04"), c.Seed)
	if c.LowerBound > 0 {
		fmt.Fprintf(w, "analytic cost floor: $%.2f (no run can cost less; the clairvoyant run is the bound runs are compared to)\n", c.LowerBound)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tpolicy\tmode\twithin SLO\tworst 5m\tmin below\tworst p95/SLO\ttimeouts\tdrops\tinterrupted\tcost $\t$/h\tvs bound\tGPU mem\trepart\tdrains\tspot int\t")
	for i, r := range c.Runs {
		worst, worst5, below := 0.0, 1.0, 0.0
		var to, dr, in float64
		for _, cl := range r.Classes {
			if cl.SLOMs > 0 {
				worst = math.Max(worst, cl.P95Ms/cl.SLOMs)
			}
			worst5, below = math.Min(worst5, cl.Worst5m), below+cl.MinutesBelow
			to += cl.Timeouts
			dr += cl.Drops
			in += cl.Interrupted
		}
		vs := "-"
		if r.CostVsBound > 0 {
			vs = fmt.Sprintf("%.2fx", r.CostVsBound)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f%%\t%.2f%%\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%s\t%.0f%%\t%d\t%d\t%d\t\n",
			label(c, i), r.Policy, r.Mode, 100*r.Attainment, 100*worst5, below, worst, to, dr, in, r.Cost, r.CostPerHour, vs,
			100*r.GPUMemoryUtilization, r.Repartitions, r.Drains, r.SpotInterruptions)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.Runs) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nwithin SLO per class (p95 ms; worst 5-minute window):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "class\tSLO ms\trequests\t"
	for i := range c.Runs {
		hdr += label(c, i) + "\t"
	}
	fmt.Fprintln(tw, hdr)
	for i, cl := range c.Runs[0].Classes {
		row := fmt.Sprintf("%s\t%.0f\t%.0f\t", cl.Class, cl.SLOMs, cl.Requests)
		for _, r := range c.Runs {
			if i < len(r.Classes) {
				rc := r.Classes[i]
				row += fmt.Sprintf("%.2f%% (%.0f; %.1f%%)\t", 100*rc.Attainment, rc.P95Ms, 100*rc.Worst5m)
			}
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// cost by nodegroup and capacity type, runs side by side
	type key struct{ ng, ct string }
	var keys []key
	cost := map[key]map[int]float64{}
	for i, r := range c.Runs {
		for _, l := range r.CostBy {
			k := key{l.NodeGroup, l.CapacityType}
			if cost[k] == nil {
				cost[k] = map[int]float64{}
				keys = append(keys, k)
			}
			cost[k][i] = l.Cost
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].ng != keys[b].ng {
			return keys[a].ng < keys[b].ng
		}
		return keys[a].ct < keys[b].ct
	})
	fmt.Fprintln(w, "\ncost by nodegroup ($):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr = "nodegroup\tcapacity\t"
	for i := range c.Runs {
		hdr += label(c, i) + "\t"
	}
	fmt.Fprintln(tw, hdr)
	for _, k := range keys {
		row := k.ng + "\t" + k.ct + "\t"
		for i := range c.Runs {
			row += fmt.Sprintf("%.2f\t", cost[k][i])
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range c.Runs {
		if r.FirstTickError != "" {
			fmt.Fprintf(w, "\n%s: %d tick errors, first: %s\n", r.Controller, r.TickErrors, r.FirstTickError)
		}
	}
	return nil
}

// WriteFileAtomic writes a file through a temporary file in the same
// directory and a rename, so a reader never sees half a report.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

type series struct {
	name   string
	color  string
	ys     []float64
	dashed bool
}

// lineChart renders an inline SVG line chart; x is hours from the start.
func lineChart(title, ylabel string, xs []float64, ss []series, hline float64) string {
	const W, H, L, R, T, B = 760.0, 240.0, 60.0, 170.0, 28.0, 32.0
	ymax := 0.0
	for _, s := range ss {
		for _, y := range s.ys {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = math.Max(ymax, y)
			}
		}
	}
	ymax = math.Max(ymax, hline) * 1.08
	if ymax <= 0 {
		ymax = 1
	}
	xmax := 0.0
	if len(xs) > 0 {
		xmax = xs[len(xs)-1]
	}
	if xmax <= 0 {
		xmax = 1
	}
	px := func(x float64) float64 { return L + x/xmax*(W-L-R) }
	py := func(y float64) float64 { return T + (1-y/ymax)*(H-T-B) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, W, H, W, H)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="13" font-weight="bold">%s</text>`, L, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, L, T, W-L-R, H-T-B)
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, L-4, py(y)+4, fmtNum(y))
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, L, W-R, py(y), py(y))
		x := xmax * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%sh</text>`, px(x), H-B+14, fmtNum(x))
	}
	fmt.Fprintf(&b, `<text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`, (H)/2, (H)/2, html.EscapeString(ylabel))
	if hline > 0 {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="4 3"/>`, L, W-R, py(hline), py(hline))
	}
	for i, s := range ss {
		var pts strings.Builder
		for k, y := range s.ys {
			if k >= len(xs) || math.IsNaN(y) || y < 0 {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(xs[k]), py(math.Min(y, ymax)))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`, s.color, dash, pts.String())
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`,
			W-R+8, W-R+24, T+10+float64(i)*14, T+10+float64(i)*14, s.color, dash, W-R+28, T+14+float64(i)*14, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteHTML writes a self-contained HTML report (inline CSS and SVG, no
// external assets): the summary table and, per run, load, forecast band
// and capacity; latency against SLO; cost; nodes by nodegroup.
func WriteHTML(w io.Writer, c *Comparison) error {
	var tbl strings.Builder
	if err := WriteTable(&tbl, c); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>headroom simulation</title>\n")
	b.WriteString("<style>body{font-family:sans-serif;margin:24px;max-width:1000px}pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}h2{margin-top:32px}</style></head><body>\n")
	b.WriteString("<h1>headroom simulation</h1>\n<pre>" + html.EscapeString(tbl.String()) + "</pre>\n")
	b.WriteString("<p>Within SLO: share of requests within their class's latency target (timeouts, drops and interrupted requests count as misses). Cost: node-hours x price of every node from launch to termination. vs bound: cost over the clairvoyant bound's.</p>\n")
	if len(c.Runs) == 0 {
		b.WriteString("</body></html>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	// Shared charts: worst latency against SLO and cumulative cost, one line per run.
	var lat, cost []series
	var xs []float64
	for i, r := range c.Runs {
		col := palette[i%len(palette)]
		tl := r.Timeline
		xr := make([]float64, len(tl.Points))
		l := make([]float64, len(tl.Points))
		cs := make([]float64, len(tl.Points))
		for k, p := range tl.Points {
			xr[k] = p.T.Hours()
			for ci, v := range p.P95 {
				if slo := r.Classes[ci].SLOMs; slo > 0 && p.Rate[ci] > 0 {
					l[k] = math.Max(l[k], v/slo)
				}
			}
			cs[k] = p.Cost
		}
		if len(xr) > len(xs) {
			xs = xr
		}
		lat = append(lat, series{name: label(c, i), color: col, ys: l})
		cost = append(cost, series{name: label(c, i), color: col, ys: cs})
	}
	b.WriteString("<h2>Latency against SLO</h2>\n")
	b.WriteString(lineChart("worst class p95 / SLO latency (dashed: the SLO)", "p95/SLO", xs, lat, 1) + "\n")
	b.WriteString("<h2>Cost</h2>\n")
	b.WriteString(lineChart("cumulative cost ($)", "$", xs, cost, 0) + "\n")
	for ri, r := range c.Runs {
		tl := r.Timeline
		xr := make([]float64, len(tl.Points))
		rate := make([]float64, len(tl.Points))
		capa := make([]float64, len(tl.Points))
		var bandLo, bandHi []float64
		nodes := make([][]float64, len(tl.NodeGroups))
		for g := range nodes {
			nodes[g] = make([]float64, len(tl.Points))
		}
		for k, p := range tl.Points {
			xr[k] = p.T.Hours()
			for ci := range p.Rate {
				rate[k] += p.Rate[ci]
				capa[k] += p.Capacity[ci]
			}
			if len(p.BandHi) > 0 {
				lo, hi := 0.0, 0.0
				for ci := range p.BandHi {
					lo += math.Max(p.BandLo[ci], 0)
					hi += math.Max(p.BandHi[ci], 0)
				}
				bandLo = append(bandLo, lo)
				bandHi = append(bandHi, hi)
			}
			for g, n := range p.Nodes {
				nodes[g][k] = float64(n)
			}
		}
		fmt.Fprintf(&b, "<h2>%s (policy %s)</h2>\n", html.EscapeString(label(c, ri)), html.EscapeString(r.Policy))
		ss := []series{{name: "load", color: palette[0], ys: rate}, {name: "capacity", color: palette[2], ys: capa}}
		if len(bandHi) > 0 {
			ss = append(ss, series{name: "forecast", color: palette[3], ys: bandLo, dashed: true}, series{name: "forecast upper", color: palette[1], ys: bandHi, dashed: true})
		}
		b.WriteString(lineChart("load, forecast band and capacity, all classes (req/s)", "req/s", xr, ss, 0) + "\n")
		var ns []series
		for g, name := range tl.NodeGroups {
			ns = append(ns, series{name: name, color: palette[g%len(palette)], ys: nodes[g]})
		}
		b.WriteString(lineChart("nodes by nodegroup", "nodes", xr, ns, 0) + "\n")
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
