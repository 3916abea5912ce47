package simulations

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/binpack/catalog"
	"github.com/headroom-dev/headroom/policies"
)

// The simulated world: nodegroups, nodes with GPU slots, reader pods and a
// scheduler, on a virtual clock in nanoseconds from the workload's start.
// Nothing here reads the wall clock or starts a goroutine; every random
// draw comes from a PCG stream seeded from the run's seed, one stream per
// purpose, so that the request stream (arrivals and service-time draws) is
// the same whatever the controller does (common random numbers: policies
// are compared on identical traffic).

type nodeState uint8

const (
	nodeBooting nodeState = iota
	nodeReady
	nodeGone
)

type podPhase uint8

const (
	podPending podPhase = iota
	podLoading
	podReady
	podTerminating // no new requests; finishes what it has
	podGone
)

// classInfo is one model class as the world uses it.
type classInfo struct {
	name      string
	spec      *policies.ModelClass
	slo       int64 // latency target, ns
	target    float64
	memMiB    float64
	loadTime  int64
	loadSigma float64
	profiles  []profileInfo
	ngs       []int // nodegroups the class may run on
	replicas  int   // the Deployment's replica count
	minRep    int
	maxRep    int
}

// profileInfo is a class's service on one GPU/profile.
type profileInfo struct {
	gpu, name string
	mu, sigma float64 // lognormal of service time in seconds
	mean      float64 // seconds
	conc      int
	// q is the service-time quantile function in ns on an even grid of
	// svcGrid+1 points of u in [0,1] (ends at u = 1e-6 and 1-1e-6), so a
	// draw is a table lookup instead of exp(mu + sigma·Φ⁻¹(u)).
	q []float64
}

// svcGrid is the resolution of the service-time quantile table: 8192
// steps; the table is exact at its points and linear between them.
const svcGrid = 8192

func quantileTable(mu, sigma float64) []float64 {
	q := make([]float64, svcGrid+1)
	for i := range q {
		u := min(max(float64(i)/svcGrid, 1e-6), 1-1e-6)
		q[i] = math.Exp(mu+sigma*math.Sqrt2*math.Erfinv(2*u-1)) * 1e9
	}
	return q
}

// draw returns the service time in ns for a uniform u in [0,1).
func (p *profileInfo) draw(u float64) int64 {
	x := u * svcGrid
	i := int(x)
	f := x - float64(i)
	return int64(p.q[i] + f*(p.q[i+1]-p.q[i]))
}

type ngInfo struct {
	name        string
	spec        *policies.NodeGroup
	inst        *catalog.InstanceType
	gpu         *catalog.GPU
	capacity    string
	price       float64 // $/h per node
	boot        int64
	mode        string
	repartition int64
	defaultMIG  string
	desired     int
	min, max    int
	launching   int // launches waiting for a shortfall retry
	cost        float64
}

type slot struct {
	gpu     int
	profile string
	usable  float64 // MiB
	pod     int32   // -1 when free
}

type node struct {
	name      string
	ng        int
	state     nodeState
	cordoned  bool
	launched  int64
	readyAt   int64
	goneAt    int64
	migConfig string
	migState  string
	slots     []slot
	pulled    []bool // per class: image already on the node
	interrupt int64  // spot termination time, 0 none
	noticed   bool
	migGen    int64 // bumped by every re-partition, to drop stale completions
}

type qent struct{ arr, svc int64 }

type pod struct {
	name    string
	class   int
	node    int32
	slot    int32
	prof    int // index into class profiles, -1 until scheduled
	phase   podPhase
	created int64
	readyAt int64
	conc    int32
	busy    int32
	// FCFS queue as a ring buffer.
	q           []qent
	qhead, qn   int
	interrupted bool
}

func (p *pod) outstanding() int32 { return p.busy + int32(p.qn) }

