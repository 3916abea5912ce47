package simulations

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/headroom-dev/headroom/policies"
)

// Side names one policy of a what-if: the Git revision it was read at.
type Side struct {
	Ref    string `json:"ref"`              // as given, e.g. origin/main
	Commit string `json:"commit,omitempty"` // the commit it resolved to
	// Dirty is set when the side is the work tree with uncommitted
	// changes on top of Commit.
	Dirty bool `json:"dirty,omitempty"`
}

// String is "origin/main (1a2b3c4)", with "+ uncommitted changes" for a
// dirty work tree.
func (s Side) String() string {
	out := s.Ref
	if c := s.Commit; c != "" {
		out += " (" + c[:min(len(c), 7)] + ")"
	}
	if s.Dirty {
		out += " + uncommitted changes"
	}
	return out
}

// WhatIf is the difference a policy change makes on one trace: head and
// base run by headroom's controller, the baselines and the bound on
// head's policy, all with the same seed (common random numbers).
type WhatIf struct {
	Base     Side      `json:"base"`
	Head     Side      `json:"head"`
	Workload string    `json:"workload"`
	Start    time.Time `json:"start"`
	Duration string    `json:"duration"`
	Seed     uint64    `json:"seed"`
	// Changes is the semantic policy diff, base -> head.
	Changes []policies.Change `json:"policyChanges"`
	// HeadRun and BaseRun summarize headroom's runs; Others are the
	// baselines and the bound, in comparison order.
	HeadRun RunFigures   `json:"headRun"`
	BaseRun RunFigures   `json:"baseRun"`
	Others  []RunFigures `json:"others"`
	Classes []ClassDiff  `json:"classes"`
	// CostBy is the cost per hour of each nodegroup and capacity type on
	// base and head.
	CostBy []CostDiff `json:"costBy"`
	// Broken are the classes that met their SLO target on base and miss
	// it on head: a non-empty list fails the check.
	Broken  []string `json:"broken"`
	Pass    bool     `json:"pass"`
	Verdict string   `json:"verdict"`
}

// RunFigures are one run's whole-run figures.
type RunFigures struct {
	Run         string  `json:"run"` // head, base, or the controller's name
	Controller  string  `json:"controller"`
	Attainment  float64 `json:"attainment"`
	Worst5m     float64 `json:"worst5m"` // over classes
	CostPerHour float64 `json:"costPerHour"`
	CostPerWeek float64 `json:"costPerWeek"`
	CostVsBound float64 `json:"costVsBound,omitempty"`
	TickErrors  int     `json:"tickErrors"`
	WallSeconds float64 `json:"wallSeconds"`
}

// ClassDiff is one class on base and on head.
type ClassDiff struct {
	Class  string      `json:"class"`
	SLOMs  float64     `json:"sloMs"`
	Target float64     `json:"target"`
	Base   ClassResult `json:"base"`
	Head   ClassResult `json:"head"`
	// Broken: base met the target, head does not; Fixed: the reverse.
	Broken bool `json:"broken,omitempty"`
	Fixed  bool `json:"fixed,omitempty"`
}

// CostDiff is one nodegroup and capacity type's $/h on base and head.
type CostDiff struct {
	NodeGroup    string  `json:"nodeGroup"`
	CapacityType string  `json:"capacityType"`
	Base         float64 `json:"basePerHour"`
	Head         float64 `json:"headPerHour"`
}

// costBy pairs the runs' cost lines (over hours) by nodegroup and
// capacity type, in base's order, then head's new ones.
func costBy(b, h *Result, hours float64) []CostDiff {
	var out []CostDiff
	idx := map[[2]string]int{}
	for _, l := range b.CostBy {
		idx[[2]string{l.NodeGroup, l.CapacityType}] = len(out)
		out = append(out, CostDiff{NodeGroup: l.NodeGroup, CapacityType: l.CapacityType, Base: round6(l.Cost / hours)})
	}
	for _, l := range h.CostBy {
		k := [2]string{l.NodeGroup, l.CapacityType}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			out = append(out, CostDiff{NodeGroup: l.NodeGroup, CapacityType: l.CapacityType})
		}
		out[i].Head = round6(l.Cost / hours)
	}
	return out
}

