package scaler

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// Two seams inside the core keep it independent of the forecast and binpack
// packages' internals: a Forecaster per class and a Packer from sized demand
// to nodegroup targets and layouts. The built-in implementations here are
// deliberately simple (persistence + margin; greedy whole-slice packing);
// adapters to the real packages plug in through Options.

// Forecast is a class's predicted rate at a horizon.
type Forecast struct {
	// Point is the expected rate and Upper the requested upper quantile,
	// in requests/s.
	Point, Upper float64
	Method       string
	Reason       string
}

// Forecaster predicts each class's request rate. Observe is called once per
// tick per class with a valid rate; Predict must be cheap and pure given the
// observations so far.
type Forecaster interface {
	Observe(class string, t time.Time, rate float64)
	Predict(class string, now time.Time, horizon time.Duration, quantile float64) Forecast
}

// Persistence is the built-in forecaster: the last rate as the point
// forecast, and the largest rate seen over the lookback (at least the
// horizon) times (1+Margin) as the upper quantile. It ignores the quantile
// beyond that: it is the fallback, not the forecast package.
type Persistence struct {
	Margin   float64
	Lookback time.Duration
	series   map[string][]ratePoint
}

type ratePoint struct {
	t    time.Time
	rate float64
}

// NewPersistence returns a persistence forecaster.
func NewPersistence(margin float64, lookback time.Duration) *Persistence {
	return &Persistence{Margin: margin, Lookback: lookback, series: map[string][]ratePoint{}}
}

// Observe records a rate; invalid rates are ignored.
func (p *Persistence) Observe(class string, t time.Time, rate float64) {
	if !validRate(rate) {
		return
	}
	s := append(p.series[class], ratePoint{t, rate})
	keep := max(p.Lookback, 30*time.Minute)
	i := 0
	for i < len(s) && t.Sub(s[i].t) > keep {
		i++
	}
	p.series[class] = s[i:]
}

// Predict returns the persistence forecast.
func (p *Persistence) Predict(class string, now time.Time, horizon time.Duration, q float64) Forecast {
	s := p.series[class]
	if len(s) == 0 {
		return Forecast{Method: "persistence", Reason: "no observations"}
	}
	look := max(p.Lookback, horizon)
	peak := 0.0
	for _, r := range s {
		if now.Sub(r.t) <= look {
			peak = math.Max(peak, r.rate)
		}
	}
	last := s[len(s)-1].rate
	up := math.Max(peak, last) * (1 + p.Margin)
	return Forecast{Point: last, Upper: up, Method: "persistence+margin",
		Reason: fmt.Sprintf("last %.2f req/s, peak %.2f over %v, +%.0f%% margin", last, peak, look, p.Margin*100)}
}

// ---------------------------------------------------------------------------
// Packer.

// PackRequest is the sized demand and the capacity it may use.
type PackRequest struct {
	Classes    []PackClass
	NodeGroups []PackNodeGroup
	// Nodes are the usable nodes (ready or booting, not cordoned, draining
	// or interrupted) with the replicas on them.
	Nodes []PackNode
	// AllowNew lets the packer add nodes; false asks only whether the
	// demand fits the given nodes (the consolidation check).
	AllowNew bool
}

// PackClass is one class's demand: Replicas on the first option that fits,
// in the order given (the right-sized profile first).
type PackClass struct {
	Name                string
	Replicas            int
	Options             []PackOption
	NodeGroups          []string // empty: any nodegroup with a matching GPU
	Spot                string
	MinOnDemandFraction float64
}

// PackOption is one slice profile a class can use.
type PackOption struct {
	GPU, Profile string
	MemoryGiB    float64
}

// PackNodeGroup is a nodegroup as the packer sees it.
type PackNodeGroup struct {
	Name, InstanceType, CapacityType string
	GPU                              string
	GPUs                             int
	Mode                             string
	// FixedLayout is the per-GPU profile counts of mode mig-fixed, and
	// FixedName its nvidia.com/mig.config.
	FixedLayout map[string]int
	FixedName   string
	TimeSlices  int
	Min, Max    int
	Price       float64 // $/h per node
}

// PackNode is one node and the replicas on it.
type PackNode struct {
	Name, NodeGroup string
	MIGConfig       string
	Booting         bool
	Pods            []Pod
}

