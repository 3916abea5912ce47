package policies

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Explanation is the effective policy with what headroom derives from it:
// per nodegroup its GPUs and prices, per class its planning horizon and
// every (nodegroup, profile) option with the reason other nodegroups were
// rejected. `headroom policy explain` prints it.
type Explanation struct {
	Cluster    ClusterExplanation     `json:"cluster"`
	NodeGroups []NodeGroupExplanation `json:"nodeGroups"`
	Classes    []ClassExplanation     `json:"classes"`
}

// ClusterExplanation is the cluster with the fleet's cost range.
type ClusterExplanation struct {
	Cluster
	// MinCost and MaxCost are the $/h of all nodegroups at their minimum
	// and maximum sizes.
	MinCost float64 `json:"minCostPerHour"`
	MaxCost float64 `json:"maxCostPerHour"`
}

// NodeGroupExplanation is a nodegroup with its catalog facts.
type NodeGroupExplanation struct {
	NodeGroup
	GPU         string  `json:"gpuModel,omitempty"`
	GPUsPerNode int     `json:"gpusPerNode"`
	Offering    string  `json:"offering"`
	NodePrice   float64 `json:"pricePerNodeHour"`
	PriceSource string  `json:"priceSource"`
	// Classes are the classes with at least one option on the nodegroup.
	Classes []string `json:"classes"`
}

// ClassExplanation is a class with its derived horizon and options.
type ClassExplanation struct {
	ModelClass
	Horizon  Duration            `json:"horizon"`
	Options  []OptionExplanation `json:"options"`
	Rejected []Rejection         `json:"rejected,omitempty"`
}

// OptionExplanation is one way a class can run.
type OptionExplanation struct {
	NodeGroup   string   `json:"nodeGroup"`
	GPU         string   `json:"gpu,omitempty"`
	Profile     string   `json:"profile"`
	UsableGiB   float64  `json:"usableGiB,omitempty"`
	Spot        bool     `json:"spot"`
	Horizon     Duration `json:"horizon"`
	Mean        Duration `json:"meanServiceTime"`
	P95         Duration `json:"p95ServiceTime"`
	Concurrency int      `json:"concurrency"`
	// PeakRPS is the most one replica can serve, concurrency / mean
	// service time (Little's law at full occupancy); sizing plans below it.
	PeakRPS float64 `json:"peakRPSPerReplica"`
}

// Explain derives the explanation of a loaded (defaulted) policy.
func Explain(p *Policy) *Explanation {
	cat := p.catalog()
	e := &Explanation{Cluster: ClusterExplanation{Cluster: p.Cluster}}
	for i := range p.NodeGroups {
		ng := &p.NodeGroups[i]
		x := NodeGroupExplanation{NodeGroup: *ng, Offering: ng.Offering(cat)}
		if cat != nil {
			if it, ok := cat.Instance(ng.Spec.InstanceType); ok {
				x.GPU, x.GPUsPerNode = it.GPU, it.GPUs
				x.NodePrice = it.Price(ng.Spec.CapacityType)
				x.PriceSource = it.PriceSource
				if ng.Spec.CapacityType == CapacitySpot {
					x.PriceSource = cmpOr(it.SpotSource, "observed")
				}
			}
		}
		e.Cluster.MinCost += float64(ng.Spec.Size.Min) * x.NodePrice
		e.Cluster.MaxCost += float64(ng.Spec.Size.Max) * x.NodePrice
		e.NodeGroups = append(e.NodeGroups, x)
	}
	e.Cluster.MinCost = math.Round(e.Cluster.MinCost*1000) / 1000
	e.Cluster.MaxCost = math.Round(e.Cluster.MaxCost*1000) / 1000
	users := map[string][]string{}
	for i := range p.Classes {
		c := &p.Classes[i]
		for _, ng := range p.NodeGroupsFor(c) {
			users[ng.Name] = append(users[ng.Name], c.Name)
		}
	}
	for i := range e.NodeGroups {
		e.NodeGroups[i].Classes = append([]string{}, users[e.NodeGroups[i].Name]...)
	}
	for i := range p.Classes {
		c := &p.Classes[i]
		opts, rej := p.Options(c)
		x := ClassExplanation{ModelClass: *c, Horizon: D(p.Horizon(c)), Rejected: rej}
		for _, o := range opts {
			pr := o.Profile
			peak := 0.0
			if pr.ServiceTime.Mean.Duration > 0 {
				peak = float64(pr.Concurrency) / pr.ServiceTime.Mean.Seconds()
			}
			x.Options = append(x.Options, OptionExplanation{
				NodeGroup: o.NodeGroup.Name, GPU: pr.GPU, Profile: pr.Profile, UsableGiB: o.Slice.UsableGiB,
				Spot: o.Spot, Horizon: D(p.HorizonOn(c, o.NodeGroup)), Mean: pr.ServiceTime.Mean, P95: pr.ServiceTime.P95,
				Concurrency: pr.Concurrency, PeakRPS: peak,
			})
		}
		e.Classes = append(e.Classes, x)
	}
	return e
}

