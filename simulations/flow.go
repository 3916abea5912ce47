package simulations

import (
	"math"
)

// The flow-level mode: instead of individual requests, each time step and
// class is one operating point of an M/G/c queue.
//
//   - Arrivals in a step are Poisson at the trace's rate for that step.
//   - The ready replicas of a class are grouped by profile; group k has
//     c_k = replicas x concurrency servers with lognormal service times
//     (fitted to the profile's mean and p95) and gets a share of the load
//     proportional to its capacity c_k/E[S_k], as least-outstanding
//     routing spreads it.
//   - A stable group (load below 98% of capacity, nothing backlogged) is
//     in steady state: Erlang C gives the probability of waiting, the
//     Allen-Cunneen approximation scales the exponential waiting tail by
//     (1+Cs²)/2, and latency = wait + service, with
//     P(T ≤ t) = F_S(t) - C·E[e^{-θ(t-S)}; S ≤ t] integrated numerically.
//   - Beyond that, load is a fluid: what capacity cannot serve joins a FIFO
//     backlog of chunks; a chunk is served at a deterministic wait (its
//     age plus its position over the capacity) or fails as a timeout when
//     it is older than the queue timeout. With no ready replica everything
//     joins the backlog (the router holds it).
//
// This model is the world's, written independently of the scaler's sizing
// model (which it would otherwise only confirm); its agreement with the
// request-level simulation is measured in flow_test.go and documented in
// docs/simulations.md. Steps repeat operating points (rates are held over
// a trace's windows), so evaluated distributions are cached.

type chunk struct {
	mass float64
	arr  int64
	// wait is the FIFO wait of the chunk's requests, the queue ahead of
	// them over the capacity when they arrived (Little's law), in seconds;
	// negative when no replica was ready: they wait for one, by age.
	wait float64
}

type flowKey struct {
	class, prof, servers int32
	lam                  int64 // rate in milli-requests/s
}

// flowDist is a cached stationary latency distribution: its CDF on a
// log-spaced grid (8 points per octave) and its exact SLO attainment.
type flowDist struct {
	within       float64
	mean         float64 // mean latency, s
	x0           float64 // log2 of the first grid point, ns
	cdf          []float64
	fine, coarse pmf // binned for the run's histograms
}

type flowState struct {
	step_    int64
	wl       *Workload
	backlog  [][]chunk
	inflight []float64
	cache    map[flowKey]*flowDist
	groups   []fgroup
}

type fgroup struct {
	prof    int
	servers int
}

func newFlowState(w *World, wl *Workload, step int64) *flowState {
	return &flowState{step_: step, wl: wl, backlog: make([][]chunk, len(w.classes)),
		inflight: make([]float64, len(w.classes)), cache: map[flowKey]*flowDist{}}
}

const gridPerOctave = 8

