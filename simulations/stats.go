package simulations

import (
	"time"
)

// scrapeRec is one class's numbers over one scrape interval, as Prometheus
// would hold them after scraping the router.
type scrapeRec struct {
	at                          int64
	arrivals, completed, errors float64
	within                      float64
	inflight                    float64 // sampled at the scrape
	capacity                    float64 // req/s of the ready replicas at the scrape
	replicas                    int     // ready replicas at the scrape
	lat                         hist    // coarse, b=3
}

type classAcc struct {
	arrivals, completed, within, timeouts, drops, interrupted float64
	lat                                                       hist // fine, b=6
	slo                                                       int64
	cur                                                       scrapeRec
	ring                                                      []scrapeRec
	ringNext, ringN                                           int
	// chart period accumulators
	chArr, chDone, chWithin, chErr float64
	chLat                          hist
	// incidents: tumbling 5-minute and 1-minute windows from the start
	w5, w1         window
	w5lat          hist    // latencies of the 5-minute window (coarse)
	worst5         float64 // lowest share within SLO of a 5-minute window with requests
	worst5At       int64   // its end
	worst5P95      int64   // highest p95 of a 5-minute window, ns
	worst5P95At    int64   // its end
	minutesBelow   float64 // 1-minute windows below the class's target
	target         float64 // the SLO's percentile / 100
	scrapes5, scr1 int     // scrapes per window
	open           *incidentAcc
	// ready replicas summed over scrapes, and the most at one scrape
	replicaSum         float64
	replicaMax, scrape int
}

// window accumulates finished requests over a run of scrapes.
type window struct {
	n, within float64
	scrapes   int
}

// CostKey is a nodegroup and capacity type.
type costKey struct{ ng, capacity string }

type runStats struct {
	classes        []classAcc
	initial        bool
	costs          map[costKey]float64
	nodeHours      map[costKey]float64
	gpuUsed        float64 // MiB x scrape samples
	gpuTotal       float64
	scrape         int64
	chartEvery     int
	scrapesInChart int
	timeline       Timeline
	scratch        hist
	// incidents closed so far, and the fine points they hold
	incidents []Incident
	finePts   int
	// log is the controller's decision log, nil when it keeps none.
	log DecisionLogger
}

// ringLen bounds the longest window ClassStats answers: 40 scrapes (10
// minutes at 15s).
const ringLen = 40

func newRunStats(w *World, chartEvery int) *runStats {
	s := &runStats{classes: make([]classAcc, len(w.classes)), costs: map[costKey]float64{},
		nodeHours: map[costKey]float64{}, scrape: int64(w.opt.ScrapeInterval), chartEvery: max(chartEvery, 1),
		scratch: newHist(3)}
	for c := range s.classes {
		a := &s.classes[c]
		a.lat = newHist(6)
		a.slo = w.classes[c].slo
		a.cur.lat = newHist(3)
		a.chLat = newHist(3)
		a.w5lat = newHist(3)
		a.ring = make([]scrapeRec, ringLen)
		a.worst5, a.target = 1, w.classes[c].target
		a.scrapes5 = max(int((5*time.Minute+w.opt.ScrapeInterval-1)/w.opt.ScrapeInterval), 1)
		a.scr1 = max(int((time.Minute+w.opt.ScrapeInterval-1)/w.opt.ScrapeInterval), 1)
		for i := range a.ring {
			a.ring[i].lat = newHist(3)
		}
	}
	for _, c := range w.classes {
		s.timeline.Classes = append(s.timeline.Classes, c.name)
	}
	for _, g := range w.ngs {
		if g.gpu != nil {
			s.timeline.NodeGroups = append(s.timeline.NodeGroups, g.name)
		}
	}
	return s
}

func (s *runStats) arrivalMass(c int, m float64) {
	a := &s.classes[c]
	a.arrivals += m
	a.cur.arrivals += m
}

func (s *runStats) timeoutMass(c int, m float64) {
	a := &s.classes[c]
	a.timeouts += m
	a.cur.errors += m
}

func (s *runStats) dropMass(c int, m float64) {
	a := &s.classes[c]
	a.drops += m
	a.cur.errors += m
}

func (s *runStats) arrival(c int) {
	a := &s.classes[c]
	a.arrivals++
	a.cur.arrivals++
}