// WriteText renders the explanation for people.
func (e *Explanation) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	c := e.Cluster
	s := c.Spec
	fmt.Fprintf(tw, "cluster %s: region %s, EKS cluster %s, tenancy %s%s\n", orDash(c.Name), orDash(s.Region), orDash(s.EKSCluster), s.Tenancy, map[bool]string{true: ", DRY RUN (plans only)"}[s.DryRun])
	ceiling := "no cost ceiling"
	if s.CostCeiling > 0 {
		ceiling = fmt.Sprintf("cost ceiling $%.2f/h", s.CostCeiling)
	}
	fmt.Fprintf(tw, "  %s; nodegroups cost $%.2f/h at minimum size, $%.2f/h at maximum\n", ceiling, c.MinCost, c.MaxCost)
	fmt.Fprintf(tw, "  disruption: %d node(s) draining at once, %s of a class unavailable, %s\n", s.Disruption.MaxNodesDraining, s.Disruption.MaxUnavailable, windowsText(s.Disruption.Windows))

	fmt.Fprintf(tw, "\nnodegroups (%d):\n", len(e.NodeGroups))
	for _, ng := range e.NodeGroups {
		ns := ng.Spec
		fmt.Fprintf(tw, "  %s\t%s %s\t%d-%d nodes\t$%.3f/h per node\t%s\n", ng.Name, ns.InstanceType, ns.CapacityType, ns.Size.Min, ns.Size.Max, ng.NodePrice, ng.Offering)
		var extra []string
		cloud := fmt.Sprintf("EKS managed nodegroup %q", ns.CloudName)
		if ns.Kind == NodeGroupASG {
			cloud = fmt.Sprintf("Auto Scaling group %q", ns.CloudName)
		}
		extra = append(extra, cloud, "boot "+ns.BootTime.String())
		if ns.GPU.IsMIG() {
			extra = append(extra, "re-partition "+ns.GPU.RepartitionTime.String())
		}
		if len(ns.Zones) > 0 {
			extra = append(extra, "zones "+strings.Join(ns.Zones, ","))
		}
		if ns.Tenant != "" {
			extra = append(extra, "dedicated to tenant "+ns.Tenant)
		}
		fmt.Fprintf(tw, "  \t%s\n", strings.Join(extra, "; "))
		used := "no model class (the router and other workloads may run here)"
		if len(ng.Classes) > 0 {
			used = strings.Join(ng.Classes, ", ")
		}
		fmt.Fprintf(tw, "  \tused by %s\n", used)
	}

	fmt.Fprintf(tw, "\nclasses (%d):\n", len(e.Classes))
	for _, cl := range e.Classes {
		cs := cl.Spec
		fmt.Fprintf(tw, "  %s\t%s; image %s\n", cl.Name, tenantList(cs.Tenants), cs.Image)
		fmt.Fprintf(tw, "  \tSLO p%g <= %s, error budget %g%%\n", cs.SLO.Percentile, cs.SLO.Latency, cs.SLO.ErrorBudget*100)
		fmt.Fprintf(tw, "  \treplicas %d-%d%s\n", cs.Scaling.MinReplicas, cs.Scaling.MaxReplicas, scheduledText(cs.Scaling.ScheduledMinimums))
		fmt.Fprintf(tw, "  \tscale up %s; scale down %s; %s\n", ruleText(cs.Scaling.ScaleUp, "+"), ruleText(cs.Scaling.ScaleDown, "-"), panicText(cs.Scaling.Panic))
		fc := "forecast off (reactive only)"
		if !cs.Scaling.Forecast.Disabled {
			fc = fmt.Sprintf("forecast q%g at horizon %s", cs.Scaling.Forecast.Quantile, cl.Horizon)
		}
		fmt.Fprintf(tw, "  \t%s; model %s %s, load %s\n", fc, cs.Model.Source, cs.Model.Path, cs.Model.LoadTime)
		place := fmt.Sprintf("spot %s, >= %g%% on-demand", cs.Placement.Spot, cs.Placement.MinOnDemandFraction*100)
		if cs.Placement.TimeShared.Allowed {
			place += fmt.Sprintf(", time-shared GPU below %g req/s", cs.Placement.TimeShared.BelowRate)
		}
		if cs.Placement.DedicatedPool {
			place += ", dedicated pool"
		}
		mem := "no GPU"
		if !cs.GPUMemory.IsZero() {
			mem = "GPU memory " + cs.GPUMemory.String()
		}
		fmt.Fprintf(tw, "  \t%s; %s; cpu %s memory %s; max unavailable %s\n", mem, place, cs.Resources.CPU.String(), cs.Resources.Memory.String(), cs.Disruption.MaxUnavailable)
		for _, o := range cl.Options {
			slice := o.Profile
			if o.GPU != "" {
				slice = fmt.Sprintf("%s %s (%.2f GiB)", o.GPU, o.Profile, o.UsableGiB)
			}
			fmt.Fprintf(tw, "  \t  on %s\t%s\tmean %s p95 %s x%d\t<= %.0f req/s per replica\thorizon %s\n", o.NodeGroup, slice, o.Mean, o.P95, o.Concurrency, o.PeakRPS, o.Horizon)
		}
		for _, r := range cl.Rejected {
			fmt.Fprintf(tw, "  \t  not on %s: %s\n", r.NodeGroup, r.Reason)
		}
	}
	return tw.Flush()
}

