package binpack

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/headroom-dev/headroom/binpack/catalog"
)

// model is a Problem compiled for the solver: nodegroups with their slot
// kinds and legal layouts (patterns), and per class the candidate
// (nodegroup, slot kind) pairs it may use. Resources are numbered globally:
// one per (nodegroup, slot kind), plus one memory resource per time-sliced
// nodegroup.
type model struct {
	p        *Problem
	cat      *catalog.Catalog
	groups   []*group
	classes  []*classM
	nres     int
	resGroup []int
	// unplaced are classes with no candidate at all.
	unplaced []Unplaced
	byName   map[string]int
}

type group struct {
	idx       int
	ng        NodeGroup
	gpu       *catalog.GPU
	gpn       int
	nodePrice float64
	gpuPrice  float64
	spot      bool
	kinds     []string
	res0      int
	memRes    int // global memory resource of a time-sliced group, or -1
	patterns  []pattern
	minGPUs   float64
	maxGPUs   float64 // +Inf without a max
	capGPUs   float64 // see gpuCap; set by setBounds
	packMemo  map[string][]gpuAlloc
	memoMu    sync.Mutex
}

// pattern is one legal layout of a GPU as a supply of resources (indexed
// locally: kinds, then memory for time-sliced groups).
type pattern struct {
	supply  []float64
	isupply []int // supply of the slot kinds as ints
	layout  catalog.Layout
}

type cand struct {
	g      int
	kind   int // local kind index in the group
	res    int // global slot resource
	memRes int // global memory resource, or -1
	mem    float64
	cap    float64
	od     bool
	list   float64 // list $/h of one replica's share of a GPU
	opt    int     // index into Class.Options
	// invCap and listPerCap are 1/cap and list/cap, for the bound's loop.
	invCap, listPerCap float64
}

type classM struct {
	i       int
	c       *Class
	demand  float64 // requests/s, or replicas when the class counts replicas
	minRep  int
	f       float64
	cands   []cand
	ub      int // replicas a minimal plan can give the class, at most
	rejects []string
	// held is set when the demand is more than the class's nodegroups
	// could serve at their max sizes: the most they could (see
	// boundDemand).
	held *float64
}