func (s *runStats) done(c int, lat int64) {
	a := &s.classes[c]
	a.completed++
	a.cur.completed++
	a.lat.add(lat, 1)
	a.cur.lat.add(lat, 1)
	if lat <= a.slo {
		a.within++
		a.cur.within++
	}
}

func (s *runStats) timeout(c int) {
	a := &s.classes[c]
	a.timeouts++
	a.cur.errors++
}

func (s *runStats) drop(c int) {
	a := &s.classes[c]
	a.drops++
	a.cur.errors++
}

func (s *runStats) interrupted(c int, n float64, _ int64) {
	a := &s.classes[c]
	a.interrupted += n
	a.cur.errors += n
}

// doneMass records flow-level completions: mass requests whose latency is
// distributed as F (ns), with share within of them inside the SLO.
func (s *runStats) doneMass(c int, mass, within float64, F func(float64) float64, lo, hi float64) {
	if mass <= 0 {
		return
	}
	a := &s.classes[c]
	a.completed += mass
	a.cur.completed += mass
	a.within += mass * within
	a.cur.within += mass * within
	a.lat.addCDF(mass, F, lo, hi)
	a.cur.lat.addCDF(mass, F, lo, hi)
}

// donePMF records flow-level completions with a cached distribution.
func (s *runStats) donePMF(c int, mass, within float64, fine, coarse *pmf) {
	if mass <= 0 {
		return
	}
	a := &s.classes[c]
	a.completed += mass
	a.cur.completed += mass
	a.within += mass * within
	a.cur.within += mass * within
	a.lat.addPMF(mass, fine)
	a.cur.lat.addPMF(mass, coarse)
}

func (s *runStats) nodeCost(ng *ngInfo, hours float64) {
	k := costKey{ng.name, ng.capacity}
	s.costs[k] += ng.price * hours
	s.nodeHours[k] += hours
}

// scrapeNow closes the current scrape interval of every class at time t.
func (s *runStats) scrapeNow(w *World, t int64) {
	for c := range s.classes {
		a := &s.classes[c]
		inflight, capa := float64(len(w.rq[c])), 0.0
		for _, pi := range w.ready[c] {
			pd := &w.pods[pi]
			inflight += float64(pd.outstanding())
			capa += float64(pd.conc) / w.classes[c].profiles[pd.prof].mean
		}
		if w.flow != nil {
			inflight = w.flow.inflight[c]
		}
		a.cur.inflight, a.cur.capacity, a.cur.replicas = inflight, capa, len(w.ready[c])
		a.cur.at = t
		slot := &a.ring[a.ringNext]
		slot.lat, a.cur.lat = a.cur.lat, slot.lat
		lat := slot.lat
		*slot = a.cur
		slot.lat = lat
		a.cur = scrapeRec{lat: a.cur.lat}
		a.cur.lat.reset()
		a.ringNext = (a.ringNext + 1) % ringLen
		a.ringN = min(a.ringN+1, ringLen)
		a.chArr += slot.arrivals
		a.chDone += slot.completed
		a.chWithin += slot.within
		a.chErr += slot.errors
		a.chLat.merge(&slot.lat)
		minute, below := a.incidents(slot, t)
		s.follow(w, c, slot, t, minute, below)
		a.replicaSum += float64(len(w.ready[c]))
		a.replicaMax = max(a.replicaMax, len(w.ready[c]))
		a.scrape++
	}
	// GPU memory: used by replicas on ready nodes over all GPU memory of
	// ready GPU nodes.
	used, total := 0.0, 0.0
	for i := range w.nodes {
		n := &w.nodes[i]
		if n.state != nodeReady || w.ngs[n.ng].gpu == nil {
			continue
		}
		total += float64(w.ngs[n.ng].inst.GPUs) * w.ngs[n.ng].gpu.MemoryGiB * 1024
		for _, sl := range n.slots {
			if sl.pod >= 0 && w.pods[sl.pod].phase >= podLoading {
				used += w.classes[w.pods[sl.pod].class].memMiB
			}
		}
	}
	s.gpuUsed += used
	s.gpuTotal += total
	s.scrapesInChart++
	if s.scrapesInChart >= s.chartEvery {
		s.chartPoint(w, t)
	}
}