func orDash(s string) string { return cmpOr(s, "-") }

func windowsText(ws []Window) string {
	if len(ws) == 0 {
		return "at any time"
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%q %s for %s", w.Cron, w.TimeZone, w.Duration)
	}
	return "only in windows " + strings.Join(parts, ", ")
}

func scheduledText(sms []ScheduledMinimum) string {
	var parts []string
	for _, sm := range sms {
		parts = append(parts, fmt.Sprintf("at least %d from %q %s for %s", sm.MinReplicas, sm.Cron, sm.TimeZone, sm.Duration))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func ruleText(r ScalingRule, sign string) string {
	if r.Select == SelectDisabled {
		return "disabled"
	}
	var lim []string
	if r.Percent != nil {
		lim = append(lim, fmt.Sprintf("%s%d%%", sign, *r.Percent))
	}
	if r.Pods != nil {
		lim = append(lim, fmt.Sprintf("%s%d pods", sign, *r.Pods))
	}
	s := fmt.Sprintf("%s per %s", strings.Join(lim, " or "), r.Period)
	if len(lim) > 1 {
		s += " (" + r.Select + ")"
	}
	if r.StabilizationWindow != nil && r.StabilizationWindow.Duration > 0 {
		s += ", stabilized over " + r.StabilizationWindow.String()
	}
	return s
}

func panicText(p Panic) string {
	if p.Disabled {
		return "panic mode off"
	}
	return fmt.Sprintf("panic at %gx capacity over %s", p.Threshold, p.Window)
}

// String renders a Duration as Go does, without trailing zero units
// ("1m30s", "10h", "300ms").
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
