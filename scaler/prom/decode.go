package prom

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/headroom-dev/headroom/scaler"
)

// Decoding is pure: query results in, rows out, with the reason for every
// series left out. Missing is never zero: an absent, NaN or infinite sample
// leaves the row out, and the core reads an absent class as missing data.

// drop is a series or class left out, and why.
type drop struct {
	what, reason string
}

// byClass reads one finite sample per class from an instant vector.
// Samples without a class, NaN and ±Inf are left out (missing).
func byClass(v model.Value, label string) (map[string]float64, []drop, error) {
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("want an instant vector, got %s", typeOf(v))
	}
	out := make(map[string]float64, len(vec))
	var drops []drop
	for _, s := range vec {
		class := string(s.Metric[model.LabelName(label)])
		f := float64(s.Value)
		switch {
		case class == "":
			drops = append(drops, drop{s.Metric.String(), "no " + label + " label"})
		case math.IsNaN(f) || math.IsInf(f, 0):
			drops = append(drops, drop{class, fmt.Sprintf("value %v", f)})
		default:
			if _, dup := out[class]; dup {
				return nil, nil, fmt.Errorf("two samples for %s %q: the query must aggregate by %s", label, class, label)
			}
			out[class] = f
		}
	}
	return out, drops, nil
}

func typeOf(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}

// classParts are the per-class results of the ClassQueries.
type classParts struct {
	rate, p50, p95, p99, inFlight, errShare, at map[string]float64
}

// maxLatency bounds a quantile that can be held in a time.Duration with
// room to spare; beyond it (a misconfigured histogram) the value is missing.
const maxLatency = 1e6 // seconds

// assembleClassStats joins the parts into one row per class. A class needs
// a rate, the time of its newest sample no older than staleness at now,
// and its in-flight mean. With requests in the window (rate > 0) it also
// needs its quantiles and error share; with none, those are 0: no request
// finished, so there is no latency to report (the core only corrects on
// P95 > 0) and no error (0/0 is NaN in PromQL).
func assembleClassStats(p classParts, now time.Time, staleness time.Duration) ([]scaler.ClassStats, []drop) {
	classes := map[string]bool{}
	for _, m := range []map[string]float64{p.rate, p.p50, p.p95, p.p99, p.inFlight, p.errShare, p.at} {
		for c := range m {
			classes[c] = true
		}
	}
	names := make([]string, 0, len(classes))
	for c := range classes {
		names = append(names, c)
	}
	slices.Sort(names)
	out := make([]scaler.ClassStats, 0, len(names))
	var drops []drop
	for _, c := range names {
		s, why := classRow(p, c, now, staleness)
		if why != "" {
			drops = append(drops, drop{c, why})
			continue
		}
		out = append(out, s)
	}
	return out, drops
}

func classRow(p classParts, c string, now time.Time, staleness time.Duration) (scaler.ClassStats, string) {
	s := scaler.ClassStats{Class: c}
	rate, ok := p.rate[c]
	if !ok {
		return s, "no request rate in the window"
	}
	at, ok := p.at[c]
	if !ok {
		return s, "no current sample (series stale or gone)"
	}
	s.At = time.UnixMilli(int64(math.Round(at * 1000))).UTC()
	if age := now.Sub(s.At); age > staleness {
		return s, fmt.Sprintf("newest sample %v old, over the staleness limit %v", age, staleness)
	}
	if s.InFlight, ok = p.inFlight[c]; !ok {
		return s, "no in-flight gauge"
	}
	s.Rate = rate
	if rate == 0 {
		return s, ""
	}
	for _, q := range []struct {
		m   map[string]float64
		dst *time.Duration
		n   string
	}{{p.p50, &s.P50, "p50"}, {p.p95, &s.P95, "p95"}, {p.p99, &s.P99, "p99"}} {
		v, ok := q.m[c]
		if !ok {
			return s, "requests but no " + q.n + " latency"
		}
		if math.Abs(v) > maxLatency {
			return s, fmt.Sprintf("%s latency %v s is out of range", q.n, v)
		}
		*q.dst = time.Duration(v * float64(time.Second))
	}
	if s.ErrorRate, ok = p.errShare[c]; !ok {
		return s, "requests but no error share"
	}
	return s, ""
}

// gpuLabels are the label names a GPU row is read from.
type gpuLabels struct {
	profile, node, pod, namespace model.LabelName
}

// decodeGPU joins the used and free vectors on their full label sets (the
// metric name aside) and resolves each row's pod to its class. A row needs
// both values finite and a pod the resolver knows.
func decodeGPU(used, free model.Value, l gpuLabels, podClass func(ns, pod string) (string, bool)) ([]scaler.GPUMemory, []drop, error) {
	uv, ok := used.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("used: want an instant vector, got %s", typeOf(used))
	}
	fv, ok := free.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("free: want an instant vector, got %s", typeOf(free))
	}
	freeBy := make(map[string]float64, len(fv))
	for _, s := range fv {
		freeBy[seriesKey(s.Metric)] = float64(s.Value)
	}
	type row struct {
		key string
		g   scaler.GPUMemory
	}
	rows := make([]row, 0, len(uv))
	var drops []drop
	for _, s := range uv {
		key := seriesKey(s.Metric)
		u := float64(s.Value)
		f, ok := freeBy[key]
		switch {
		case !ok:
			drops = append(drops, drop{s.Metric.String(), "no free-memory sample"})
			continue
		case !finite(u) || !finite(f):
			drops = append(drops, drop{s.Metric.String(), fmt.Sprintf("used %v, free %v", u, f)})
			continue
		}
		ns, pod := string(s.Metric[l.namespace]), string(s.Metric[l.pod])
		class, ok := podClass(ns, pod)
		if !ok || class == "" {
			drops = append(drops, drop{s.Metric.String(), "pod " + ns + "/" + pod + " is not a known reader"})
			continue
		}
		profile := string(s.Metric[l.profile])
		if profile == "" {
			profile = "whole" // no MIG: dcgm-exporter leaves GPU_I_PROFILE empty
		}
		rows = append(rows, row{key, scaler.GPUMemory{Node: string(s.Metric[l.node]), Pod: pod, Class: class,
			Profile: profile, UsedMiB: u, FreeMiB: f}})
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.g.Node, b.g.Node), cmp.Compare(a.g.Pod, b.g.Pod),
			cmp.Compare(a.g.Profile, b.g.Profile), cmp.Compare(a.key, b.key))
	})
	out := make([]scaler.GPUMemory, len(rows))
	for i, r := range rows {
		out[i] = r.g
	}
	return out, drops, nil
}

// seriesKey identifies a series by its labels, the metric name aside:
// name=value pairs in name order, separated by 0xff, which is not UTF-8.
func seriesKey(m model.Metric) string {
	names := make([]string, 0, len(m))
	n := 0
	for k, v := range m {
		if k == model.MetricNameLabel {
			continue
		}
		names = append(names, string(k))
		n += len(k) + len(v) + 2
	}
	slices.Sort(names)
	var b strings.Builder
	b.Grow(n)
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(string(m[model.LabelName(k)]))
		b.WriteByte(0xff)
	}
	return b.String()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