// World is one simulated cluster and cloud.
type World struct {
	opt     WorldOptions
	pol     *policies.Policy
	cat     *catalog.Catalog
	start   time.Time
	now     int64
	classes []classInfo
	ngs     []ngInfo
	nodes   []node
	// published are the MIG configs the controller published (the
	// mig-parted ConfigMap), by name: what the MIG manager reads.
	published map[string]catalog.MIGConfig
	pods      []pod
	ready     [][]int32 // per class: ready pod indices, for routing
	// router queue per class (no ready replica)
	rq      [][]qent
	dirty   bool // the scheduler should run
	cold    eventHeap
	seq     uint64
	rngBoot *rand.Rand
	rngLoad *rand.Rand
	rngSpot *rand.Rand
	nodeSeq int
	podSeq  int
	stats   *runStats
	hot     complHeap  // request completions
	flow    *flowState // flow-level mode only
	bander  Bander
	// counters reported in the result
	repartitions, drains, evictions, interruptedPods, spotInterruptions, shortfalls int
	resources                                                                       map[string]Resources
}

// Resources is a vertical recommendation the controller wrote.
type Resources struct{ CPUCores, MemoryBytes float64 }

// newWorld builds the world from a validated, defaulted policy.
func newWorld(pol *policies.Policy, cat *catalog.Catalog, opt WorldOptions, start time.Time, seed uint64) (*World, error) {
	w := &World{opt: opt, pol: pol, cat: cat, start: start, published: map[string]catalog.MIGConfig{},
		rngBoot:   rand.New(rand.NewPCG(seed, 0x626f6f74)),
		rngLoad:   rand.New(rand.NewPCG(seed, 0x6c6f6164)),
		rngSpot:   rand.New(rand.NewPCG(seed, 0x73706f74)),
		resources: map[string]Resources{},
	}
	for i := range pol.NodeGroups {
		ng := &pol.NodeGroups[i]
		it, ok := cat.Instance(ng.Spec.InstanceType)
		if !ok {
			return nil, fmt.Errorf("nodegroup %s: instance type %q is not in the catalog", ng.Name, ng.Spec.InstanceType)
		}
		info := ngInfo{name: ng.Name, spec: ng, inst: it, capacity: ng.Spec.CapacityType,
			price: it.Price(ng.Spec.CapacityType), boot: int64(ng.Spec.BootTime.Duration),
			mode: ng.Spec.GPU.Mode, repartition: int64(ng.Spec.GPU.RepartitionTime.Duration),
			min: ng.Spec.Size.Min, max: ng.Spec.Size.Max}
		if info.capacity == "" {
			info.capacity = policies.CapacityOnDemand
		}
		if info.boot <= 0 {
			info.boot = int64(5 * time.Minute)
		}
		if info.repartition <= 0 {
			info.repartition = int64(2 * time.Minute)
		}
		if it.GPU != "" {
			info.gpu, _ = cat.GPU(it.GPU)
		}
		if info.mode == "" {
			info.mode = policies.GPUModeWhole
			if info.gpu == nil {
				info.mode = policies.GPUModeNone
			}
		}
		w.ngs = append(w.ngs, info)
	}
	for i := range pol.Classes {
		ci, err := w.classInfo(&pol.Classes[i])
		if err != nil {
			return nil, err
		}
		w.classes = append(w.classes, ci)
	}
	// Each mig-dynamic nodegroup starts with a mixed layout that serves
	// every class that may run there: the first MIG profile of each such
	// class, placed largest first, round after round until the GPU is full
	// (named as the scaler names it: all-<n>x<profile>-...). headroom may
	// re-partition; the baselines keep it.
	for g := range w.ngs {
		ng := &w.ngs[g]
		if ng.mode != policies.GPUModeMIGDynamic || ng.gpu == nil {
			continue
		}
		ng.defaultMIG = w.mixedLayout(g)
	}
	w.ready = make([][]int32, len(w.classes))
	w.rq = make([][]qent, len(w.classes))
	return w, nil
}