// NewWhatIf reads a comparison whose first run is head's and second
// base's (the baselines and the bound after them) into the difference.
func NewWhatIf(cmp *Comparison, base, head Side, changes []policies.Change) (*WhatIf, error) {
	if len(cmp.Runs) < 2 {
		return nil, fmt.Errorf("what-if: want head's and base's runs, have %d", len(cmp.Runs))
	}
	h, b := cmp.Runs[0], cmp.Runs[1]
	if len(h.Classes) != len(b.Classes) {
		return nil, fmt.Errorf("what-if: head has %d classes and base %d", len(h.Classes), len(b.Classes))
	}
	if changes == nil {
		changes = []policies.Change{}
	}
	dur := cmp.Duration
	if d, err := time.ParseDuration(dur); err == nil {
		dur = d.Round(time.Second).String()
	}
	wi := &WhatIf{Base: base, Head: head, Workload: cmp.Workload, Start: cmp.Start, Duration: dur, Seed: cmp.Seed,
		Changes: changes, HeadRun: figuresOf("head", h), BaseRun: figuresOf("base", b), Broken: []string{}}
	for _, r := range cmp.Runs[2:] {
		wi.Others = append(wi.Others, figuresOf(r.Controller, r))
	}
	for i, hc := range h.Classes {
		bc := b.Classes[i]
		if bc.Class != hc.Class {
			return nil, fmt.Errorf("what-if: class %d is %q on head and %q on base", i, hc.Class, bc.Class)
		}
		d := ClassDiff{Class: hc.Class, SLOMs: hc.SLOMs, Target: hc.Target, Base: bc, Head: hc}
		// Base's target is the bar: a head that raises its own target
		// and misses it still fails, one that lowers it is judged on
		// what base promised.
		bt := bc
		ht := hc
		ht.Target = max(hc.Target, bc.Target)
		d.Broken = bt.MetSLO() && !ht.MetSLO()
		d.Fixed = !bt.MetSLO() && ht.MetSLO()
		if d.Broken {
			wi.Broken = append(wi.Broken, hc.Class)
		}
		wi.Classes = append(wi.Classes, d)
	}
	if d, err := time.ParseDuration(cmp.Duration); err == nil && d > 0 {
		wi.CostBy = costBy(b, h, d.Hours())
	}
	wi.Pass = len(wi.Broken) == 0
	wi.Verdict = wi.verdict()
	return wi, nil
}

func figuresOf(name string, r *Result) RunFigures {
	s := RunFigures{Run: name, Controller: r.Controller, Attainment: r.Attainment, Worst5m: 1, CostPerHour: r.CostPerHour,
		CostPerWeek: r.CostPerHour * 168, CostVsBound: r.CostVsBound, TickErrors: r.TickErrors, WallSeconds: r.WallSeconds}
	for _, c := range r.Classes {
		s.Worst5m = min(s.Worst5m, c.Worst5m)
	}
	return s
}

func (wi *WhatIf) verdict() string {
	b, h := wi.BaseRun, wi.HeadRun
	cost := fmt.Sprintf("cost %s/h (%s/week, %s)", signedUSD(h.CostPerHour-b.CostPerHour), signedUSD(h.CostPerWeek-b.CostPerWeek), pctChange(b.CostPerHour, h.CostPerHour))
	if !wi.Pass {
		var parts []string
		for _, d := range wi.Classes {
			if d.Broken {
				parts = append(parts, fmt.Sprintf("%s %s within %g ms (target %s, base %s)", d.Class, pct3(d.Head.Attainment), d.SLOMs, target(max(d.Target, d.Base.Target)), pct3(d.Base.Attainment)))
			}
		}
		return fmt.Sprintf("FAIL: head breaks the SLO of %d class(es) that base met: %s; %s", len(parts), strings.Join(parts, "; "), cost)
	}
	missed := 0
	for _, d := range wi.Classes {
		if !d.Head.MetSLO() {
			missed++
		}
	}
	note := "every class meets its SLO target on head"
	if missed > 0 {
		note = fmt.Sprintf("no class that met its SLO on base misses it on head (%d miss on both)", missed)
	}
	return fmt.Sprintf("PASS: %s; %s", note, cost)
}

func signedUSD(v float64) string {
	v = math.Round(v*100) / 100 // cents: no "-$0.00" from float noise
	s := "+"
	if v < 0 {
		s, v = "-", -v
	}
	return s + "$" + commas(v)
}

// commas formats v with two decimals and thousands separators.
func commas(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	intPart, frac := s[:len(s)-3], s[len(s)-3:]
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String() + frac
}

