package simulations

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
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
	fmt.Fprintln(tw, "run\tpolicy\tmode\twithin SLO\tworst 5m\tmin below\tworst p95/SLO\t5m p95/SLO\ttimeouts\tdrops\tinterrupted\tcost $\t$/h\tvs bound\tGPU mem\trepart\tdrains\tspot int\t")
	for i, r := range c.Runs {
		s := summarize(r)
		vs := "-"
		if r.CostVsBound > 0 {
			vs = fmt.Sprintf("%.2fx", r.CostVsBound)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f%%\t%.2f%%\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%s\t%.0f%%\t%d\t%d\t%d\t\n",
			label(c, i), r.Policy, r.Mode, 100*r.Attainment, 100*s.worst5, s.below, s.p95, s.p95w5, s.timeouts, s.drops, s.interrupted, r.Cost, r.CostPerHour, vs,
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
	keys, cost := costByNodeGroup(c)
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

// runCostKey is a nodegroup and capacity type.
type runCostKey struct{ ng, ct string }

// costByNodeGroup is every run's cost per nodegroup and capacity type (by
// run index), with the keys sorted: the terminal table's and the report's.
func costByNodeGroup(c *Comparison) ([]runCostKey, map[runCostKey]map[int]float64) {
	var keys []runCostKey
	cost := map[runCostKey]map[int]float64{}
	for i, r := range c.Runs {
		for _, l := range r.CostBy {
			k := runCostKey{l.NodeGroup, l.CapacityType}
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
	return keys, cost
}