func (w *World) mixedLayout(g int) string {
	ng := &w.ngs[g]
	var profs []catalog.Profile
	for _, c := range w.classes {
		if !slices.Contains(c.ngs, g) {
			continue
		}
		for _, p := range c.profiles {
			if cp, ok := ng.gpu.Profile(p.name); ok && p.gpu == ng.gpu.Name && cp.Memory > 0 {
				if !slices.ContainsFunc(profs, func(q catalog.Profile) bool { return q.Name == cp.Name }) {
					profs = append(profs, cp)
				}
				break
			}
		}
	}
	if len(profs) == 0 {
		return "all-disabled"
	}
	sort.SliceStable(profs, func(a, b int) bool { return profs[a].Memory > profs[b].Memory })
	var l catalog.Layout
	for placed := true; placed; {
		placed = false
		for _, p := range profs {
			if next, ok := ng.gpu.Place(l, p.Name); ok {
				l, placed = next, true
			}
		}
	}
	return catalog.UniformMIG(l.Counts()).Name
}

func (w *World) classInfo(mc *policies.ModelClass) (classInfo, error) {
	s := &mc.Spec
	ci := classInfo{name: mc.Name, spec: mc, slo: int64(s.SLO.Latency.Duration),
		target: s.SLO.Percentile / 100, loadTime: int64(s.Model.LoadTime.Duration),
		minRep: s.Scaling.MinReplicas, maxRep: s.Scaling.MaxReplicas}
	if ci.target <= 0 {
		ci.target = 0.95
	}
	if ci.loadTime <= 0 {
		ci.loadTime = int64(60 * time.Second)
	}
	if ci.maxRep <= 0 {
		ci.maxRep = 100
	}
	ci.memMiB = float64(s.GPUMemory.Value()) / (1 << 20)
	switch s.Model.Source {
	case policies.ModelSourceLocal:
		ci.loadSigma = w.opt.LoadJitterLocal
	case policies.ModelSourceS3:
		ci.loadSigma = w.opt.LoadJitterS3
	default:
		ci.loadSigma = w.opt.LoadJitterEFS
	}
	for _, p := range s.Profiles {
		mean := p.ServiceTime.Mean.Seconds()
		p95 := p.ServiceTime.P95.Seconds()
		if mean <= 0 {
			return ci, fmt.Errorf("class %s: profile %s/%s has no mean service time", mc.Name, p.GPU, p.Profile)
		}
		if p95 <= 0 {
			p95 = 2 * mean
		}
		mu, sigma := lognormalFit(mean, p95)
		conc := max(p.Concurrency, 1)
		ci.profiles = append(ci.profiles, profileInfo{gpu: p.GPU, name: p.Profile, mu: mu, sigma: sigma, mean: mean, conc: conc, q: quantileTable(mu, sigma)})
	}
	if len(ci.profiles) == 0 {
		return ci, fmt.Errorf("class %s has no service profiles", mc.Name)
	}
	for g, ng := range w.ngs {
		if len(s.Placement.NodeGroups) > 0 && !slices.Contains(s.Placement.NodeGroups, ng.name) {
			continue
		}
		if s.Placement.Spot == policies.SpotNever && ng.capacity == policies.CapacitySpot {
			continue
		}
		for _, p := range ci.profiles {
			if p.gpu == ng.gpuName() {
				ci.ngs = append(ci.ngs, g)
				break
			}
		}
	}
	if len(ci.ngs) == 0 {
		return ci, fmt.Errorf("class %s: no nodegroup has a GPU matching its profiles", mc.Name)
	}
	return ci, nil
}

// z95 is the standard normal 95th percentile.
const z95 = 1.6448536269514722

// lognormalFit fits a lognormal to a mean and 95th percentile (seconds):
// ln(p/m) = z·σ - σ²/2, smaller root σ = z - sqrt(z² - 2 ln(p/m)), capped
// at z where no root exists (p/m > 3.87); μ = ln m - σ²/2.
func lognormalFit(mean, p95 float64) (mu, sigma float64) {
	r := math.Log(p95 / mean)
	d := z95*z95 - 2*r
	switch {
	case r <= 0:
		sigma = 1e-3
	case d <= 0:
		sigma = z95
	default:
		sigma = z95 - math.Sqrt(d)
	}
	sigma = max(sigma, 1e-3)
	return math.Log(mean) - sigma*sigma/2, sigma
}

