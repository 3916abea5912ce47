package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/binpack"
	"github.com/headroom-dev/headroom/binpack/frompolicy"
	"github.com/headroom-dev/headroom/policies"
)

// Exit codes of pack: 0 a full plan, 1 bad input or could not run, 3 a
// partial plan (printed) with demand that could not be placed or a cost
// over the ceiling.
const exitPartial = 3

type packFlags struct {
	policy, demand, current, problem string
	format                           string
	now                              string
	baseline                         bool
}

func newPackCmd(a *app) *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "pack --policy DIR --demand FILE [--current FILE] [-o table|json|yaml]",
		Short: "Plan MIG layouts, replicas and nodegroup sizes for a demand, with a proven lower bound",
		Long: `pack decides which GPU slice each replica of each model class gets, how every
GPU is partitioned (MIG layouts), and how many nodes of each on-demand and spot
nodegroup run, at the lowest cost it finds. It prints the plan, its $/h, a
proven lower bound on the cost of any feasible plan and the gap to it, the
changes against the current state, and why each choice was made.

The demand file gives each class's rate (requests/s at its SLO) or replicas;
the current-state file gives the nodes that run now, their layouts and where
replicas sit (docs/binpack.md has both formats). --problem FILE reads a
self-contained problem (classes with options and nodegroups) instead of a
policy directory and demand.

Exit status: 0 full plan, 1 bad input, 3 partial plan (some demand unplaced or
over the cost ceiling; the plan is still printed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(f.format, outTable, outJSON, outYAML); err != nil {
				return err
			}
			p, err := loadPackProblem(f)
			if err != nil {
				return err
			}
			solve := binpack.Solve
			if f.baseline {
				solve = binpack.SolveFFD
			}
			plan, err := solve(p)
			if plan == nil {
				return err
			}
			if perr := printPlan(a.stdout, plan, f.format); perr != nil {
				return perr
			}
			if err != nil {
				fmt.Fprintf(a.stderr, "headroom: %v\n", err)
				return exitError{exitPartial}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "", "policy directory (ModelClass and NodeGroup documents)")
	fl.StringVar(&f.demand, "demand", "", "demand file (kind: Demand), YAML or JSON")
	fl.StringVar(&f.current, "current", "", "current-state file (kind: ClusterState), YAML or JSON")
	fl.StringVar(&f.problem, "problem", "", "self-contained problem file (kind: PackingProblem) instead of --policy and --demand")
	fl.StringVar(&f.now, "now", "", "time for scheduled minimum replicas, RFC 3339 (default: now)")
	fl.BoolVar(&f.baseline, "ffd", false, "print the first-fit-decreasing baseline instead of the solver's plan")
	fl.StringVarP(&f.format, "output", "o", outTable, "output format: table, json or yaml")
	return cmd
}

func loadPackProblem(f packFlags) (*binpack.Problem, error) {
	var p *binpack.Problem
	switch {
	case f.problem != "" && (f.policy != "" || f.demand != ""):
		return nil, errors.New("--problem replaces --policy and --demand; give one or the other")
	case f.problem != "":
		data, err := readInput(f.problem)
		if err != nil {
			return nil, err
		}
		if p, err = binpack.ParseProblem(f.problem, data, nil); err != nil {
			return nil, err
		}
	case f.policy == "" || f.demand == "":
		return nil, errors.New("--policy DIR and --demand FILE are required (or --problem FILE)")
	default:
		now := time.Now()
		if f.now != "" {
			t, err := time.Parse(time.RFC3339, f.now)
			if err != nil {
				return nil, fmt.Errorf("--now: %w", err)
			}
			now = t
		}
		pol, err := policies.Load(f.policy)
		if err != nil {
			return nil, fmt.Errorf("loading policy %s: %w", f.policy, err)
		}
		data, err := readInput(f.demand)
		if err != nil {
			return nil, err
		}
		d, err := binpack.ParseDemand(f.demand, data)
		if err != nil {
			return nil, err
		}
		if p, err = frompolicy.Problem(pol, d, now); err != nil {
			return nil, err
		}
	}
	if f.current != "" {
		data, err := readInput(f.current)
		if err != nil {
			return nil, err
		}
		st, err := binpack.ParseState(f.current, data)
		if err != nil {
			return nil, err
		}
		p.Current = st
	}
	return p, nil
}

// readInput reads a demand, state or problem file, at most one byte more
// than binpack.MaxFileBytes, so the parser reports an input that is too
// large (or endless, like /dev/zero) instead of reading it into memory.
func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, binpack.MaxFileBytes+1))
}

func printPlan(w io.Writer, plan *binpack.Plan, format string) error {
	switch format {
	case outJSON:
		return writeJSON(w, plan)
	case outYAML:
		return writeYAML(w, plan)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cost $%.2f/h   lower bound $%.2f/h   gap %.2f%%   GPUs %d   strategy %s\n\n",
		plan.CostPerHour, plan.LowerBound, plan.Gap*100, plan.GPUs, plan.Strategy)
	fmt.Fprintln(tw, "NODEGROUP\tCAPACITY\tINSTANCE\tNODES\tMIN\tMAX\tGPUS\t$/h")
	for _, g := range plan.NodeGroups {
		maxs := "-"
		if g.Max > 0 {
			maxs = fmt.Sprint(g.Max)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%.2f\n", g.Name, g.CapacityType, g.InstanceType, g.Nodes, g.Min, maxs, g.GPUs, g.CostPerHour)
	}
	for _, c := range plan.ByCapacityType {
		fmt.Fprintf(tw, "total %s\t\t\t%d\t\t\t%d\t%.2f\n", c.CapacityType, c.Nodes, c.GPUs, c.CostPerHour)
	}
	fmt.Fprintln(tw, "\nCLASS\tNODEGROUP\tPROFILE\tREPLICAS\tCAPACITY\tRESOURCE")
	for _, al := range plan.Allocations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.1f\t%s: 1\n", al.Class, al.NodeGroup, al.Profile, al.Replicas, al.Capacity, al.Resource)
	}
	fmt.Fprintln(tw, "\nNODE\tNODEGROUP\tnvidia.com/mig.config\tGPU LAYOUTS")
	for _, n := range plan.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.NodeGroup, orDash(n.MIGConfig), nodeLayouts(n))
	}
	if len(plan.MIGConfigs) > 0 {
		fmt.Fprintln(tw, "\nMIG CONFIG\tDEVICES\tMIG-DEVICES")
		names := make([]string, 0, len(plan.MIGConfigs))
		for k := range plan.MIGConfigs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, e := range plan.MIGConfigs[name] {
				devs := "mig disabled"
				if e.MIGEnabled {
					devs = countsString(e.MIGDevices)
				}
				gpus := "all"
				if e.Devices != nil {
					gpus = fmt.Sprint([]int(e.Devices))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", name, gpus, devs)
			}
		}
	}
	ch := plan.Changes
	fmt.Fprintf(tw, "\nCHANGES\tnodes +%d -%d, layouts changed %d, replicas moved %d, added %d, removed %d, change penalty $%.2f/h\n",
		len(ch.NodesAdded), len(ch.NodesRemoved), len(ch.LayoutsChanged), ch.ReplicasMoved, ch.ReplicasAdded, ch.ReplicasGone, ch.Penalty)
	for _, lc := range ch.LayoutsChanged {
		fmt.Fprintf(tw, "  re-partition\t%s GPU %d: %s -> %s\n", lc.Node, lc.GPU, lc.From, lc.To)
	}
	if len(plan.Reasons) > 0 {
		fmt.Fprintln(tw, "\nWHY")
		for _, r := range plan.Reasons {
			line := fmt.Sprintf("  %s: %s", r.Subject, r.Decision)
			if r.Rejected != "" {
				line += "; rejected " + r.Rejected
			}
			fmt.Fprintf(tw, "%s: %s\n", line, r.Why)
		}
	}
	if len(plan.Unplaced) > 0 {
		fmt.Fprintln(tw, "\nUNPLACED")
		for _, u := range plan.Unplaced {
			fmt.Fprintf(tw, "  %s: %s\n", u.Class, u.Reason)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nodeLayouts(n binpack.Node) string {
	parts := make([]string, len(n.GPUs))
	for i, g := range n.GPUs {
		switch {
		case len(g.Layout) > 0:
			parts[i] = g.Layout.String()
		case len(g.Slots) > 0:
			parts[i] = g.Slots[0].Profile
		default:
			parts[i] = "idle"
		}
	}
	return compress(parts)
}

// compress writes runs of equal items once with a count: "3g.40gb@0+3g.40gb@4 x8".
func compress(items []string) string {
	var out []string
	for i := 0; i < len(items); {
		j := i
		for j < len(items) && items[j] == items[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s x%d", items[i], j-i))
		} else {
			out = append(out, items[i])
		}
		i = j
	}
	return strings.Join(out, ", ")
}

func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
