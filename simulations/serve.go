package simulations

import (
	"math"
)

// The request-level hot path: arrivals, least-outstanding-requests routing,
// per-replica concurrency and FCFS queue, completions. No allocation per
// request: completions live in a binary heap of fixed-size values and the
// per-replica queues are ring buffers that only grow.

type compl struct {
	t, arr int64
	pod    int32
}

type complHeap []compl

func (h *complHeap) push(e compl) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].t <= e.t {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = e
}

func (h *complHeap) pop() compl {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].t < a[l].t {
			m = r
		}
		if a[m].t >= last.t {
			break
		}
		a[i] = a[m]
		i = m
	}
	if n > 0 {
		a[i] = last
	}
	*h = a
	return top
}

// arrive handles one request of class c arriving at t with service-time
// draw z (a uniform in [0,1), drawn in arrival order so every run sees the
// same requests; the replica's profile turns it into a service time).
func (w *World) arrive(c int, t int64, z float64) {
	w.stats.arrival(c)
	w.route(c, t, z)
}

func (w *World) route(c int, arr int64, z float64) {
	r := w.ready[c]
	if len(r) == 0 {
		if len(w.rq[c]) >= w.opt.RouterQueue {
			w.stats.drop(c)
			return
		}
		w.rq[c] = append(w.rq[c], qent{arr: arr, svc: int64(math.Float64bits(z))})
		return
	}
	best := r[0]
	bo := w.pods[best].outstanding()
	for _, pi := range r[1:] {
		if bo == 0 {
			break
		}
		if o := w.pods[pi].outstanding(); o < bo {
			best, bo = pi, o
		}
	}
	p := &w.pods[best]
	pr := &w.classes[c].profiles[p.prof]
	svc := pr.draw(z)
	if p.busy < p.conc {
		p.busy++
		w.hot.push(compl{t: w.now + svc, arr: arr, pod: best})
		return
	}
	if p.qn >= w.opt.MaxQueue {
		w.stats.drop(c)
		return
	}
	if p.qn == len(p.q) {
		p.growQueue()
	}
	p.q[(p.qhead+p.qn)&(len(p.q)-1)] = qent{arr: arr, svc: svc}
	p.qn++
}

func (p *pod) growQueue() {
	n := max(8, 2*len(p.q))
	q := make([]qent, n)
	for i := 0; i < p.qn; i++ {
		q[i] = p.q[(p.qhead+i)&(len(p.q)-1)]
	}
	p.q, p.qhead = q, 0
}

func (w *World) complete(e compl) {
	p := &w.pods[e.pod]
	if p.phase != podReady && p.phase != podTerminating {
		return // the pod was killed; its requests were counted then
	}
	p.busy--
	w.stats.done(p.class, e.t-e.arr)
	timeout := int64(w.opt.QueueTimeout)
	for p.qn > 0 {
		q := p.q[p.qhead]
		p.qhead = (p.qhead + 1) & (len(p.q) - 1)
		p.qn--
		if e.t-q.arr > timeout {
			w.stats.timeout(p.class)
			continue
		}
		p.busy++
		w.hot.push(compl{t: e.t + q.svc, arr: q.arr, pod: e.pod})
		break
	}
	if p.phase == podTerminating && p.outstanding() == 0 {
		w.finishPod(e.pod)
	}
}

// drainRouterQueue hands requests held at the router to the class's ready
// replicas, failing those that waited longer than the timeout.
func (w *World) drainRouterQueue(c int) {
	q := w.rq[c]
	if len(q) == 0 {
		return
	}
	w.rq[c] = nil
	timeout := int64(w.opt.QueueTimeout)
	for _, e := range q {
		if w.now-e.arr > timeout {
			w.stats.timeout(c)
			continue
		}
		w.route(c, e.arr, math.Float64frombits(uint64(e.svc)))
	}
}

// expireRouterQueue fails requests held at the router past the timeout.
func (w *World) expireRouterQueue() {
	timeout := int64(w.opt.QueueTimeout)
	for c, q := range w.rq {
		k := 0
		for k < len(q) && w.now-q[k].arr > timeout {
			w.stats.timeout(c)
			k++
		}
		if k > 0 {
			w.rq[c] = append(q[:0:0], q[k:]...)
		}
	}
}