func (w *World) jitter(r *rand.Rand, d int64, sigma float64) int64 {
	if sigma <= 0 {
		return d
	}
	f := math.Exp(sigma*r.NormFloat64() - sigma*sigma/2)
	return int64(float64(d) * f)
}

// ---- time ----

func (w *World) at(off int64) time.Time { return w.start.Add(time.Duration(off)) }
func (w *World) off(t time.Time) int64  { return int64(t.Sub(w.start)) }

// ---- cold events ----

type evKind uint8

const (
	evNodeReady evKind = iota
	evPodReady
	evSpotNotice
	evSpotEnd
	evMIGDone
	evLaunchRetry
	evScrape
	evTick
	evFlow
)

type event struct {
	t    int64
	seq  uint64
	kind evKind
	a    int32
	b    int64
}

type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a.less(r, l) {
			m = r
		}
		if !a.less(m, i) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

func (w *World) schedule(t int64, k evKind, a int32, b int64) {
	w.seq++
	w.cold.push(event{t: t, seq: w.seq, kind: k, a: a, b: b})
}

// ---- nodes ----

// launch starts one node of nodegroup g; a spot launch may find no capacity.
func (w *World) launch(g int, instant bool) {
	ng := &w.ngs[g]
	if ng.capacity == policies.CapacitySpot && !instant && w.opt.SpotShortfall > 0 && w.rngSpot.Float64() < w.opt.SpotShortfall {
		w.shortfalls++
		ng.launching++
		w.schedule(w.now+int64(w.opt.ShortfallRetry), evLaunchRetry, int32(g), 0)
		return
	}
	w.nodeSeq++
	n := node{name: fmt.Sprintf("%s-%05d", ng.name, w.nodeSeq), ng: g, launched: w.now,
		pulled: make([]bool, len(w.classes)), migConfig: ng.defaultMIG}
	if ng.spec.Spec.GPU.Layout != nil && ng.mode == policies.GPUModeMIGFixed {
		n.migConfig = ng.spec.Spec.GPU.Layout.Name
	}
	idx := int32(len(w.nodes))
	boot := w.jitter(w.rngBoot, ng.boot, w.opt.BootJitter)
	if instant {
		boot = 0
		n.launched = w.now - ng.boot // booted before the run began; billed from the start
		if n.launched < 0 {
			n.launched = 0
		}
	}
	if ng.capacity == policies.CapacitySpot && w.opt.SpotInterruptionsPerHour > 0 {
		life := w.rngSpot.ExpFloat64() / w.opt.SpotInterruptionsPerHour * float64(time.Hour)
		if life < float64(math.MaxInt64/4) {
			n.interrupt = w.now + boot + int64(life)
			notice := max(n.interrupt-int64(w.opt.SpotNotice), w.now)
			w.schedule(notice, evSpotNotice, idx, 0)
			w.schedule(n.interrupt, evSpotEnd, idx, 0)
		}
	}
	w.nodes = append(w.nodes, n)
	if instant {
		w.nodeReady(idx)
	} else {
		w.schedule(w.now+boot, evNodeReady, idx, 0)
	}
}

func (w *World) nodeReady(i int32) {
	n := &w.nodes[i]
	if n.state != nodeBooting {
		return
	}
	n.state = nodeReady
	n.readyAt = w.now
	n.migState = ""
	if w.ngs[n.ng].gpu != nil && strings.HasPrefix(w.ngs[n.ng].mode, "mig") {
		n.migState = "success"
	}
	n.slots = w.buildSlots(n.ng, n.migConfig)
	w.dirty = true
}