// compile checks the problem and builds the model. Input errors (bad numbers,
// unknown names) are returned as a *ProblemError; classes that are valid but
// fit nowhere go to m.unplaced.
func compile(p *Problem) (*model, error) {
	cat := p.Catalog
	if cat == nil {
		cat = catalog.Default()
	}
	m := &model{p: p, cat: cat, byName: map[string]int{}}
	var errs []error
	groupNames := map[string]bool{}
	for i := range p.NodeGroups {
		g, err := m.compileGroup(i, p.NodeGroups[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if groupNames[g.ng.Name] {
			errs = append(errs, fmt.Errorf("nodegroup %q: defined twice", g.ng.Name))
			continue
		}
		groupNames[g.ng.Name] = true
		g.idx = len(m.groups)
		m.groups = append(m.groups, g)
	}
	for _, g := range m.groups {
		g.res0 = m.nres
		for range g.kinds {
			m.resGroup = append(m.resGroup, g.idx)
		}
		m.nres += len(g.kinds)
		if g.memRes >= 0 {
			g.memRes = m.nres
			m.resGroup = append(m.resGroup, g.idx)
			m.nres++
		}
	}
	for i := range p.Classes {
		c := &p.Classes[i]
		cm, err := m.compileClass(i, c, groupNames)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := m.byName[c.Name]; dup {
			errs = append(errs, &ClassError{Class: c.Name, Reason: "defined twice"})
			continue
		}
		m.byName[c.Name] = len(m.classes)
		cm.rejects = append(cm.rejects, c.Notes...)
		if len(cm.cands) == 0 && cm.demand > 0 {
			m.unplaced = append(m.unplaced, Unplaced{Class: c.Name, Rate: c.Rate, Replicas: c.Replicas,
				Reason: "no allowed slice fits: " + orNone(strings.Join(cm.rejects, "; "))})
		}
		m.classes = append(m.classes, cm)
	}
	if badNumber(p.ChangeCost) {
		errs = append(errs, fmt.Errorf("changeCost must be a finite non-negative number, got %v", p.ChangeCost))
	}
	if badNumber(p.CostCeiling) {
		errs = append(errs, fmt.Errorf("costCeiling must be a finite non-negative number (0 = none), got %v", p.CostCeiling))
	}
	if len(errs) == 0 {
		errs = m.boundDemand(p.Options.withDefaults())
	}
	if len(errs) > 0 {
		return nil, &ProblemError{Errs: errs}
	}
	m.setBounds()
	return m, nil
}

func (m *model) compileGroup(i int, ng NodeGroup) (*group, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("nodegroup %q: %s", ng.Name, fmt.Sprintf(format, args...))
	}
	if ng.Name == "" {
		return nil, fmt.Errorf("nodegroup %d: name is empty", i)
	}
	it, ok := m.cat.Instance(ng.InstanceType)
	if !ok {
		return nil, fail("unknown instance type %q", ng.InstanceType)
	}
	if it.GPUs == 0 {
		return nil, fail("instance type %s has no GPU", it.Name)
	}
	gpu, _ := m.cat.GPU(it.GPU)
	if ng.CapacityType == "" {
		ng.CapacityType = OnDemand
	}
	if ng.CapacityType != OnDemand && ng.CapacityType != Spot {
		return nil, fail("capacityType %q is not on-demand or spot", ng.CapacityType)
	}
	if ng.Mode == "" {
		ng.Mode = ModeWhole
	}
	if ng.Min < 0 || ng.Max < 0 || (ng.Max > 0 && ng.Min > ng.Max) {
		return nil, fail("size min %d, max %d: want 0 <= min <= max (max 0 = no limit)", ng.Min, ng.Max)
	}
	if badNumber(ng.Price) {
		return nil, fail("price must be a finite non-negative number, got %v", ng.Price)
	}
	price := ng.Price
	if price == 0 {
		price = it.Price(ng.CapacityType)
	}
	// In floats: a hostile size times the GPUs per node overflows an int.
	g := &group{ng: ng, gpu: gpu, gpn: it.GPUs, nodePrice: price, gpuPrice: price / float64(it.GPUs),
		spot: ng.CapacityType == Spot, memRes: -1, maxGPUs: math.Inf(1), minGPUs: float64(ng.Min) * float64(it.GPUs)}
	if ng.Max > 0 {
		g.maxGPUs = float64(ng.Max) * float64(it.GPUs)
	}
	switch ng.Mode {
	case ModeMIGDynamic:
		if !gpu.MIG {
			return nil, fail("mode mig-dynamic on %s, which has no MIG", gpu.Name)
		}
		for _, p := range gpu.Profiles {
			g.kinds = append(g.kinds, p.Name)
		}
		g.kinds = append(g.kinds, catalog.ProfileWhole)
		seen := map[string]bool{}
		for _, l := range gpu.Layouts(true) {
			sup := make([]float64, len(g.kinds))
			for _, pl := range l {
				sup[slices.Index(g.kinds, pl.Profile)]++
			}
			key := fmt.Sprint(sup)
			if seen[key] {
				continue
			}
			seen[key] = true
			g.patterns = append(g.patterns, pattern{supply: sup, layout: l})
		}
		whole := make([]float64, len(g.kinds))
		whole[len(whole)-1] = 1
		g.patterns = append(g.patterns, pattern{supply: whole})
	case ModeMIGFixed:
		if !gpu.MIG {
			return nil, fail("mode mig-fixed on %s, which has no MIG", gpu.Name)
		}
		if len(ng.Layout) == 0 {
			return nil, fail("mode mig-fixed needs a layout")
		}
		if err := gpu.ValidateLayout(ng.Layout); err != nil {
			return nil, fail("%v", err)
		}
		counts := ng.Layout.Counts()
		for _, p := range gpu.Profiles {
			if counts[p.Name] > 0 {
				g.kinds = append(g.kinds, p.Name)
			}
		}
		sup := make([]float64, len(g.kinds))
		for k, name := range g.kinds {
			sup[k] = float64(counts[name])
		}
		g.patterns = []pattern{{supply: sup, layout: slices.Clone(ng.Layout)}}
	case ModeWhole:
		g.kinds = []string{catalog.ProfileWhole}
		g.patterns = []pattern{{supply: []float64{1}}}
	case ModeTimeSliced:
		if ng.TimeSlices < 1 {
			return nil, fail("mode time-sliced needs timeSlices >= 1")
		}
		g.kinds = []string{catalog.ProfileTimeSliced}
		g.memRes = 0 // numbered in compile
		g.patterns = []pattern{{supply: []float64{float64(ng.TimeSlices), gpu.MemoryGiB}}}
	default:
		return nil, fail("unknown mode %q (want mig-dynamic, mig-fixed, whole or time-sliced)", ng.Mode)
	}
	return g, nil
}

func badNumber(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x < 0 }

func (m *model) compileClass(i int, c *Class, groupNames map[string]bool) (*classM, error) {
	fail := func(format string, args ...any) error {
		return &ClassError{Class: c.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if c.Name == "" {
		return nil, fmt.Errorf("class %d: name is empty", i)
	}
	switch {
	case badNumber(c.Rate):
		return nil, fail("rate must be a finite non-negative number, got %v", c.Rate)
	case c.Replicas < 0:
		return nil, fail("replicas must not be negative, got %d", c.Replicas)
	case c.Rate > 0 && c.Replicas > 0:
		return nil, fail("set rate or replicas, not both")
	case c.MinReplicas < 0:
		return nil, fail("minReplicas must not be negative, got %d", c.MinReplicas)
	case math.IsNaN(c.MinOnDemandFraction) || c.MinOnDemandFraction < 0 || c.MinOnDemandFraction > 1:
		return nil, fail("minOnDemandFraction must be in [0,1], got %v", c.MinOnDemandFraction)
	}
	spot := c.Spot
	if spot == "" {
		spot = SpotAllowed
	}
	if spot != SpotNever && spot != SpotAllowed && spot != SpotPreferred {
		return nil, fail("spot %q is not never, allowed or preferred", c.Spot)
	}
	for _, name := range c.NodeGroups {
		if !groupNames[name] {
			return nil, fail("unknown nodegroup %q", name)
		}
	}
	cm := &classM{i: i, c: c, minRep: c.MinReplicas, f: c.MinOnDemandFraction}
	if c.Rate > 0 {
		cm.demand = c.Rate
	} else {
		cm.demand = float64(c.Replicas)
	}
	if spot == SpotNever {
		cm.f = 1
	}
	for oi, o := range c.Options {
		gpu, ok := m.cat.GPU(o.GPU)
		if !ok {
			return nil, fail("option %d: unknown GPU %q", oi, o.GPU)
		}
		prof, ok := gpu.Profile(o.Profile)
		if !ok {
			return nil, fail("option %d: %s has no profile %q (valid: %s)", oi, gpu.Name, o.Profile, strings.Join(gpu.ProfileNames(), ", "))
		}
		if badNumber(o.MemoryGiB) {
			return nil, fail("option %d: memoryGiB must be a finite non-negative number, got %v", oi, o.MemoryGiB)
		}
		capacity := 1.0
		if c.Rate > 0 {
			if badNumber(o.Capacity) || o.Capacity == 0 {
				return nil, fail("option %d (%s %s): capacity must be a positive number of requests/s, got %v", oi, o.GPU, o.Profile, o.Capacity)
			}
			capacity = o.Capacity
		}
		if o.MemoryGiB > prof.UsableGiB {
			cm.rejects = append(cm.rejects, fmt.Sprintf("%s %s has %.2f GiB usable, replica needs %.2f", o.GPU, o.Profile, prof.UsableGiB, o.MemoryGiB))
			continue
		}
		found := false
		for _, g := range m.groups {
			if g.gpu.Name != gpu.Name {
				continue
			}
			if len(c.NodeGroups) > 0 && !slices.Contains(c.NodeGroups, g.ng.Name) {
				continue
			}
			if g.spot && spot == SpotNever {
				continue
			}
			if len(g.ng.Tenants) > 0 && !slices.Contains(g.ng.Tenants, c.Tenant) {
				continue
			}
			k := slices.Index(g.kinds, o.Profile)
			if k < 0 {
				continue
			}
			found = true
			cd := cand{g: g.idx, kind: k, memRes: -1, mem: o.MemoryGiB, cap: capacity, od: !g.spot, opt: oi}
			cd.list = g.gpuPrice * m.share(g, o.Profile, o.MemoryGiB)
			cm.cands = append(cm.cands, cd)
		}
		if !found {
			cm.rejects = append(cm.rejects, fmt.Sprintf("%s %s: no allowed nodegroup offers it", o.GPU, o.Profile))
		}
	}
	return cm, nil
}

// share is the fraction of a GPU one replica of profile takes, by its
// scarcest dimension: the list-price yardstick for reasons and FFD.
func (m *model) share(g *group, profile string, mem float64) float64 {
	switch profile {
	case catalog.ProfileWhole:
		return 1
	case catalog.ProfileTimeSliced:
		return math.Max(1/float64(g.ng.TimeSlices), mem/g.gpu.MemoryGiB)
	}
	p, _ := g.gpu.Profile(profile)
	return math.Max(float64(p.Compute)/catalog.ComputeSlices, float64(p.Memory)/catalog.MemorySlices)
}

// boundDemand checks each class's demand against what the fleet could
// ever hold, and the whole problem against the solver's size limits,
// before anything is allocated for it.
//
// A class that asks for more than its nodegroups could serve at their max
// sizes (every GPU of every group it may use, each with as many of its
// slices as a layout has, at its capacity) is planned for just one replica
// more than that: the plan reports the rest unplaced, and the solver's work
// stays in proportion to the fleet, not to the number in the demand file.
// Example: replicas: 99999999999 of a 1g.10gb class on one p5.48xlarge
// nodegroup of max 4 nodes is planned as 4 x 8 x 7 + 1 = 225 replicas.
//
// What can still be large (demand on nodegroups without a max size,
// minReplicas, min sizes) is bounded by Options.MaxReplicas and MaxGPUs.
// All of it is in floats: 1e300 requests/s over a capacity of 1 would
// overflow any integer.
func (m *model) boundDemand(opts Options) []error {
	var errs []error
	total := 0.0
	for _, cm := range m.classes {
		if len(cm.cands) == 0 {
			continue
		}
		perGPU := make([]float64, len(m.groups))
		maxCap, minCap, minOD := 0.0, math.Inf(1), math.Inf(1)
		for _, cd := range cm.cands {
			slots := 0.0
			for _, pt := range m.groups[cd.g].patterns {
				slots = math.Max(slots, pt.supply[cd.kind])
			}
			perGPU[cd.g] = math.Max(perGPU[cd.g], slots*cd.cap)
			maxCap, minCap = math.Max(maxCap, cd.cap), math.Min(minCap, cd.cap)
			if cd.od {
				minOD = math.Min(minOD, cd.cap)
			}
		}
		hold := 0.0
		for gi, c := range perGPU {
			if c > 0 {
				hold += m.groups[gi].maxGPUs * c
			}
		}
		if cm.demand > hold {
			cm.held = &hold
			cm.demand = hold + maxCap
		}
		// As setBounds' ub: the most replicas a minimal plan gives it.
		n := math.Max(float64(cm.minRep), math.Ceil(cm.demand/minCap)) + 1
		if cm.f > 0 && !math.IsInf(minOD, 1) {
			n += math.Ceil(cm.f * cm.demand / minOD)
		}
		total += n
		if !(n <= float64(opts.MaxReplicas)) {
			errs = append(errs, &ClassError{Class: cm.c.Name, Reason: fmt.Sprintf(
				"%s needs up to %s replicas, more than the solver plans (Options.MaxReplicas %d); check the demand's units, or give its nodegroups max sizes",
				demandText(cm.c), count(n), opts.MaxReplicas)})
		}
	}
	if len(errs) == 0 && total > float64(opts.MaxReplicas) {
		errs = append(errs, fmt.Errorf("the demand needs up to %s replicas in all, more than the solver plans (Options.MaxReplicas %d)", count(total), opts.MaxReplicas))
	}
	gpus := 0.0
	for _, g := range m.groups {
		gpus += g.minGPUs
	}
	if gpus > float64(opts.MaxGPUs) {
		errs = append(errs, fmt.Errorf("nodegroup min sizes add up to %s GPUs, more than the solver plans (Options.MaxGPUs %d)", count(gpus), opts.MaxGPUs))
	}
	return errs
}

// count prints a whole number exactly while it is one a person reads.
func count(x float64) string {
	if x < 1e12 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}

// demandText says what a class asks for: "rate 420 requests/s",
// "3 replicas" or "minReplicas 4".
func demandText(c *Class) string {
	switch {
	case c.Rate > 0:
		return fmt.Sprintf("rate %.4g requests/s", c.Rate)
	case c.Replicas > 0:
		return fmt.Sprintf("%d replicas", c.Replicas)
	}
	return fmt.Sprintf("minReplicas %d", c.MinReplicas)
}

// setBounds fills the resource numbers of candidates and the replica upper
// bounds used to cap unlimited nodegroups in the lower bound.
func (m *model) setBounds() {
	for _, cm := range m.classes {
		minCap, minOD := math.Inf(1), math.Inf(1)
		for j := range cm.cands {
			cd := &cm.cands[j]
			g := m.groups[cd.g]
			cd.res = g.res0 + cd.kind
			cd.invCap, cd.listPerCap = 1/cd.cap, cd.list/cd.cap
			if g.memRes >= 0 {
				cd.memRes = g.memRes
			}
			minCap = math.Min(minCap, cd.cap)
			if cd.od {
				minOD = math.Min(minOD, cd.cap)
			}
		}
		if len(cm.cands) == 0 {
			continue
		}
		// A minimal plan (no replica removable) gives a class at most
		// enough replicas of its smallest option to cover the demand, the
		// on-demand share again, and its minimum.
		ub := max(cm.minRep, int(math.Ceil(cm.demand/minCap))) + 1
		if cm.f > 0 && !math.IsInf(minOD, 1) {
			ub += int(math.Ceil(cm.f * cm.demand / minOD))
		}
		cm.ub = ub
	}
	for _, g := range m.groups {
		g.capGPUs = m.computeGPUCap(g)
		m.prunePatterns(g)
		for i := range g.patterns {
			pt := &g.patterns[i]
			pt.isupply = make([]int, len(g.kinds))
			for k := range g.kinds {
				pt.isupply[k] = int(pt.supply[k])
			}
		}
	}
	// Sort candidates for determinism: by group, kind.
	for _, cm := range m.classes {
		sort.SliceStable(cm.cands, func(a, b int) bool {
			x, y := cm.cands[a], cm.cands[b]
			if x.g != y.g {
				return x.g < y.g
			}
			return x.kind < y.kind
		})
	}
}

// gpuCap is the GPU count the lower bound may assume a nodegroup has at
// most: its max size, or for a group without one, a GPU for every replica
// a minimal plan can have (every node of a minimal plan holds a replica).
func (m *model) gpuCap(g *group) float64 { return g.capGPUs }

func (m *model) computeGPUCap(g *group) float64 {
	if !math.IsInf(g.maxGPUs, 1) {
		return g.maxGPUs
	}
	total := 0
	for _, cm := range m.classes {
		for _, cd := range cm.cands {
			if cd.g == g.idx {
				total += cm.ub
				break
			}
		}
	}
	return float64(max(total, g.ng.Min) * g.gpn)
}

func orNone(s string) string {
	if s == "" {
		return "the class has no options"
	}
	return s
}

// prunePatterns drops from a mig-dynamic group's layouts the slot kinds no
// class can use (their slots would stay empty), then the layouts that
// supply nothing or are dominated by another (no more of any kind). The LP
// and the packings are the same with fewer layouts; the kept layouts still
// carry their full MIG placement.
func (m *model) prunePatterns(g *group) {
	if g.ng.Mode != ModeMIGDynamic {
		return
	}
	used := make([]bool, len(g.kinds))
	for _, cm := range m.classes {
		for _, cd := range cm.cands {
			if cd.g == g.idx {
				used[cd.kind] = true
			}
		}
	}
	var proj []pattern
	seen := map[string]bool{}
	for _, pt := range g.patterns {
		sup := make([]float64, len(pt.supply))
		any := false
		for k, v := range pt.supply {
			if used[k] && v > 0 {
				sup[k] = v
				any = true
			}
		}
		key := fmt.Sprint(sup)
		if !any || seen[key] {
			continue
		}
		seen[key] = true
		proj = append(proj, pattern{supply: sup, layout: pt.layout})
	}
	var out []pattern
	for i, a := range proj {
		dominated := false
		for j, b := range proj {
			if i != j && dominates(b.supply, a.supply) {
				dominated = true
				break
			}
		}
		if !dominated {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		g.patterns = out
	}
}

// dominates reports whether a supplies at least as much as b of every kind
// and more of one.
func dominates(a, b []float64) bool {
	more := false
	for k := range a {
		if a[k] < b[k] {
			return false
		}
		if a[k] > b[k] {
			more = true
		}
	}
	return more
}