// incidents folds one scrape into the 5- and 1-minute windows: a whole-run
// share or p95 can hide a 10-minute event, the worst window cannot. It
// reports whether a 1-minute window ended with this scrape, and whether
// that minute was below the class's target.
func (a *classAcc) incidents(r *scrapeRec, t int64) (minute, below bool) {
	n := r.completed + r.errors
	for _, w := range []*window{&a.w5, &a.w1} {
		w.n += n
		w.within += r.within
		w.scrapes++
	}
	a.w5lat.merge(&r.lat)
	if a.w5.scrapes >= a.scrapes5 {
		if a.w5.n > 0 && a.w5.within/a.w5.n < a.worst5 {
			a.worst5, a.worst5At = a.w5.within/a.w5.n, t
		}
		if q := int64(a.w5lat.quantile(0.95)); q > a.worst5P95 {
			a.worst5P95, a.worst5P95At = q, t
		}
		a.w5 = window{}
		a.w5lat.reset()
	}
	if a.w1.scrapes >= a.scr1 {
		minute = true
		below = a.w1.n > 0 && a.w1.within/a.w1.n < a.target
		if below {
			a.minutesBelow++
		}
		a.w1 = window{}
	}
	return minute, below
}

// recs returns the scrape records of class c with at in (now-window, now];
// at least the newest one when window is shorter than the scrape interval.
func (s *runStats) recs(c int, now, window int64, f func(*scrapeRec)) int {
	a := &s.classes[c]
	n := 0
	for k := 1; k <= a.ringN; k++ {
		r := &a.ring[(a.ringNext-k+ringLen)%ringLen]
		if r.at > now {
			continue
		}
		if r.at <= now-window && n > 0 {
			break
		}
		f(r)
		n++
		if r.at <= now-window {
			break // the newest record, older than a window shorter than the scrape interval
		}
	}
	return n
}

// Timeline is what the report charts: one point per chart step (about 360
// over the run: 56 minutes each over 14 days). Incidents keep their own
// points at the scrape interval (Result.Incidents).
type Timeline struct {
	Step       time.Duration `json:"step"`
	Classes    []string      `json:"classes"`
	NodeGroups []string      `json:"nodeGroups"`
	Points     []Point       `json:"points"`
}

// Point is the state at the end of one chart step.
type Point struct {
	T time.Duration `json:"t"` // offset from the start
	// Per class, in Timeline.Classes order.
	Rate       []float64 `json:"rate"`       // arrivals, req/s
	Capacity   []float64 `json:"capacity"`   // req/s the ready replicas serve at full concurrency
	Replicas   []int     `json:"replicas"`   // ready replicas
	P95        []float64 `json:"p95Ms"`      // p95 latency over the step, ms
	Attainment []float64 `json:"attainment"` // share within SLO over the step (NaN-free: 1 when idle)
	BandLo     []float64 `json:"bandLo,omitempty"`
	BandHi     []float64 `json:"bandHi,omitempty"`
	// Per nodegroup, in Timeline.NodeGroups order: nodes booting or ready.
	Nodes []int `json:"nodes"`
	// Cost is the cumulative cost in $ so far.
	Cost float64 `json:"cost"`
}

func (s *runStats) chartPoint(w *World, t int64) {
	dt := float64(s.scrapesInChart) * float64(s.scrape) / 1e9
	p := Point{T: time.Duration(t)}
	for c := range s.classes {
		a := &s.classes[c]
		p.Rate = append(p.Rate, a.chArr/dt)
		last := &a.ring[(a.ringNext-1+ringLen)%ringLen] // this scrape's
		p.Capacity = append(p.Capacity, last.capacity)
		p.Replicas = append(p.Replicas, last.replicas)
		p.P95 = append(p.P95, float64(a.chLat.quantile(0.95))/1e6)
		att := 1.0
		if n := a.chDone + a.chErr; n > 0 {
			att = a.chWithin / n
		}
		p.Attainment = append(p.Attainment, att)
		if w.bander != nil {
			lo, hi, ok := w.bander.Band(w.classes[c].name)
			if !ok {
				lo, hi = -1, -1
			}
			p.BandLo = append(p.BandLo, lo)
			p.BandHi = append(p.BandHi, hi)
		}
		a.chArr, a.chDone, a.chWithin, a.chErr = 0, 0, 0, 0
		a.chLat.reset()
	}
	for g := range w.ngs {
		if w.ngs[g].gpu != nil {
			p.Nodes = append(p.Nodes, len(w.liveNodes(g)))
		}
	}
	p.Cost = w.costSoFar()
	s.timeline.Points = append(s.timeline.Points, p)
	s.scrapesInChart = 0
}