// buildSlots lays out a node's GPU instances for a MIG config.
func (w *World) buildSlots(g int, cfg string) []slot {
	ng := &w.ngs[g]
	if ng.gpu == nil {
		// CPU-only: one slot per vCPU; fits checks CPU and memory requests.
		out := make([]slot, ng.inst.VCPU)
		for i := range out {
			out[i] = slot{gpu: -1, profile: profileCPU, pod: -1}
		}
		return out
	}
	gpus := ng.inst.GPUs
	mib := func(gib float64) float64 { return gib * 1024 }
	var out []slot
	switch ng.mode {
	case policies.GPUModeWhole:
		for i := 0; i < gpus; i++ {
			out = append(out, slot{gpu: i, profile: catalog.ProfileWhole, usable: mib(ng.gpu.MemoryGiB), pod: -1})
		}
	case policies.GPUModeTimeSliced:
		r := max(ng.spec.Spec.GPU.Replicas, 1)
		for i := 0; i < gpus; i++ {
			for j := 0; j < r; j++ {
				out = append(out, slot{gpu: i, profile: catalog.ProfileTimeSliced, usable: mib(ng.gpu.MemoryGiB), pod: -1})
			}
		}
	default: // mig-fixed, mig-dynamic
		perGPU, err := w.migCounts(g, cfg)
		if err != nil {
			return nil
		}
		for i, counts := range perGPU {
			if len(counts) == 0 {
				out = append(out, slot{gpu: i, profile: catalog.ProfileWhole, usable: mib(ng.gpu.MemoryGiB), pod: -1})
			}
			for _, name := range slices.Sorted(maps.Keys(counts)) {
				p, _ := ng.gpu.Profile(name)
				for range counts[name] {
					out = append(out, slot{gpu: i, profile: name, usable: mib(p.UsableGiB), pod: -1})
				}
			}
		}
	}
	return out
}

