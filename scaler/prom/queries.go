package prom

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ClassQueries are the instant queries behind ClassStats for one window,
// each giving one sample per class.
type ClassQueries struct {
	Rate          string // requests/s
	P50, P95, P99 string // seconds
	InFlight      string // mean requests in the router
	ErrorShare    string // 5xx / all, 0..1
	At            string // Unix seconds of the newest raw sample
}

// GPUQueries are the instant queries behind GPUMemory, one sample per GPU
// instance, each fresher than Staleness.
type GPUQueries struct {
	Used, Free string // MiB
}

// classQueries builds the queries for window (validated options). The
// window rule: rate() needs two samples in its range, so a window shorter
// than MinRange cannot be read with rate() (with a 15s scrape a 6s range
// holds at most one sample and gives nothing at all). Such a window is read
// with irate() over MinRange instead, the rate between the newest two
// samples: the shortest window the scrapes can resolve, and the newest.
// In-flight is the mean over the window (avg_over_time) or, below MinRange,
// the newest sample (last_over_time over MinRange).
//
// Example, defaults: a 60s window gives
// sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))
// and a 6s window
// sum by (class) (irate(headroom_router_requests_total{class!="none"}[30s])).
func classQueries(o *Options, window time.Duration) ClassQueries {
	n := o.Names
	fn, rng, gauge := "rate", window, "avg_over_time"
	if window < o.MinRange {
		fn, rng, gauge = "irate", o.MinRange, "last_over_time"
	}
	r := promDuration(rng)
	by := "sum by (" + n.Class + ") "
	req := routerSelector(o, n.Requests)
	errs := routerSelector(o, n.Requests, Matcher{Name: n.Code, Op: MatchRegexp, Value: n.ErrorCodes})
	total := by + "(" + fn + "(" + req + "[" + r + "]))"
	quantile := func(q string) string {
		return "histogram_quantile(" + q + ", sum by (" + n.Class + ", le) (" + fn + "(" +
			routerSelector(o, n.RequestDuration+"_bucket") + "[" + r + "])))"
	}
	return ClassQueries{
		Rate:     total,
		P50:      quantile("0.5"),
		P95:      quantile("0.95"),
		P99:      quantile("0.99"),
		InFlight: by + "(" + gauge + "(" + routerSelector(o, n.InFlight) + "[" + r + "]))",
		// A class with requests and no 5xx series at all has a share of 0,
		// not none: "or 0 * total" fills it in, as deploy/prometheus/rules.yaml does.
		ErrorShare: "(" + by + "(" + fn + "(" + errs + "[" + r + "])) or 0 * " + total + ") / " + total,
		At:         "max by (" + n.Class + ") (timestamp(" + req + "))",
	}
}

// gpuQueries builds the GPU memory queries. The instant selector honours
// Prometheus's staleness markers, so a paused exporter's series vanish at
// its next failed scrape; the timestamp filter drops series whose newest
// sample is older than Staleness (e.g. delayed by remote write).
func gpuQueries(o *Options) GPUQueries {
	fresh := func(metric string) string {
		s := gpuSelector(o, metric)
		return s + " and (timestamp(" + s + ") >= time() - " +
			strconv.FormatFloat(o.Staleness.Seconds(), 'f', -1, 64) + ")"
	}
	return GPUQueries{Used: fresh(o.Names.FBUsed), Free: fresh(o.Names.FBFree)}
}

func routerSelector(o *Options, metric string, extra ...Matcher) string {
	ms := append([]Matcher{{Name: o.Names.Class, Op: MatchNotEqual, Value: o.Names.NoneClass}}, o.RouterMatchers...)
	return selector(metric, append(ms, extra...))
}

func gpuSelector(o *Options, metric string) string {
	ms := append([]Matcher{{Name: o.Names.Pod, Op: MatchNotEqual, Value: ""}}, o.GPUMatchers...)
	return selector(metric, ms)
}

func selector(metric string, ms []Matcher) string {
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	b.WriteString(FormatMatchers(ms))
	b.WriteByte('}')
	return b.String()
}

// promDuration writes d as a PromQL duration ("1m", "30s", "1s500ms"),
// at millisecond resolution, Prometheus's own.
func promDuration(d time.Duration) string {
	return model.Duration(d.Round(time.Millisecond)).String()
}

// checkWindow refuses a window PromQL cannot express.
func checkWindow(w time.Duration) error {
	if w.Round(time.Millisecond) <= 0 {
		return fmt.Errorf("window %v is not a positive number of milliseconds", w)
	}
	return nil
}