func pctChange(old, cur float64) string {
	if old == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*(cur-old)/old)
}

func pct3(v float64) string { return fmt.Sprintf("%.3f%%", 100*v) }

func target(v float64) string { return fmt.Sprintf("%g%%", round6(100*v)) }

func pts(old, cur float64) string { return fmt.Sprintf("%+.3f pt", 100*(cur-old)) }

func status(d ClassDiff) string {
	switch {
	case d.Broken:
		return "broken"
	case d.Fixed:
		return "fixed"
	case !d.Head.MetSLO():
		return "missed (both)"
	}
	return "ok"
}

// WriteText writes the what-if for a terminal.
func (wi *WhatIf) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\n", wi.Verdict)
	fmt.Fprintf(w, "base %s -> head %s\nworkload: %s, %s from %s, seed %d\n\n", wi.Base, wi.Head, wi.Workload, wi.Duration, wi.Start.UTC().Format("2006-01-02 15:04"), wi.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tbase\thead\tchange\t")
	for _, row := range wi.totals() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", row[0], row[1], row[2], row[3])
	}
	tw.Flush()
	fmt.Fprintln(w, "\nper class (within SLO; worst 5 minutes; mean/max ready replicas):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tSLO ms\ttarget\tbase\thead\tbase worst 5m\thead worst 5m\treplicas base\treplicas head\t\t")
	for _, d := range wi.Classes {
		fmt.Fprintf(tw, "%s\t%g\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", d.Class, d.SLOMs, target(d.Target), pct3(d.Base.Attainment), pct3(d.Head.Attainment),
			pct3(d.Base.Worst5m), pct3(d.Head.Worst5m), replicas(d.Base), replicas(d.Head), status(d))
	}
	tw.Flush()
	if len(wi.CostBy) > 0 {
		fmt.Fprintln(w, "\ncost by nodegroup ($/h):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "nodegroup\tcapacity\tbase\thead\tchange\t")
		for _, c := range wi.CostBy {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.NodeGroup, c.CapacityType, commas(c.Base), commas(c.Head), signedUSD(c.Head-c.Base))
		}
		tw.Flush()
	}
	if len(wi.Others) > 0 {
		fmt.Fprintln(w, "\nbaselines on head's policy:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "run\twithin SLO\tworst 5m\t$/h\t$/week\tvs bound\twall s\t")
		for _, r := range append([]RunFigures{wi.HeadRun, wi.BaseRun}, wi.Others...) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t\n", r.Run, pct3(r.Attainment), pct3(r.Worst5m), "$"+commas(r.CostPerHour), "$"+commas(r.CostPerWeek), vsBound(r), r.WallSeconds)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\npolicy changes (headroom policy diff):")
	if len(wi.Changes) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, c := range wi.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	return nil
}

func replicas(c ClassResult) string { return fmt.Sprintf("%.1f/%d", c.MeanReplicas, c.MaxReplicas) }

func vsBound(r RunFigures) string {
	if r.CostVsBound == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r.CostVsBound)
}

// totals are the whole-run rows: name, base, head, change.
func (wi *WhatIf) totals() [][4]string {
	b, h := wi.BaseRun, wi.HeadRun
	rows := [][4]string{
		{"within SLO (all requests)", pct3(b.Attainment), pct3(h.Attainment), pts(b.Attainment, h.Attainment)},
		{"worst 5-minute window (any class)", pct3(b.Worst5m), pct3(h.Worst5m), pts(b.Worst5m, h.Worst5m)},
		{"cost $/h", "$" + commas(b.CostPerHour), "$" + commas(h.CostPerHour), signedUSD(h.CostPerHour - b.CostPerHour)},
		{"cost $/week", "$" + commas(b.CostPerWeek), "$" + commas(h.CostPerWeek), signedUSD(h.CostPerWeek-b.CostPerWeek) + " (" + pctChange(b.CostPerHour, h.CostPerHour) + ")"},
	}
	if b.CostVsBound > 0 && h.CostVsBound > 0 {
		rows = append(rows, [4]string{"cost vs clairvoyant bound (on head's policy)", vsBound(b), vsBound(h), fmt.Sprintf("%+.2fx", h.CostVsBound-b.CostVsBound)})
	}
	return rows
}

