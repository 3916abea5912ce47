package simulations

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The report draws its time charts with uPlot (MIT licence, uplot/LICENSE),
// a small chart library with zoom and hover, vendored from its npm release
// and inlined, so the report stays one file with no external assets.
var (
	//go:embed uplot/uPlot.iife.min.js
	uplotJS string
	//go:embed uplot/uPlot.min.css
	uplotCSS string
	//go:embed uplot/LICENSE
	uplotLicense string
	//go:embed report.js
	reportJS string
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// maxIncidentRows bounds the incidents listed per run: those that missed
// the most requests, shown in time order; the JSON has them all.
const maxIncidentRows = 200

// vals are chart values; NaN is written as null, a gap in the line.
type vals []float64

func (v vals) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(v)+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, round6(x), 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// chartSpec is one time chart as report.js draws it: x in Unix seconds,
// series on the left axis (or the right one, Scale "r"), bands filled
// between two series, spans shaded behind.
type chartSpec struct {
	ID     string       `json:"id"`
	Title  string       `json:"title"`
	Y      string       `json:"y"`
	Y2     string       `json:"y2,omitempty"`
	X      []int64      `json:"x"`
	Series []seriesSpec `json:"series"`
	Bands  []bandSpec   `json:"bands,omitempty"`
	Shade  []shadeSpan  `json:"shade,omitempty"`
	// Sync charts zoom together (the run-long ones, not the incidents').
	Sync bool `json:"sync,omitempty"`
}

type seriesSpec struct {
	Label  string `json:"label"`
	Color  string `json:"color"`
	Dash   bool   `json:"dash,omitempty"`
	Scale  string `json:"scale,omitempty"`
	Values vals   `json:"values"`
}

// bandSpec fills between series Hi and Lo (indices into Series).
type bandSpec struct {
	Hi    int    `json:"hi"`
	Lo    int    `json:"lo"`
	Color string `json:"color"`
}

type shadeSpan struct {
	From int64  `json:"from"`
	To   int64  `json:"to"`
	Kind string `json:"kind"` // disruption, minimum, incident
}

// reportData is everything report.js needs.
type reportData struct {
	TimeZone  string      `json:"tz"`
	Charts    []chartSpec `json:"charts"`
	Incidents []chartSpec `json:"incidents"` // drawn when opened
}

// report holds what the HTML is built from.
type report struct {
	c    *Comparison
	loc  *time.Location
	data reportData
	b    strings.Builder
}

func esc(s string) string { return html.EscapeString(s) }

// WriteHTML writes a self-contained HTML report: the summary as tables,
// the winner of each column marked; the fleet over time (worst latency
// against SLO, load, forecast band and capacity, cost, nodes); per class
// load, forecast band, capacity and latency against its SLO; and every
// incident with what the controller decided before it. Time is wall-clock
// time in the policy's time zone, with its disruption windows and
// scheduled minimums shaded; every chart zooms (drag) and shows values on
// hover (uPlot, inlined with its licence).
func WriteHTML(w io.Writer, c *Comparison) error {
	loc, err := time.LoadLocation(c.Calendar.TimeZone)
	if err != nil || c.Calendar.TimeZone == "" {
		loc = time.UTC
	}
	r := &report{c: c, loc: loc, data: reportData{TimeZone: loc.String()}}
	r.head()
	r.summary()
	if len(c.Runs) > 0 {
		r.fleetCharts()
		r.classCharts()
		r.incidents()
	}
	data, err := json.Marshal(r.data)
	if err != nil {
		return fmt.Errorf("report data: %w", err)
	}
	b := &r.b
	// encoding/json escapes <, > and &, so the data cannot end the script.
	b.WriteString(`<script type="application/json" id="report-data">`)
	b.Write(data)
	b.WriteString("</script>\n<script>\n/*! uPlot, vendored from its npm release (simulations/uplot).\n")
	b.WriteString(uplotLicense)
	b.WriteString("*/\n")
	b.WriteString(uplotJS)
	b.WriteString("\n</script>\n<script>\n")
	b.WriteString(reportJS)
	b.WriteString("</script>\n</body></html>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

const reportCSS = `
body{font-family:sans-serif;margin:20px auto;max-width:1360px;padding:0 12px;color:#222}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd}h3{margin:18px 0 4px}
p.meta{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:3px 6px;border-bottom:1px solid #e5e5e5}
th{background:#f4f4f4;text-align:center;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.win{font-weight:bold;background:#e3f3e6}td.win::before{content:"\2605\00a0";color:#1a8a3a}
tr.bound td{color:#666;font-style:italic}
tbody.class{border-top:2px solid #ccc}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:10px 16px}
.chart{min-height:260px}
.legend-shade span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.note{color:#555;font-size:13px;max-width:1100px}
td.what{max-width:520px;font-size:12px}
details{margin:6px 0;border:1px solid #e5e5e5;padding:4px 8px}
details table td{vertical-align:top}
td.why{font-size:12px;color:#444;max-width:800px}
`

func (r *report) head() {
	c, b := r.c, &r.b
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	fmt.Fprintf(b, "<title>headroom simulation: %s</title>\n", esc(c.Workload))
	b.WriteString("<style>" + uplotCSS + reportCSS + "</style>\n</head><body>\n")
	b.WriteString("<h1>headroom simulation</h1>\n")
	fmt.Fprintf(b, "<p class=\"meta\">workload: %s; %s from %s; seed %d; times in %s.</p>\n",
		esc(c.Workload), esc(roundDuration(c.Duration)), esc(c.Start.In(r.loc).Format("Mon 2006-01-02 15:04 MST")), c.Seed, esc(r.loc.String()))
	if c.LowerBound > 0 {
		fmt.Fprintf(b, "<p class=\"note\">Analytic cost floor: $%.2f (no run can cost less); the clairvoyant run is the bound costs are compared to.</p>\n", c.LowerBound)
	}
}

// roundDuration shows a run's duration to the second (58m21s, not
// 58m21.721937s).
func roundDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return d.Round(time.Second).String()
}

// ranked reports whether run i competes for the winner marks: the
// clairvoyant bound is a reference, not a contender.
func ranked(c *Comparison, i int) bool { return c.Runs[i].Controller != "clairvoyant" }

// column is one column of the summary: a cell's text and the number it
// shows per row, and which way is better (+1 higher, -1 lower, 0 not
// ranked).
type column struct {
	head string
	text []string
	v    []float64
	best int
}

// shown is the number a cell shows ("99.98%", "1.35x", "108"), so that
// values that look the same tie; NaN for "-".
func shown(text string) float64 {
	v, err := strconv.ParseFloat(strings.TrimRight(text, "%x"), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// winners marks the rows holding the best value among the ranked rows;
// none when fewer than two rows compete or all of them tie.
func winners(v []float64, best int, rank []bool) []bool {
	win := make([]bool, len(v))
	if best == 0 {
		return win
	}
	var cand []int
	for i := range v {
		if rank[i] && !math.IsNaN(v[i]) {
			cand = append(cand, i)
		}
	}
	if len(cand) < 2 {
		return win
	}
	top := v[cand[0]]
	for _, i := range cand {
		if float64(best)*v[i] > float64(best)*top {
			top = v[i]
		}
	}
	n := 0
	for _, i := range cand {
		if math.Abs(v[i]-top) <= 1e-9*math.Max(1, math.Abs(top)) {
			win[i] = true
			n++
		}
	}
	if n == len(cand) {
		clear(win)
	}
	return win
}

// runSummary is the figures of one run the summary ranks.
type runSummary struct {
	worst5, below, p95, p95w5, timeouts, drops, interrupted float64
}

func summarize(r *Result) runSummary {
	s := runSummary{worst5: 1}
	for _, cl := range r.Classes {
		if cl.SLOMs > 0 {
			s.p95 = math.Max(s.p95, cl.P95Ms/cl.SLOMs)
			s.p95w5 = math.Max(s.p95w5, cl.Worst5mP95Ms/cl.SLOMs)
		}
		s.worst5 = math.Min(s.worst5, cl.Worst5m)
		s.below += cl.MinutesBelow
		s.timeouts += cl.Timeouts
		s.drops += cl.Drops
		s.interrupted += cl.Interrupted
	}
	return s
}

func (r *report) summary() {
	c, b := r.c, &r.b
	n := len(c.Runs)
	rank := make([]bool, n)
	for i := range c.Runs {
		rank[i] = ranked(c, i)
	}
	col := func(head string, best int, f func(r *Result, s runSummary) string) column {
		k := column{head: head, best: best}
		for _, run := range c.Runs {
			t := f(run, summarize(run))
			k.v, k.text = append(k.v, shown(t)), append(k.text, t)
		}
		return k
	}
	num := func(prec int, v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	cols := []column{
		col("within SLO", +1, func(r *Result, _ runSummary) string { return pct(r.Attainment, 3) }),
		col("worst 5 min", +1, func(_ *Result, s runSummary) string { return pct(s.worst5, 2) }),
		col("minutes below", -1, func(_ *Result, s runSummary) string { return num(0, s.below) }),
		col("p95 / SLO", -1, func(_ *Result, s runSummary) string { return num(2, s.p95) }),
		col("worst 5 min p95 / SLO", -1, func(_ *Result, s runSummary) string { return num(2, s.p95w5) }),
		col("timeouts", -1, func(_ *Result, s runSummary) string { return num(0, s.timeouts) }),
		col("drops", -1, func(_ *Result, s runSummary) string { return num(0, s.drops) }),
		col("interrupted", -1, func(_ *Result, s runSummary) string { return num(0, s.interrupted) }),
		col("cost $", -1, func(r *Result, _ runSummary) string { return num(2, r.Cost) }),
		col("$/h", -1, func(r *Result, _ runSummary) string { return num(2, r.CostPerHour) }),
		col("vs bound", -1, func(r *Result, _ runSummary) string {
			if r.CostVsBound <= 0 {
				return "-"
			}
			return num(2, r.CostVsBound) + "x"
		}),
		col("GPU memory used", +1, func(r *Result, _ runSummary) string { return num(0, 100*r.GPUMemoryUtilization) + "%" }),
		col("re-partitions / drains / spot interruptions", 0, func(r *Result, _ runSummary) string {
			return fmt.Sprintf("%d / %d / %d", r.Repartitions, r.Drains, r.SpotInterruptions)
		}),
		col("incidents", -1, func(r *Result, _ runSummary) string { return strconv.Itoa(len(r.Incidents)) }),
	}
	b.WriteString("<h2 id=\"summary\">Summary</h2>\n<table id=\"runs\"><thead><tr><th>run</th><th>policy</th><th>level</th>")
	for _, k := range cols {
		fmt.Fprintf(b, "<th>%s</th>", esc(k.head))
	}
	b.WriteString("</tr></thead><tbody>\n")
	wins := make([][]bool, len(cols))
	for j, k := range cols {
		wins[j] = winners(k.v, k.best, rank)
	}
	for i, run := range c.Runs {
		cls := ""
		if !rank[i] {
			cls = ` class="bound"`
		}
		fmt.Fprintf(b, "<tr%s><td>%s</td><td>%s</td><td>%s</td>", cls, esc(label(c, i)), esc(run.Policy), esc(string(run.Mode)))
		for j, k := range cols {
			b.WriteString(cell(k.text[i], wins[j][i]))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
	b.WriteString(`<p class="note">&#9733; marks the best value of a column among the controllers under test (the clairvoyant bound, in italics, is a reference and not ranked). ` +
		`Within SLO: share of requests within their class's latency target; timeouts, drops and interrupted requests count as misses. ` +
		`Worst 5 min: the lowest share within SLO of any 5-minute window of any class; minutes below: 1-minute windows under the SLO's percentile, summed over classes. ` +
		`p95 / SLO: the worst class's whole-run p95 over its SLO latency, beside the worst 5-minute window's, which a whole-run figure hides. ` +
		`Cost: node-hours x price of every node from launch to termination; vs bound: cost over the clairvoyant bound's.</p>` + "\n")
	for _, run := range c.Runs {
		if run.FirstTickError != "" {
			fmt.Fprintf(b, "<p class=\"note\">%s: %d tick errors, first: %s</p>\n", esc(run.Controller), run.TickErrors, esc(run.FirstTickError))
		}
	}
	if n == 0 {
		return
	}
	r.classTable(rank)
	r.costTable()
}

func pct(v float64, prec int) string { return strconv.FormatFloat(100*v, 'f', prec, 64) + "%" }

func cell(text string, win bool) string {
	if win {
		return `<td class="n win">` + esc(text) + "</td>"
	}
	return `<td class="n">` + esc(text) + "</td>"
}

// classTable: per class, a row per run with the whole-run share within
// SLO and p95 beside the worst 5-minute window's; the winners are marked
// within each class.
func (r *report) classTable(rank []bool) {
	c, b := r.c, &r.b
	b.WriteString("<h2>Per class</h2>\n<table id=\"classes\"><thead><tr><th>class</th><th>SLO ms</th><th>requests</th><th>run</th>" +
		"<th>within SLO</th><th>worst 5 min</th><th>p95 ms</th><th>worst 5 min p95 ms</th><th>minutes below</th></tr></thead>\n")
	type metric struct {
		f    func(ClassResult) float64
		best int
		text func(float64) string
	}
	ms := []metric{
		{func(x ClassResult) float64 { return x.Attainment }, +1, func(v float64) string { return pct(v, 2) }},
		{func(x ClassResult) float64 { return x.Worst5m }, +1, func(v float64) string { return pct(v, 2) }},
		{func(x ClassResult) float64 { return x.P95Ms }, -1, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		{func(x ClassResult) float64 { return x.Worst5mP95Ms }, -1, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		{func(x ClassResult) float64 { return x.MinutesBelow }, -1, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	}
	var idle []string
	for ci, cl := range c.Runs[0].Classes {
		if cl.Requests == 0 {
			idle = append(idle, cl.Class)
			continue
		}
		v := make([][]float64, len(ms))
		wins := make([][]bool, len(ms))
		for k, m := range ms {
			v[k] = make([]float64, len(c.Runs))
			for i, run := range c.Runs {
				v[k][i] = math.NaN()
				if ci < len(run.Classes) {
					v[k][i] = shown(m.text(m.f(run.Classes[ci])))
				}
			}
			wins[k] = winners(v[k], m.best, rank)
		}
		b.WriteString("<tbody class=\"class\">")
		for i := range c.Runs {
			cls := ""
			if !rank[i] {
				cls = ` class="bound"`
			}
			fmt.Fprintf(b, "<tr%s>", cls)
			if i == 0 {
				n := len(c.Runs)
				fmt.Fprintf(b, "<td rowspan=\"%d\">%s</td><td class=\"n\" rowspan=\"%d\">%.0f</td><td class=\"n\" rowspan=\"%d\">%.0f</td>", n, esc(cl.Class), n, cl.SLOMs, n, cl.Requests)
			}
			fmt.Fprintf(b, "<td>%s</td>", esc(label(c, i)))
			for k, m := range ms {
				if math.IsNaN(v[k][i]) {
					b.WriteString(`<td class="n">-</td>`)
					continue
				}
				b.WriteString(cell(m.text(m.f(c.Runs[i].Classes[ci])), wins[k][i]))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</tbody>\n")
	}
	b.WriteString("</table>\n<p class=\"note\">Worst 5 min p95: the highest p95 latency of a 5-minute window.")
	if len(idle) > 0 {
		fmt.Fprintf(b, " No requests: %s.", esc(strings.Join(idle, ", ")))
	}
	b.WriteString("</p>\n")
}

func (r *report) costTable() {
	c, b := r.c, &r.b
	keys, cost := costByNodeGroup(c)
	b.WriteString("<h2>Cost by nodegroup ($)</h2>\n<table id=\"cost\"><thead><tr><th>nodegroup</th><th>capacity</th>")
	for i := range c.Runs {
		fmt.Fprintf(b, "<th>%s</th>", esc(label(c, i)))
	}
	b.WriteString("</tr></thead><tbody>\n")
	for _, k := range keys {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td>", esc(k.ng), esc(k.ct))
		for i := range c.Runs {
			fmt.Fprintf(b, "<td class=\"n\">%.2f</td>", cost[k][i])
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
}

// unix is the wall-clock time of an offset from the run's start.
func (r *report) unix(d time.Duration) int64 { return r.c.Start.Add(d).Unix() }

// xs is the chart time axis: the longest run's timeline.
func (r *report) xs() []int64 {
	var pts []Point
	for _, run := range r.c.Runs {
		if len(run.Timeline.Points) > len(pts) {
			pts = run.Timeline.Points
		}
	}
	x := make([]int64, len(pts))
	for k, p := range pts {
		x[k] = r.unix(p.T)
	}
	return x
}

// shade is the calendar's spans: the disruption windows and the scheduled
// minimums of the class ("" for those of every class).
func (r *report) shade(class string) []shadeSpan {
	var out []shadeSpan
	for _, s := range r.c.Calendar.Disruption {
		out = append(out, shadeSpan{From: r.unix(s.From), To: r.unix(s.To), Kind: "disruption"})
	}
	for _, s := range r.c.Calendar.Minimums {
		if class == "" || s.Class == class {
			out = append(out, shadeSpan{From: r.unix(s.From), To: r.unix(s.To), Kind: "minimum"})
		}
	}
	return out
}

// series builds one value per point of run, NaN past its end.
func series(run *Result, n int, f func(p *Point) float64) vals {
	v := make(vals, n)
	for k := range v {
		v[k] = math.NaN()
		if k < len(run.Timeline.Points) {
			v[k] = f(&run.Timeline.Points[k])
		}
	}
	return v
}

// band sums the forecast band over the busy classes (ci < 0) or takes one;
// NaN where the controller had none.
func band(p *Point, ci int, busy []int, hi bool) float64 {
	b := p.BandLo
	if hi {
		b = p.BandHi
	}
	if len(b) == 0 {
		return math.NaN()
	}
	if ci >= 0 {
		if b[ci] < 0 {
			return math.NaN()
		}
		return b[ci]
	}
	s := 0.0
	for _, k := range busy {
		s += math.Max(b[k], 0)
	}
	return s
}

// busy is the classes with requests: the fleet totals leave out the
// capacity of idle classes, which would hide the load.
func (r *report) busy() []int {
	var out []int
	for ci, cl := range r.c.Runs[0].Classes {
		if cl.Requests > 0 {
			out = append(out, ci)
		}
	}
	return out
}

const bandAlpha = "33" // hex alpha of a band's fill

// loadChart is load, each run's capacity and each forecasting run's band,
// for one class (ci) or all (ci < 0).
func (r *report) loadChart(id, title string, ci int, shade []shadeSpan) chartSpec {
	c := r.c
	x := r.xs()
	busy := r.busy()
	pick := func(xs []float64) float64 {
		if ci >= 0 {
			return xs[ci]
		}
		s := 0.0
		for _, k := range busy {
			s += xs[k]
		}
		return s
	}
	ch := chartSpec{ID: id, Title: title, Y: "req/s", X: x, Shade: shade, Sync: true}
	ch.Series = append(ch.Series, seriesSpec{Label: "load", Color: "#000000", Values: series(c.Runs[0], len(x), func(p *Point) float64 { return pick(p.Rate) })})
	for i, run := range c.Runs {
		col := palette[i%len(palette)]
		ch.Series = append(ch.Series, seriesSpec{Label: label(c, i) + " capacity", Color: col,
			Values: series(run, len(x), func(p *Point) float64 { return pick(p.Capacity) })})
		if len(run.Timeline.Points) == 0 || len(run.Timeline.Points[0].BandHi) == 0 {
			continue
		}
		hi := len(ch.Series)
		ch.Series = append(ch.Series,
			seriesSpec{Label: label(c, i) + " forecast upper", Color: col, Dash: true, Values: series(run, len(x), func(p *Point) float64 { return band(p, ci, busy, true) })},
			seriesSpec{Label: label(c, i) + " forecast", Color: col, Dash: true, Values: series(run, len(x), func(p *Point) float64 { return band(p, ci, busy, false) })})
		ch.Bands = append(ch.Bands, bandSpec{Hi: hi, Lo: hi + 1, Color: col + bandAlpha})
	}
	return ch
}

func (r *report) fleetCharts() {
	c, b := r.c, &r.b
	x := r.xs()
	all := r.shade("")
	lat := chartSpec{ID: "fleet-latency", Title: "worst class p95 / SLO latency", Y: "p95 / SLO", X: x, Shade: all, Sync: true}
	cost := chartSpec{ID: "fleet-cost", Title: "cumulative cost ($)", Y: "$", X: x, Shade: all, Sync: true}
	for i, run := range c.Runs {
		col := palette[i%len(palette)]
		lat.Series = append(lat.Series, seriesSpec{Label: label(c, i), Color: col, Values: series(run, len(x), func(p *Point) float64 {
			worst := math.NaN()
			for ci, v := range p.P95 {
				if slo := run.Classes[ci].SLOMs; slo > 0 && p.Rate[ci] > 0 {
					worst = math.Max(nanTo(worst, 0), v/slo)
				}
			}
			return worst
		})})
		cost.Series = append(cost.Series, seriesSpec{Label: label(c, i), Color: col, Values: series(run, len(x), func(p *Point) float64 { return p.Cost })})
	}
	lat.Series = append(lat.Series, seriesSpec{Label: "SLO", Color: "#000000", Dash: true, Values: constant(len(x), 1)})
	charts := []chartSpec{lat, r.loadChart("fleet-load", "load, forecast band and capacity, classes with requests (req/s)", -1, all), cost}
	for i, run := range c.Runs {
		ns := chartSpec{ID: fmt.Sprintf("fleet-nodes-%d", i), Title: label(c, i) + ": GPU nodes by nodegroup (booting or ready)", Y: "nodes", X: x, Shade: all, Sync: true}
		for g, name := range run.Timeline.NodeGroups {
			ns.Series = append(ns.Series, seriesSpec{Label: name, Color: palette[g%len(palette)], Values: series(run, len(x), func(p *Point) float64 {
				if g < len(p.Nodes) {
					return float64(p.Nodes[g])
				}
				return math.NaN()
			})})
		}
		charts = append(charts, ns)
	}
	b.WriteString("<h2 id=\"fleet\">Fleet over time</h2>\n")
	r.shadeLegend()
	r.chartGrid(charts)
}

func (r *report) shadeLegend() {
	b := &r.b
	b.WriteString(`<p class="note legend-shade">Drag to zoom (all charts follow), double-click to reset; hover for values.`)
	switch cal := r.c.Calendar; {
	case cal.AnyTime:
		b.WriteString(` The policy allows disruption at any time (no windows).`)
	case len(cal.Disruption) == 0:
		b.WriteString(` No disruption window of the policy was open during the run.`)
	default:
		b.WriteString(`<span style="background:rgba(70,130,220,0.18)"></span>disruption window (consolidation and MIG re-partitioning allowed)`)
	}
	if len(r.c.Calendar.Minimums) > 0 {
		b.WriteString(`<span style="background:rgba(240,170,30,0.22)"></span>scheduled minimum in force`)
	}
	b.WriteString("</p>\n")
}

func (r *report) chartGrid(charts []chartSpec) {
	b := &r.b
	b.WriteString("<div class=\"charts\">\n")
	for _, ch := range charts {
		fmt.Fprintf(b, "<div class=\"chart\" id=\"%s\"></div>\n", esc(ch.ID))
	}
	b.WriteString("</div>\n")
	r.data.Charts = append(r.data.Charts, charts...)
}

func constant(n int, v float64) vals {
	out := make(vals, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func nanTo(v, d float64) float64 {
	if math.IsNaN(v) {
		return d
	}
	return v
}

// classCharts: per class with requests, load/band/capacity beside p95
// against its SLO.
func (r *report) classCharts() {
	c, b := r.c, &r.b
	x := r.xs()
	b.WriteString("<h2 id=\"classes-over-time\">Per class over time</h2>\n")
	var idle []string
	for ci, cl := range c.Runs[0].Classes {
		if cl.Requests == 0 {
			idle = append(idle, cl.Class)
			continue
		}
		fmt.Fprintf(b, "<h3>%s (SLO %.0f ms)</h3>\n", esc(cl.Class), cl.SLOMs)
		sh := r.shade(cl.Class)
		lat := chartSpec{ID: fmt.Sprintf("class-%d-latency", ci), Title: cl.Class + ": p95 latency against the SLO (ms)", Y: "ms", X: x, Shade: sh, Sync: true}
		for i, run := range c.Runs {
			lat.Series = append(lat.Series, seriesSpec{Label: label(c, i), Color: palette[i%len(palette)], Values: series(run, len(x), func(p *Point) float64 {
				if p.Rate[ci] <= 0 {
					return math.NaN()
				}
				return p.P95[ci]
			})})
		}
		lat.Series = append(lat.Series, seriesSpec{Label: "SLO", Color: "#000000", Dash: true, Values: constant(len(x), cl.SLOMs)})
		r.chartGrid([]chartSpec{r.loadChart(fmt.Sprintf("class-%d-load", ci), cl.Class+": load, forecast band and capacity (req/s)", ci, sh), lat})
	}
	if len(idle) > 0 {
		fmt.Fprintf(b, "<p class=\"note\">No requests: %s.</p>\n", esc(strings.Join(idle, ", ")))
	}
}

// incidents lists, per run, every time a class fell below its SLO, with
// what the controller decided before it.
func (r *report) incidents() {
	c, b := r.c, &r.b
	b.WriteString("<h2 id=\"incidents\">Incidents</h2>\n")
	fmt.Fprintf(b, "<p class=\"note\">An incident is a run of 1-minute windows in which a class's share within SLO was under its SLO percentile, merged when less than %v apart. "+
		"Its chart has every scrape from %v before to %v after; its decisions are the controller's log from %v before the start (the class's decision where it changed, and every action on the class, nodegroups and nodes).</p>\n",
		incidentGap, incidentContext, incidentGap, decisionLookback)
	for i, run := range c.Runs {
		fmt.Fprintf(b, "<h3>%s: %d incidents</h3>\n", esc(label(c, i)), len(run.Incidents))
		if len(run.Incidents) == 0 {
			continue
		}
		shown := run.Incidents
		if len(shown) > maxIncidentRows {
			shown = append([]Incident(nil), shown...)
			sort.SliceStable(shown, func(a, b int) bool { return shown[a].Missed() > shown[b].Missed() })
			shown = shown[:maxIncidentRows]
			sort.SliceStable(shown, func(a, b int) bool { return shown[a].Start < shown[b].Start })
			fmt.Fprintf(b, "<p class=\"note\">The %d that missed the most requests; -o json has all %d.</p>\n", maxIncidentRows, len(run.Incidents))
		}
		fmt.Fprintf(b, "<table class=\"incidents\" id=\"incidents-%d\"><thead><tr><th>class</th><th>from</th><th>to</th><th>minutes below</th><th>within SLO</th><th>missed</th><th>what the controller did just before</th></tr></thead><tbody>\n", i)
		for k, in := range shown {
			id := fmt.Sprintf("inc-%d-%d", i, k)
			fmt.Fprintf(b, "<tr><td><a href=\"#%s\">%s</a></td><td>%s</td><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"n\">%.0f</td><td class=\"what\">%s</td></tr>\n",
				id, esc(in.Class), esc(r.clock(in.Start, true)), esc(r.clock(in.End, false)), in.MinutesBelow, pct(in.Attainment, 2), in.Missed(), justBefore(in))
		}
		b.WriteString("</tbody></table>\n")
		for k, in := range shown {
			r.incidentDetail(i, k, in)
		}
	}
}

// justBefore is the decision in force at the incident's start and the
// actions of the lookback before it, in short.
func justBefore(in Incident) string {
	var inForce *LoggedDecision
	var acts []string
	for j := range in.Decisions {
		d := &in.Decisions[j]
		if d.At > in.Start {
			break
		}
		if d.Kind == "class" {
			inForce = d
		} else if d.Kind != "not-done" {
			acts = append(acts, d.What+" ("+d.Status+")")
		}
	}
	if in.Decisions == nil {
		return "no decision log (this controller keeps none)"
	}
	var parts []string
	if inForce != nil {
		parts = append(parts, esc(inForce.What))
	}
	switch {
	case len(acts) == 0:
		parts = append(parts, fmt.Sprintf("no actions in the %v before", decisionLookback))
	case len(acts) > 3:
		parts = append(parts, esc(strings.Join(acts[len(acts)-3:], "; "))+fmt.Sprintf(" and %d earlier", len(acts)-3))
	default:
		parts = append(parts, esc(strings.Join(acts, "; ")))
	}
	return strings.Join(parts, "<br>")
}

func (r *report) clock(d time.Duration, date bool) string {
	t := r.c.Start.Add(d).In(r.loc)
	if date {
		return t.Format("Mon 01-02 15:04")
	}
	return t.Format("15:04")
}

func (r *report) incidentDetail(run, k int, in Incident) {
	b := &r.b
	id := fmt.Sprintf("inc-%d-%d", run, k)
	fmt.Fprintf(b, "<details id=\"%s\"><summary>%s %s, %s to %s: %s within SLO, %.0f of %.0f requests missed</summary>\n",
		id, esc(label(r.c, run)), esc(in.Class), esc(r.clock(in.Start, true)), esc(r.clock(in.End, false)), pct(in.Attainment, 2), in.Missed(), in.Requests)
	if len(in.Points) > 0 {
		slo := 0.0
		for _, cl := range r.c.Runs[run].Classes {
			if cl.Class == in.Class {
				slo = cl.SLOMs
			}
		}
		x := make([]int64, len(in.Points))
		rate, capa, p95, att := make(vals, len(x)), make(vals, len(x)), make(vals, len(x)), make(vals, len(x))
		for j, p := range in.Points {
			x[j] = r.unix(p.T)
			rate[j], capa[j], p95[j], att[j] = p.Rate, p.Capacity, p.P95, p.Attainment
			if p.Rate == 0 {
				p95[j] = math.NaN()
			}
		}
		ch := chartSpec{ID: id + "-chart", Title: in.Class + " at every scrape", Y: "req/s", Y2: "ms", X: x,
			Shade: append(r.shade(in.Class), shadeSpan{From: r.unix(in.Start), To: r.unix(in.End), Kind: "incident"}),
			Series: []seriesSpec{
				{Label: "load", Color: "#000000", Values: rate},
				{Label: "capacity", Color: palette[2], Values: capa},
				{Label: "p95 ms", Color: palette[1], Scale: "r", Values: p95},
				{Label: "SLO ms", Color: palette[1], Dash: true, Scale: "r", Values: constant(len(x), slo)},
			}}
		fmt.Fprintf(b, "<div class=\"chart incident-chart\" id=\"%s\" data-incident=\"%d\"></div>\n", esc(ch.ID), len(r.data.Incidents))
		r.data.Incidents = append(r.data.Incidents, ch)
	} else if in.PointsDropped {
		b.WriteString("<p class=\"note\">Its points were dropped: the run kept those of the incidents that missed more requests.</p>\n")
	}
	switch {
	case in.Decisions == nil:
		b.WriteString("<p class=\"note\">This controller keeps no decision log.</p>\n")
	default:
		b.WriteString("<table class=\"decisions\"><thead><tr><th>at</th><th>kind</th><th>status</th><th>what</th><th>why</th></tr></thead><tbody>\n")
		for _, d := range in.Decisions {
			t := r.c.Start.Add(d.At).In(r.loc).Format("15:04:05")
			fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"why\">%s</td></tr>\n", t, esc(d.Kind), esc(d.Status), esc(d.What), esc(d.Why))
		}
		b.WriteString("</tbody></table>\n")
	}
	b.WriteString("</details>\n")
}