// PackResult is the packer's answer.
type PackResult struct {
	// Targets are the nodes each nodegroup needs (existing ones kept plus
	// new ones).
	Targets map[string]int
	// Layouts are MIG configs wanted on existing mig-dynamic nodes whose
	// current config differs.
	Layouts map[string]string
	// Placed and Unplaced count replicas per class.
	Placed, Unplaced map[string]int
	Reasons          []string
}

// Packer turns demand and capacity into nodegroup targets and layouts.
type Packer interface {
	Pack(req PackRequest) PackResult
}

// MIG config names (nvidia.com/mig.config) follow the binpack package:
// "all-disabled" for whole GPUs and "all-<n>x<profile>[-<n>x<profile>...]"
// when every GPU of the node has the same layout, largest profile first
// ("all-2x3g.40gb", "all-1x4g.40gb-1x3g.40gb"). mig-parted's stock names
// ("all-3g.40gb": as many as fit) are read too.
const migDisabled = "all-disabled"

// MIGConfigName names the layout with the given per-GPU profile counts.
func MIGConfigName(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for k, v := range counts {
		if v > 0 && k != catalog.ProfileWhole {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return migDisabled
	}
	compute := func(p string) int {
		var n int
		fmt.Sscanf(p, "%dg", &n)
		return n
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := compute(names[i]), compute(names[j])
		if a != b {
			return a > b
		}
		return names[i] > names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%dx%s", counts[n], n)
	}
	return "all-" + strings.Join(parts, "-")
}

// ParseMIGConfig reads a config name into per-GPU profile counts; a count of
// 0 means "as many as fit" (mig-parted's stock names). ok is false for
// names it cannot read (custom or hashed layouts).
func ParseMIGConfig(config string) (counts map[string]int, ok bool) {
	if config == migDisabled {
		return map[string]int{catalog.ProfileWhole: 1}, true
	}
	rest, found := strings.CutPrefix(config, "all-")
	if !found || rest == "" {
		return nil, false
	}
	counts = map[string]int{}
	for _, part := range strings.Split(rest, "-") {
		n, prof, hasX := strings.Cut(part, "x")
		if !hasX {
			counts[part] = 0
			continue
		}
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 {
			return nil, false
		}
		counts[prof] = v
	}
	return counts, true
}

// layoutCounts resolves a config to concrete per-GPU counts on gpu ("as
// many as fit" filled in with the MIG placement rules).
func layoutCounts(gpu *catalog.GPU, config string) (map[string]int, bool) {
	counts, ok := ParseMIGConfig(config)
	if !ok {
		return nil, false
	}
	for prof, n := range counts {
		if n != 0 || gpu == nil {
			continue
		}
		var l catalog.Layout
		for {
			next, ok := gpu.Place(l, prof)
			if !ok {
				break
			}
			l = next
		}
		counts[prof] = len(l)
	}
	return counts, true
}

// sameLayout reports whether two configs give every GPU the same layout.
func sameLayout(gpu *catalog.GPU, a, b string) bool {
	if a == b {
		return true
	}
	ca, oka := layoutCounts(gpu, a)
	cb, okb := layoutCounts(gpu, b)
	return oka && okb && MIGConfigName(ca) == MIGConfigName(cb)
}

// uniformConfig is the config that fills every GPU with one profile.
func uniformConfig(gpu *catalog.GPU, profile string) string {
	if profile == catalog.ProfileWhole || gpu == nil {
		return migDisabled
	}
	c, _ := layoutCounts(gpu, "all-"+profile)
	return MIGConfigName(c)
}

// Greedy is the built-in packer: existing replicas stay; missing replicas
// go to free slots of their profile on existing nodes (on-demand share
// first, then the cheapest per slot), then onto empty mig-dynamic nodes
// re-laid out for them, then onto new nodes of the cheapest nodegroup per
// slot. Every GPU of a mig-dynamic node holds one profile. It is a
// placeholder for the binpack solver, not an optimizer.
type Greedy struct {
	Catalog *catalog.Catalog
}

type gnode struct {
	name, group string
	config      string
	free        map[string]int // profile -> free slots
	used        int
	fresh       bool // added by the packer or re-laid out: layout still open
	gpus        int
}

// slots returns the slots of one GPU of group g under config.
func (p Greedy) slots(g PackNodeGroup, gpu *catalog.GPU, config string) map[string]int {
	out := map[string]int{}
	switch g.Mode {
	case "time-sliced":
		out[catalog.ProfileTimeSliced] = max(g.TimeSlices, 1)
	case "mig-fixed":
		for k, v := range g.FixedLayout {
			out[k] = v
		}
	case "mig-dynamic":
		counts, ok := layoutCounts(gpu, config)
		if !ok {
			out[catalog.ProfileWhole] = 1
			break
		}
		for k, v := range counts {
			out[k] = v
		}
	default:
		out[catalog.ProfileWhole] = 1
	}
	return out
}

func (p Greedy) catalogGPU(name string) *catalog.GPU {
	c := p.Catalog
	if c == nil {
		c = defaultCatalog
	}
	g, _ := c.GPU(name)
	return g
}

var defaultCatalog = catalog.Default()

// Pack implements Packer.
func (p Greedy) Pack(req PackRequest) PackResult {
	res := PackResult{Targets: map[string]int{}, Layouts: map[string]string{}, Placed: map[string]int{}, Unplaced: map[string]int{}}
	groups := map[string]PackNodeGroup{}
	for _, g := range req.NodeGroups {
		groups[g.Name] = g
		res.Targets[g.Name] = 0
	}
	var nodes []*gnode
	for _, n := range req.Nodes {
		g, ok := groups[n.NodeGroup]
		if !ok {
			continue
		}
		gn := &gnode{name: n.Name, group: g.Name, config: n.MIGConfig, gpus: max(g.GPUs, 1), free: map[string]int{}}
		if g.Mode == "mig-dynamic" && n.Booting {
			gn.fresh = true
		}
		for k, v := range p.slots(g, p.catalogGPU(g.GPU), n.MIGConfig) {
			gn.free[k] = v * gn.gpus
		}
		for _, pod := range n.Pods {
			if gn.free[pod.Profile] > 0 {
				gn.free[pod.Profile]--
			}
			gn.used++
			res.Placed[pod.Class]++
		}
		if g.Mode == "mig-dynamic" && gn.used == 0 {
			gn.fresh = true
		}
		nodes = append(nodes, gn)
		res.Targets[g.Name]++
	}
	// Larger demands first, ties by name: deterministic.
	classes := append([]PackClass(nil), req.Classes...)
	sort.SliceStable(classes, func(i, j int) bool {
		if classes[i].Replicas != classes[j].Replicas {
			return classes[i].Replicas > classes[j].Replicas
		}
		return classes[i].Name < classes[j].Name
	})
	for _, c := range classes {
		need := c.Replicas - res.Placed[c.Name]
		if need <= 0 {
			continue
		}
		onDemand := int(math.Ceil(c.MinOnDemandFraction*float64(c.Replicas))) - p.placedOnDemand(c.Name, req, groups)
		if c.Spot == "never" {
			onDemand = need
		}
		onDemand = min(max(onDemand, 0), need)
		placedOD := p.place(&nodes, groups, c, onDemand, true, req.AllowNew, &res)
		rest := need - placedOD
		placed := p.place(&nodes, groups, c, rest, c.Spot == "never", req.AllowNew, &res)
		if left := rest - placed + (onDemand - placedOD); left > 0 {
			// On-demand share could not be met on on-demand capacity:
			// place the remainder anywhere allowed rather than not at all.
			extra := 0
			if c.Spot != "never" && onDemand > placedOD {
				extra = p.place(&nodes, groups, c, left, false, req.AllowNew, &res)
				res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %d replicas of its on-demand share went to spot", c.Name, extra))
			}
			if left-extra > 0 {
				res.Unplaced[c.Name] += left - extra
				res.Reasons = append(res.Reasons, fmt.Sprintf("%s: %d replicas fit no allowed nodegroup (max sizes or profiles)", c.Name, left-extra))
			}
		}
	}
	for _, n := range nodes {
		if n.fresh && n.config != "" && n.used > 0 {
			for _, orig := range req.Nodes {
				if orig.Name == n.name && !orig.Booting && !sameLayout(p.catalogGPU(groups[n.group].GPU), orig.MIGConfig, n.config) {
					res.Layouts[n.name] = n.config
				}
			}
		}
	}
	return res
}

func (p Greedy) placedOnDemand(class string, req PackRequest, groups map[string]PackNodeGroup) int {
	n := 0
	for _, node := range req.Nodes {
		if groups[node.NodeGroup].CapacityType == "spot" {
			continue
		}
		for _, pod := range node.Pods {
			if pod.Class == class {
				n++
			}
		}
	}
	return n
}

func allowed(c PackClass, g PackNodeGroup) (PackOption, bool) {
	if len(c.NodeGroups) > 0 {
		ok := false
		for _, n := range c.NodeGroups {
			ok = ok || n == g.Name
		}
		if !ok {
			return PackOption{}, false
		}
	}
	if c.Spot == "never" && g.CapacityType == "spot" {
		return PackOption{}, false
	}
	for _, o := range c.Options {
		if o.GPU != g.GPU {
			continue
		}
		switch g.Mode {
		case "mig-dynamic":
			return o, true
		case "mig-fixed":
			if g.FixedLayout[o.Profile] > 0 {
				return o, true
			}
		case "time-sliced":
			if o.Profile == catalog.ProfileTimeSliced {
				return o, true
			}
		default:
			if o.Profile == catalog.ProfileWhole {
				return o, true
			}
		}
	}
	return PackOption{}, false
}

// place puts up to n replicas of c, on on-demand capacity only when odOnly,
// and returns how many it placed.
func (p Greedy) place(nodes *[]*gnode, groups map[string]PackNodeGroup, c PackClass, n int, odOnly, allowNew bool, res *PackResult) int {
	placed := 0
	// 1. free slots on existing nodes, then fresh (open-layout) nodes.
	for pass := 0; pass < 2 && placed < n; pass++ {
		for _, node := range *nodes {
			if placed >= n {
				break
			}
			g := groups[node.group]
			if odOnly && g.CapacityType == "spot" {
				continue
			}
			o, ok := allowed(c, g)
			if !ok {
				continue
			}
			if pass == 1 && node.fresh && node.used == 0 && g.Mode == "mig-dynamic" && node.free[o.Profile] == 0 {
				// Re-lay out an empty mig-dynamic node for this profile.
				node.config = uniformConfig(p.catalogGPU(g.GPU), o.Profile)
				node.free = map[string]int{}
				for k, v := range p.slots(g, p.catalogGPU(g.GPU), node.config) {
					node.free[k] = v * node.gpus
				}
			}
			take := min(node.free[o.Profile], n-placed)
			if take > 0 {
				node.free[o.Profile] -= take
				node.used += take
				placed += take
			}
		}
	}
	// 2. new nodes of the cheapest allowed nodegroup per slot.
	for allowNew && placed < n {
		best, bestCost, bestOpt := "", math.Inf(1), PackOption{}
		for _, name := range sortedGroupNames(groups) {
			g := groups[name]
			if odOnly && g.CapacityType == "spot" {
				continue
			}
			o, ok := allowed(c, g)
			if !ok || (g.Max > 0 && res.Targets[name] >= g.Max) {
				continue
			}
			cfg := ""
			if g.Mode == "mig-dynamic" {
				cfg = uniformConfig(p.catalogGPU(g.GPU), o.Profile)
			}
			per := p.slots(g, p.catalogGPU(g.GPU), cfg)[o.Profile] * max(g.GPUs, 1)
			if per == 0 {
				continue
			}
			cost := g.Price / float64(min(per, n-placed))
			if c.Spot == "preferred" && g.CapacityType == "spot" {
				cost /= 2
			}
			if cost < bestCost {
				best, bestCost, bestOpt = name, cost, o
			}
		}
		if best == "" {
			break
		}
		g := groups[best]
		cfg := ""
		if g.Mode == "mig-dynamic" {
			cfg = uniformConfig(p.catalogGPU(g.GPU), bestOpt.Profile)
		}
		node := &gnode{name: fmt.Sprintf("new-%s-%d", best, res.Targets[best]), group: best, config: cfg, gpus: max(g.GPUs, 1), free: map[string]int{}, fresh: true}
		for k, v := range p.slots(g, p.catalogGPU(g.GPU), cfg) {
			node.free[k] = v * node.gpus
		}
		*nodes = append(*nodes, node)
		res.Targets[best]++
		take := min(node.free[bestOpt.Profile], n-placed)
		node.free[bestOpt.Profile] -= take
		node.used += take
		placed += take
	}
	res.Placed[c.Name] += placed
	return placed
}

func sortedGroupNames(m map[string]PackNodeGroup) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