// MaxMarkdown is the most a pull-request comment may be (GitHub refuses
// comments over 65,536 characters); WriteMarkdown stays under it.
const MaxMarkdown = 60 << 10

// WriteMarkdown writes the what-if as a pull-request comment: the verdict,
// GitHub-flavored tables, and the policy diff, cut to stay under
// MaxMarkdown.
func (wi *WhatIf) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	icon := "✅"
	if !wi.Pass {
		icon = "❌"
	}
	fmt.Fprintf(&b, "### headroom what-if: %s → %s\n\n", mdEsc(wi.Base.String()), mdEsc(wi.Head.String()))
	fmt.Fprintf(&b, "%s **%s**\n\n", icon, mdEsc(wi.Verdict))
	fmt.Fprintf(&b, "Trace: %s, %s from %s UTC, seed %d; headroom's controller on each policy, the baselines on head's.\n\n",
		mdEsc(wi.Workload), wi.Duration, wi.Start.UTC().Format("2006-01-02 15:04"), wi.Seed)
	b.WriteString("| | base | head | change |\n|---|---:|---:|---:|\n")
	for _, r := range wi.totals() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	b.WriteString("\n#### Per class\n\n| class | SLO | target | base | head | worst 5m base | worst 5m head | replicas base (mean/max) | replicas head | |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var rows, changed []string
	for _, d := range wi.Classes {
		st := status(d)
		if d.Broken {
			st = "❌ " + st
		}
		row := fmt.Sprintf("| %s | %g ms | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdEsc(d.Class), d.SLOMs, target(d.Target), pct3(d.Base.Attainment), pct3(d.Head.Attainment),
			pct3(d.Base.Worst5m), pct3(d.Head.Worst5m), replicas(d.Base), replicas(d.Head), st)
		rows = append(rows, row)
		if st != "ok" || d.Base.Attainment != d.Head.Attainment || replicas(d.Base) != replicas(d.Head) {
			changed = append(changed, row)
		}
	}
	// A large fleet's table would not fit a comment: keep the classes
	// that changed (or miss), within half the budget.
	if size(rows) > MaxMarkdown/2 {
		rows = changed
	}
	for i, row := range rows {
		if b.Len()+len(row) > MaxMarkdown/2 {
			fmt.Fprintf(&b, "| ... %d more classes | | | | | | | | | |\n", len(rows)-i)
			break
		}
		b.WriteString(row)
	}
	if left := len(wi.Classes) - len(rows); left > 0 {
		fmt.Fprintf(&b, "\n%d classes with the same outcome on both are left out (-o json has them all).\n", left)
	}
	if len(wi.CostBy) > 0 && len(wi.CostBy) <= 200 {
		b.WriteString("\n#### Cost by nodegroup ($/h)\n\n| nodegroup | capacity | base | head | change |\n|---|---|---:|---:|---:|\n")
		for _, c := range wi.CostBy {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEsc(c.NodeGroup), mdEsc(c.CapacityType), commas(c.Base), commas(c.Head), signedUSD(c.Head-c.Base))
		}
	}
	if len(wi.Others) > 0 {
		b.WriteString("\n#### Against the baselines (on head's policy)\n\n| run | within SLO | worst 5m | $/h | $/week | vs bound |\n|---|---:|---:|---:|---:|---:|\n")
		for _, r := range append([]RunFigures{wi.HeadRun, wi.BaseRun}, wi.Others...) {
			fmt.Fprintf(&b, "| %s | %s | %s | $%s | $%s | %s |\n", mdEsc(r.Run), pct3(r.Attainment), pct3(r.Worst5m), commas(r.CostPerHour), commas(r.CostPerWeek), vsBound(r))
		}
	}
	fmt.Fprintf(&b, "\n#### Policy changes (`headroom policy diff`, %d)\n\n", len(wi.Changes))
	if len(wi.Changes) == 0 {
		b.WriteString("None: the effective policies are the same.\n")
	} else {
		const tail = "```\n"
		b.WriteString("```\n")
		for i, c := range wi.Changes {
			line := c.String() + "\n"
			if b.Len()+len(line)+len(tail)+200 > MaxMarkdown {
				fmt.Fprintf(&b, "... and %d more (run headroom policy diff)\n", len(wi.Changes)-i)
				break
			}
			b.WriteString(strings.ReplaceAll(line, "```", "'''"))
		}
		b.WriteString(tail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEsc keeps a value from breaking a table row.
func mdEsc(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func size(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}