// step advances every class over [t, t+step).
func (f *flowState) step(w *World, t int64) {
	dt := float64(f.step_) / 1e9
	timeout := int64(w.opt.QueueTimeout)
	for c := range w.classes {
		ci := &w.classes[c]
		lam := f.wl.RateAt(c, t)
		arrivals := lam * dt
		w.stats.arrivalMass(c, arrivals)
		// capacity by profile group
		f.groups = f.groups[:0]
		capacity := 0.0
		for _, pi := range w.ready[c] {
			p := &w.pods[pi]
			found := false
			for k := range f.groups {
				if f.groups[k].prof == p.prof {
					f.groups[k].servers += int(p.conc)
					found = true
				}
			}
			if !found {
				f.groups = append(f.groups, fgroup{prof: p.prof, servers: int(p.conc)})
			}
			capacity += float64(p.conc) / ci.profiles[p.prof].mean
		}
		// the profile that serves backlog (the biggest group)
		bp := 0
		if len(f.groups) > 0 {
			bp = f.groups[0].prof
			for _, g := range f.groups {
				if float64(g.servers)/ci.profiles[g.prof].mean > float64(f.groupCap(ci, bp)) {
					bp = g.prof
				}
			}
		}
		avail := capacity * dt
		// serve the backlog, oldest first
		used := 0.0
		q := f.backlog[c]
		k := 0
		for k < len(q) {
			ch := &q[k]
			age := float64(t-ch.arr) / 1e9
			if ch.wait >= 0 && ch.wait > float64(timeout)/1e9 || ch.wait < 0 && age > float64(timeout)/1e9 {
				w.stats.timeoutMass(c, ch.mass)
				k++
				continue
			}
			if avail-used <= 1e-12 {
				break
			}
			m := math.Min(ch.mass, avail-used)
			wait := ch.wait
			if wait < 0 {
				wait = age + (used+m/2)/capacity
			}
			f.addShifted(w, c, bp, m, wait)
			used += m
			ch.mass -= m
			if ch.mass <= 1e-12 {
				k++
			}
		}
		q = q[k:]
		rem := avail - used
		waitSum := 0.0
		if len(q) == 0 && capacity > 0 && arrivals < rem {
			// steady state per group, at the group's share of the load, up
			// to 98% of the capacity left after the backlog
			scale := rem / avail
			lamS := math.Min(lam, stableLoad*capacity*scale)
			queued := 0.0 // mean wait of the busiest group, s
			for _, g := range f.groups {
				share := float64(g.servers) / ci.profiles[g.prof].mean / capacity
				d := f.dist(w, c, g.prof, g.servers, lamS*share/scale)
				w.stats.donePMF(c, lamS*dt*share, d.within, &d.fine, &d.coarse)
				waitSum += lamS * share * d.mean
				queued = math.Max(queued, d.mean-ci.profiles[g.prof].mean)
			}
			// beyond that, a fluid: served in the capacity left at the
			// steady-state wait plus half of what piles up, the rest queues
			if excess := arrivals - lamS*dt; excess > 1e-12 {
				left := math.Max(rem-lamS*dt, 0)
				served := math.Min(excess, left)
				if served > 0 {
					wait := queued + math.Max(excess-left, 0)/2/capacity
					f.addShifted(w, c, bp, served, wait)
					waitSum += served / dt * (wait + ci.profiles[bp].mean)
				}
				if rest := excess - served; rest > 0 {
					q = f.enqueue(w, c, q, rest, t)
				}
			}
		} else if arrivals > 0 {
			served := math.Min(arrivals, math.Max(rem, 0))
			backlogAhead := 0.0
			for _, ch := range q {
				backlogAhead += ch.mass
			}
			if served > 0 {
				// the queue ahead, plus half of what piles up this step
				wait := (backlogAhead + math.Max(arrivals-rem, 0)/2) / capacity
				f.addShifted(w, c, bp, served, wait)
				waitSum += lam * (served / arrivals) * (wait + ci.profiles[bp].mean)
			}
			if rest := arrivals - served; rest > 0 {
				q = f.enqueue(w, c, q, rest, t)
			}
		}
		f.backlog[c] = q
		bl := 0.0
		for _, ch := range q {
			bl += ch.mass
		}
		f.inflight[c] = waitSum + bl
	}
}

// stableLoad is the share of capacity up to which a step is taken as
// steady state; beyond it the excess is a fluid.
const stableLoad = 0.98

// enqueue adds rest requests arriving in the step at t to the backlog,
// refusing (HTTP 503) what does not fit the queues' room.
func (f *flowState) enqueue(w *World, c int, q []chunk, rest float64, t int64) []chunk {
	room := float64(w.opt.MaxQueue * len(w.ready[c]))
	if len(w.ready[c]) == 0 {
		room = float64(w.opt.RouterQueue)
	}
	ahead := 0.0
	for _, ch := range q {
		ahead += ch.mass
	}
	if drop := ahead + rest - room; drop > 0 {
		drop = math.Min(drop, rest)
		w.stats.dropMass(c, drop)
		rest -= drop
	}
	if rest > 0 {
		wait := -1.0
		if capacity := f.capacity(w, c); capacity > 0 {
			wait = (ahead + rest/2) / capacity
		}
		q = append(q, chunk{mass: rest, arr: t + f.step_/2, wait: wait})
	}
	return q
}

// capacity is class c's ready capacity in requests/s.
func (f *flowState) capacity(w *World, c int) float64 {
	total := 0.0
	for _, pi := range w.ready[c] {
		p := &w.pods[pi]
		total += float64(p.conc) / w.classes[c].profiles[p.prof].mean
	}
	return total
}

func (f *flowState) groupCap(ci *classInfo, prof int) float64 {
	for _, g := range f.groups {
		if g.prof == prof {
			return float64(g.servers) / ci.profiles[prof].mean
		}
	}
	return 0
}

// addShifted records mass requests served after a fixed wait (seconds) on
// profile prof: latency = wait + S.
func (f *flowState) addShifted(w *World, c, prof int, mass, wait float64) {
	ci := &w.classes[c]
	if len(ci.profiles) == 0 || mass <= 0 {
		return
	}
	p := ci.profiles[prof]
	d := wait * 1e9
	F := func(x float64) float64 { return lnCDF(p.mu, p.sigma, (x-d)/1e9) }
	within := F(float64(ci.slo))
	lo := d + math.Exp(p.mu-4*p.sigma)*1e9
	hi := d + math.Exp(p.mu+5*p.sigma)*1e9
	w.stats.doneMass(c, mass, within, F, lo, hi)
}