// migCounts is what the MIG manager makes of a nvidia.com/mig.config
// value: the config of that name among those published (the controller
// writes them before it sets the label), else the nodegroup's own mig-fixed
// layout, else the name read as catalog.ParseMIGConfigName does; checked
// against the GPU and node. It returns the profile counts of each GPU (an
// empty map: MIG off, a whole GPU).
func (w *World) migCounts(g int, name string) ([]map[string]int, error) {
	ng := &w.ngs[g]
	if ng.gpu == nil {
		return nil, fmt.Errorf("nodegroup %s has no GPU", ng.name)
	}
	if name == "" || !ng.gpu.MIG {
		return catalog.MIGDisabled().PerGPU(ng.inst.GPUs), nil
	}
	cfg, ok := w.published[name]
	if l := ng.spec.Spec.GPU.Layout; !ok && l != nil && name == l.Name {
		cfg, ok = catalog.FixedMIG(l.Name, l.Devices), true
	}
	if !ok {
		var err error
		if cfg, err = catalog.ParseMIGConfigName(name, ng.gpu); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(ng.gpu, ng.inst.GPUs); err != nil {
		return nil, err
	}
	return cfg.PerGPU(ng.inst.GPUs), nil
}

// liveNodes returns the nodes of nodegroup g that are booting or ready.
func (w *World) liveNodes(g int) []int32 {
	var out []int32
	for i := range w.nodes {
		if w.nodes[i].ng == g && w.nodes[i].state != nodeGone {
			out = append(out, int32(i))
		}
	}
	return out
}

// reconcileNodeGroup launches or terminates nodes toward the desired size,
// as an Auto Scaling group does. Scale-in picks, in order: cordoned empty
// nodes, booting nodes, empty nodes, the nodes with fewest pods, newest
// first (what a drained node looks like, so a controller that drains first
// gets the node it meant).
func (w *World) reconcileNodeGroup(g int, instant bool) {
	ng := &w.ngs[g]
	live := w.liveNodes(g)
	have := len(live) + ng.launching
	for ; have < ng.desired; have++ {
		w.launch(g, instant)
	}
	excess := len(live) - ng.desired
	if excess <= 0 {
		return
	}
	type cand struct {
		i     int32
		score int
	}
	cands := make([]cand, 0, len(live))
	for _, i := range live {
		n := &w.nodes[i]
		pods := 0
		for _, s := range n.slots {
			if s.pod >= 0 {
				pods++
			}
		}
		score := 3000 + pods
		switch {
		case n.cordoned && pods == 0:
			score = 0
		case n.state == nodeBooting:
			score = 1000
		case pods == 0:
			score = 2000
		}
		cands = append(cands, cand{i, score})
	}
	sort.SliceStable(cands, func(a, b int) bool {
		if cands[a].score != cands[b].score {
			return cands[a].score < cands[b].score
		}
		return cands[a].i > cands[b].i
	})
	for _, c := range cands[:excess] {
		w.terminateNode(c.i)
	}
}

// terminateNode removes a node at once; pods on it die with their requests.
func (w *World) terminateNode(i int32) {
	n := &w.nodes[i]
	if n.state == nodeGone {
		return
	}
	for si := range n.slots {
		if p := n.slots[si].pod; p >= 0 {
			w.killPod(p)
		}
	}
	n.state = nodeGone
	n.goneAt = w.now
	ng := &w.ngs[n.ng]
	ng.cost += ng.price * float64(w.now-n.launched) / float64(time.Hour)
	w.stats.nodeCost(ng, float64(w.now-n.launched)/float64(time.Hour))
	w.dirty = true
}

// ---- pods ----

func (w *World) newPod(c int) {
	w.podSeq++
	w.pods = append(w.pods, pod{name: fmt.Sprintf("%s-%06d", w.classes[c].name, w.podSeq), class: c,
		node: -1, slot: -1, prof: -1, phase: podPending, created: w.now})
	w.dirty = true
}

// reconcileClass creates or deletes pods toward the class's replica count,
// as a ReplicaSet does: it deletes pending pods first, then loading ones,
// then the newest ready ones.
func (w *World) reconcileClass(c int) {
	var live []int32
	for i := range w.pods {
		p := &w.pods[i]
		if p.class == c && p.phase <= podReady {
			live = append(live, int32(i))
		}
	}
	want := w.classes[c].replicas
	for n := len(live); n < want; n++ {
		w.newPod(c)
	}
	excess := len(live) - want
	if excess <= 0 {
		return
	}
	sort.SliceStable(live, func(a, b int) bool {
		pa, pb := &w.pods[live[a]], &w.pods[live[b]]
		if pa.phase != pb.phase {
			return pa.phase < pb.phase
		}
		return live[a] > live[b]
	})
	for _, i := range live[:excess] {
		w.stopPod(i)
	}
}

// stopPod ends a pod gracefully: no new requests, it finishes its queue.
func (w *World) stopPod(i int32) {
	p := &w.pods[i]
	switch p.phase {
	case podPending:
		p.phase = podGone
	case podLoading:
		w.freeSlot(i)
		p.phase = podGone
	case podReady:
		p.phase = podTerminating
		w.removeReady(i)
		if p.outstanding() == 0 {
			w.finishPod(i)
		}
	}
}

// killPod ends a pod at once; its requests fail.
func (w *World) killPod(i int32) {
	p := &w.pods[i]
	if p.phase == podGone {
		return
	}
	if p.phase == podReady || p.phase == podTerminating {
		if lost := p.outstanding(); lost > 0 {
			w.stats.interrupted(p.class, float64(lost), w.now)
		}
		w.interruptedPods++
		p.interrupted = true
		if p.phase == podReady {
			w.removeReady(i)
		}
	}
	w.freeSlot(i)
	p.busy, p.qn, p.qhead = 0, 0, 0
	p.phase = podGone
	w.reconcileClass(p.class)
}

func (w *World) finishPod(i int32) {
	w.freeSlot(i)
	w.pods[i].phase = podGone
}

func (w *World) freeSlot(i int32) {
	p := &w.pods[i]
	if p.node >= 0 && p.slot >= 0 {
		n := &w.nodes[p.node]
		if int(p.slot) < len(n.slots) && n.slots[p.slot].pod == i {
			n.slots[p.slot].pod = -1
		}
		w.dirty = true
	}
	p.slot = -1
}

func (w *World) removeReady(i int32) {
	c := w.pods[i].class
	r := w.ready[c]
	if k := slices.Index(r, i); k >= 0 {
		w.ready[c] = slices.Delete(r, k, k+1)
	}
}

func (w *World) podReady(i int32) {
	p := &w.pods[i]
	if p.phase != podLoading {
		return
	}
	p.phase = podReady
	p.readyAt = w.now
	w.ready[p.class] = append(w.ready[p.class], i)
	w.drainRouterQueue(p.class)
}

// ---- scheduler ----

// runScheduler binds pending pods to free GPU slots. A pod takes the
// smallest free slice its class has a profile for and fits in (the
// right-sized slice its Deployment would request; big slices stay free for
// big models); among nodes offering that, the fullest (fewest free slots),
// oldest first on ties, so nodes empty out for scale-down (kube-scheduler's
// MostAllocated score). With instant, it adds ready nodes for pods that do not fit
// (the cluster as it was when the recording began).
func (w *World) runScheduler(instant bool) {
	w.dirty = false
	for i := range w.pods {
		if w.pods[i].phase != podPending {
			continue
		}
		if !w.place(int32(i)) && instant {
			if g := w.cheapestNodeGroupFor(w.pods[i].class); g >= 0 {
				w.ngs[g].desired++
				w.launch(g, true)
				w.place(int32(i))
			}
		}
	}
}

func (w *World) place(pi int32) bool {
	p := &w.pods[pi]
	ci := &w.classes[p.class]
	bestN, bestS, bestFree, bestProf := int32(-1), -1, math.MaxInt, -1
	bestSize := math.Inf(1)
	for _, g := range ci.ngs {
		for ni := range w.nodes {
			n := &w.nodes[ni]
			if n.ng != g || n.state != nodeReady || n.cordoned || n.migState == "pending" {
				continue
			}
			free := 0
			fs, fp, fsize := -1, -1, math.Inf(1)
			for si := range n.slots {
				s := &n.slots[si]
				if s.pod >= 0 {
					continue
				}
				free++
				k := w.profileFor(ci, w.ngs[g].gpuName(), s.profile)
				if k < 0 || s.usable >= fsize {
					continue
				}
				if w.fits(n, si, ci) {
					fs, fp, fsize = si, k, s.usable
				}
			}
			if fs >= 0 && (fsize < bestSize || (fsize == bestSize && free < bestFree)) {
				bestN, bestS, bestFree, bestProf, bestSize = int32(ni), fs, free, fp, fsize
			}
		}
	}
	if bestN < 0 {
		return false
	}
	n := &w.nodes[bestN]
	n.slots[bestS].pod = pi
	p.node, p.slot, p.prof = bestN, int32(bestS), bestProf
	p.conc = int32(ci.profiles[bestProf].conc)
	p.phase = podLoading
	start := int64(0)
	if !n.pulled[p.class] {
		start = int64(w.opt.ImagePull)
		n.pulled[p.class] = true
	}
	load := w.jitter(w.rngLoad, ci.loadTime, ci.loadSigma)
	if w.now == 0 && w.stats != nil && w.stats.initial {
		start, load = 0, 0
	}
	if start+load == 0 {
		w.podReady(pi)
	} else {
		w.schedule(w.now+start+load, evPodReady, pi, 0)
	}
	return true
}

func (w *World) profileFor(ci *classInfo, gpu, profile string) int {
	for k, p := range ci.profiles {
		if p.gpu == gpu && p.name == profile {
			return k
		}
	}
	return -1
}

// fits checks GPU memory: a slot holds the replica's memory; on a
// time-sliced GPU all replicas together must fit the GPU.
func (w *World) fits(n *node, si int, ci *classInfo) bool {
	s := &n.slots[si]
	if s.profile == profileCPU {
		it := w.ngs[n.ng].inst
		cpu := ci.spec.Spec.Resources.CPU.AsApproximateFloat64()
		mem := ci.spec.Spec.Resources.Memory.AsApproximateFloat64()
		for _, o := range n.slots {
			if o.pod >= 0 {
				r := &w.classes[w.pods[o.pod].class].spec.Spec.Resources
				cpu += r.CPU.AsApproximateFloat64()
				mem += r.Memory.AsApproximateFloat64()
			}
		}
		return cpu <= float64(it.VCPU) && mem <= it.MemoryGiB*(1<<30)
	}
	if ci.memMiB > s.usable {
		return false
	}
	if s.profile != catalog.ProfileTimeSliced {
		return true
	}
	used := ci.memMiB
	for _, o := range n.slots {
		if o.gpu == s.gpu && o.pod >= 0 {
			used += w.classes[w.pods[o.pod].class].memMiB
		}
	}
	return used <= s.usable
}

// cheapestNodeGroupFor returns the nodegroup with the lowest price per
// fitting slot for class c, below its max size; -1 if none.
func (w *World) cheapestNodeGroupFor(c int) int {
	best, bestCost := -1, math.Inf(1)
	ci := &w.classes[c]
	for _, g := range ci.ngs {
		ng := &w.ngs[g]
		if len(w.liveNodes(g)) >= ng.max && ng.max > 0 {
			continue
		}
		slots := 0
		for _, s := range w.buildSlots(g, ng.defaultMIGOrLayout()) {
			if w.profileFor(ci, ng.gpuName(), s.profile) >= 0 && (s.profile == profileCPU || ci.memMiB <= s.usable) {
				slots++
			}
		}
		if slots == 0 {
			continue
		}
		if cost := ng.price / float64(slots); cost < bestCost {
			best, bestCost = g, cost
		}
	}
	return best
}

// profileCPU is the profile of CPU-only classes (retrievers, stores).
const profileCPU = "cpu"

func (ng *ngInfo) gpuName() string {
	if ng.gpu == nil {
		return ""
	}
	return ng.gpu.Name
}

func (ng *ngInfo) defaultMIGOrLayout() string {
	if ng.spec.Spec.GPU.Layout != nil && ng.mode == policies.GPUModeMIGFixed {
		return ng.spec.Spec.GPU.Layout.Name
	}
	return ng.defaultMIG
}

// ---- spot and MIG ----

func (w *World) handle(e event) {
	switch e.kind {
	case evNodeReady:
		w.nodeReady(e.a)
	case evPodReady:
		w.podReady(e.a)
	case evSpotNotice:
		if n := &w.nodes[e.a]; n.state != nodeGone {
			n.noticed = true
		}
	case evSpotEnd:
		n := &w.nodes[e.a]
		if n.state != nodeGone && n.interrupt == e.t {
			w.spotInterruptions++
			g := n.ng
			w.terminateNode(e.a)
			w.reconcileNodeGroup(g, false) // the ASG replaces it
		}
	case evMIGDone:
		n := &w.nodes[e.a]
		if n.state == nodeReady && n.migState == "pending" && e.b == n.migGen {
			n.migState = "success"
			n.slots = w.buildSlots(n.ng, n.migConfig)
			w.dirty = true
		}
	case evLaunchRetry:
		ng := &w.ngs[e.a]
		if ng.launching > 0 {
			ng.launching--
			if len(w.liveNodes(int(e.a)))+ng.launching < ng.desired {
				w.launch(int(e.a), false)
			}
		}
	}
}

// setMIG publishes a config and sets a node's label to it, which starts a
// re-partition: the GPUs are unusable for the nodegroup's repartition time,
// and pods still on the node are killed (the MIG manager stops GPU clients;
// a careful controller drains first).
func (w *World) setMIG(ni int32, mig catalog.MIGConfig) error {
	n := &w.nodes[ni]
	ng := &w.ngs[n.ng]
	if ng.mode != policies.GPUModeMIGDynamic && ng.mode != policies.GPUModeMIGFixed {
		return fmt.Errorf("node %s: nodegroup %s is not in a MIG mode", n.name, ng.name)
	}
	if mig.Name == "" {
		return fmt.Errorf("node %s: MIG config without a name", n.name)
	}
	w.published[mig.Name] = mig
	cfg := mig.Name
	if _, err := w.migCounts(n.ng, cfg); err != nil {
		n.migConfig, n.migState = cfg, "failed"
		return nil // the label is set; the MIG manager reports the failure
	}
	if cfg == n.migConfig && n.migState == "success" {
		return nil
	}
	for si := range n.slots {
		if p := n.slots[si].pod; p >= 0 {
			w.killPod(p)
		}
	}
	n.migConfig, n.migState = cfg, "pending"
	n.slots = nil
	n.migGen++
	w.repartitions++
	if n.state == nodeReady {
		w.schedule(w.now+ng.repartition, evMIGDone, ni, n.migGen)
	}
	return nil
}