// lnCDF is the lognormal CDF at x seconds.
func lnCDF(mu, sigma, x float64) float64 {
	if x <= 0 {
		return 0
	}
	return 0.5 * math.Erfc(-(math.Log(x)-mu)/(sigma*math.Sqrt2))
}

// dist returns the cached steady-state latency distribution of class c on
// servers servers of profile prof at rate lam.
func (f *flowState) dist(w *World, c, prof, servers int, lam float64) *flowDist {
	key := flowKey{int32(c), int32(prof), int32(servers), int64(math.Round(lam * 1000))}
	if d, ok := f.cache[key]; ok {
		return d
	}
	if len(f.cache) > 200_000 {
		clear(f.cache)
	}
	p := w.classes[c].profiles[prof]
	q := newMGC(float64(key.lam)/1000, servers, p)
	lo := math.Exp(p.mu-4*p.sigma) * 1e9
	hi := math.Exp(p.mu+5*p.sigma) * 1e9
	if q.pw > 0 {
		hi += 12 / q.theta * 1e9
	}
	x0 := math.Floor(math.Log2(lo)*gridPerOctave) / gridPerOctave
	n := int(math.Ceil((math.Log2(hi)-x0)*gridPerOctave)) + 1
	d := &flowDist{x0: x0, cdf: make([]float64, n), within: q.cdf(float64(w.classes[c].slo) / 1e9), mean: q.mean()}
	for i := range d.cdf {
		d.cdf[i] = q.cdf(math.Exp2(x0+float64(i)/gridPerOctave) / 1e9)
	}
	d.cdf[n-1] = 1
	hiNs := math.Exp2(x0 + float64(n-1)/gridPerOctave)
	d.fine = makePMF(d.F, math.Exp2(x0), hiNs, 6)
	d.coarse = makePMF(d.F, math.Exp2(x0), hiNs, 3)
	f.cache[key] = d
	return d
}

// F interpolates the cached CDF at x ns, linearly in log x.
func (d *flowDist) F(x float64) float64 {
	if x <= 0 {
		return 0
	}
	u := (math.Log2(x) - d.x0) * gridPerOctave
	if u <= 0 {
		return d.cdf[0] * math.Max(0, 1+u) // fades to 0 below the grid
	}
	i := int(u)
	if i >= len(d.cdf)-1 {
		return 1
	}
	fr := u - float64(i)
	return d.cdf[i]*(1-fr) + d.cdf[i+1]*fr
}

// mgc is one M/G/c operating point (Erlang C + Allen-Cunneen).
type mgc struct {
	mu, sigma float64 // lognormal service time, seconds
	meanS     float64
	pw, theta float64
}

func newMGC(lam float64, servers int, p profileInfo) mgc {
	q := mgc{mu: p.mu, sigma: p.sigma, meanS: p.mean}
	a := lam * p.mean
	if a <= 0 || servers <= 0 {
		return q
	}
	// Erlang B recursion, then C = c·B/(c - a(1-B)).
	b := 1.0
	for k := 1; k <= servers; k++ {
		b = a * b / (float64(k) + a*b)
	}
	c := float64(servers)
	q.pw = c * b / (c - a*(1-b))
	if q.pw > 1 || q.pw < 0 {
		q.pw = 1
	}
	cs2 := math.Expm1(p.sigma * p.sigma)
	q.theta = (c/p.mean - lam) / ((1 + cs2) / 2)
	return q
}

func (q mgc) mean() float64 {
	if q.pw == 0 {
		return q.meanS
	}
	return q.meanS + q.pw/q.theta
}

// cdf is P(W+S ≤ t), t in seconds.
func (q mgc) cdf(t float64) float64 {
	fs := lnCDF(q.mu, q.sigma, t)
	if q.pw == 0 || t <= 0 {
		return fs
	}
	// E[e^{-θ(t-S)}; S ≤ t] = ∫_{-∞}^{z_t} φ(z) e^{-θ(t - e^{μ+σz})} dz,
	// Simpson over z in [z_t - 8, z_t] (φ is negligible below).
	zt := (math.Log(t) - q.mu) / q.sigma
	za := max(zt-8, -8)
	if za >= zt {
		return fs
	}
	const n = 32
	h := (zt - za) / n
	sum := 0.0
	for i := 0; i <= n; i++ {
		z := za + float64(i)*h
		v := math.Exp(-0.5*z*z-q.theta*(t-math.Exp(q.mu+q.sigma*z))) / math.Sqrt(2*math.Pi)
		switch {
		case i == 0 || i == n:
			sum += v
		case i%2 == 1:
			sum += 4 * v
		default:
			sum += 2 * v
		}
	}
	return math.Max(0, fs-q.pw*sum*h/3)
}
