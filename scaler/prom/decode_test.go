package prom

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/headroom-dev/headroom/scaler"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func vec(label string, kv ...any) model.Vector {
	var v model.Vector
	for i := 0; i < len(kv); i += 2 {
		v = append(v, &model.Sample{Metric: model.Metric{model.LabelName(label): model.LabelValue(kv[i].(string))},
			Value: model.SampleValue(kv[i+1].(float64))})
	}
	return v
}

func TestByClass(t *testing.T) {
	m, drops, err := byClass(append(vec("class", "a", 1.5, "b", math.NaN(), "c", math.Inf(1), "d", 0.0),
		&model.Sample{Metric: model.Metric{"other": "x"}, Value: 3}), "class")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["a"] != 1.5 || m["d"] != 0 {
		t.Errorf("got %v, want a=1.5 d=0 (NaN, Inf and the unlabelled sample missing)", m)
	}
	if len(drops) != 3 {
		t.Errorf("drops %v, want 3", drops)
	}
	if _, _, err := byClass(vec("class", "a", 1.0, "a", 2.0), "class"); err == nil || !strings.Contains(err.Error(), "two samples") {
		t.Errorf("duplicate class: %v", err)
	}
	for _, v := range []model.Value{nil, &model.Scalar{Value: 1}, model.Matrix{}, &model.String{Value: "x"}} {
		if _, _, err := byClass(v, "class"); err == nil || !strings.Contains(err.Error(), "want an instant vector") {
			t.Errorf("%T: %v", v, err)
		}
	}
	if m, _, err := byClass(model.Vector{}, "class"); err != nil || len(m) != 0 {
		t.Errorf("empty vector: %v %v", m, err)
	}
}

// parts is a class with every field present; edits remove or change some.
func parts(class string, rate float64, at time.Time) classParts {
	one := func(v float64) map[string]float64 { return map[string]float64{class: v} }
	return classParts{rate: one(rate), p50: one(0.030), p95: one(0.070), p99: one(0.090),
		inFlight: one(3.5), errShare: one(0.01), at: one(float64(at.UnixMilli()) / 1000)}
}

func TestAssembleClassStats(t *testing.T) {
	const staleness = 90 * time.Second
	now := t0
	full := scaler.ClassStats{Class: "a", At: now.Add(-2 * time.Second), Rate: 12, P50: 30 * time.Millisecond,
		P95: 70 * time.Millisecond, P99: 90 * time.Millisecond, InFlight: 3.5, ErrorRate: 0.01}
	tests := []struct {
		name string
		edit func(*classParts)
		want *scaler.ClassStats // nil: absent
	}{
		{"every field", func(*classParts) {}, &full},
		{"idle class: rate 0, no latency, no errors", func(p *classParts) {
			p.rate["a"] = 0
			delete(p.p50, "a")
			delete(p.p95, "a")
			delete(p.p99, "a")
			delete(p.errShare, "a")
		}, &scaler.ClassStats{Class: "a", At: full.At, InFlight: 3.5}},
		{"no rate", func(p *classParts) { delete(p.rate, "a") }, nil},
		{"no newest sample (stale-marked)", func(p *classParts) { delete(p.at, "a") }, nil},
		{"older than staleness", func(p *classParts) { p.at["a"] = float64(now.Add(-staleness-time.Millisecond).UnixMilli()) / 1000 }, nil},
		{"exactly staleness old", func(p *classParts) { p.at["a"] = float64(now.Add(-staleness).UnixMilli()) / 1000 },
			&scaler.ClassStats{Class: "a", At: now.Add(-staleness), Rate: 12, P50: full.P50, P95: full.P95, P99: full.P99, InFlight: 3.5, ErrorRate: 0.01}},
		{"no in-flight", func(p *classParts) { delete(p.inFlight, "a") }, nil},
		{"requests but no p95", func(p *classParts) { delete(p.p95, "a") }, nil},
		{"requests but no p99", func(p *classParts) { delete(p.p99, "a") }, nil},
		{"requests but no error share", func(p *classParts) { delete(p.errShare, "a") }, nil},
		{"latency out of range", func(p *classParts) { p.p99["a"] = 1e12 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parts("a", 12, now.Add(-2*time.Second))
			tt.edit(&p)
			got, drops := assembleClassStats(p, now, staleness)
			switch {
			case tt.want == nil && (len(got) != 0 || len(drops) != 1):
				t.Fatalf("got %+v (drops %v), want the class absent with one reason", got, drops)
			case tt.want != nil && (len(got) != 1 || got[0] != *tt.want):
				t.Fatalf("got %+v (drops %v)\nwant %+v", got, drops, *tt.want)
			}
		})
	}
}

func TestAssembleClassStatsOrderAndStrays(t *testing.T) {
	now := t0
	p := parts("b", 5, now)
	a := parts("a", 7, now)
	for _, pair := range [][2]map[string]float64{{p.rate, a.rate}, {p.p50, a.p50}, {p.p95, a.p95}, {p.p99, a.p99},
		{p.inFlight, a.inFlight}, {p.errShare, a.errShare}, {p.at, a.at}} {
		pair[0]["a"] = pair[1]["a"]
	}
	p.inFlight["stray"] = 1 // a class seen only in the gauge: no rate, absent
	got, drops := assembleClassStats(p, now, time.Minute)
	if len(got) != 2 || got[0].Class != "a" || got[1].Class != "b" {
		t.Fatalf("got %+v, want a then b", got)
	}
	if len(drops) != 1 || drops[0].what != "stray" {
		t.Fatalf("drops %v", drops)
	}
}

func gpuSample(name string, v float64, labels ...string) *model.Sample {
	m := model.Metric{model.MetricNameLabel: model.LabelValue(name)}
	for i := 0; i < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestDecodeGPU(t *testing.T) {
	l := gpuLabels{profile: "GPU_I_PROFILE", node: "Hostname", pod: "pod", namespace: "namespace"}
	row := func(node, pod, prof, id string) []string {
		return []string{"Hostname", node, "pod", pod, "namespace", "ml", "GPU_I_PROFILE", prof, "GPU_I_ID", id, "gpu", "0"}
	}
	used := model.Vector{
		gpuSample("DCGM_FI_DEV_FB_USED", 14336, row("n2", "reader-a-0", "3g.40gb", "1")...),
		gpuSample("DCGM_FI_DEV_FB_USED", 5120, row("n1", "reader-b-0", "1g.10gb", "13")...),
		gpuSample("DCGM_FI_DEV_FB_USED", 30000, row("n1", "reader-b-1", "", "")...),
		gpuSample("DCGM_FI_DEV_FB_USED", 100, row("n1", "stranger-0", "1g.10gb", "9")...),
		gpuSample("DCGM_FI_DEV_FB_USED", 200, row("n1", "reader-a-1", "1g.10gb", "10")...), // no free
		gpuSample("DCGM_FI_DEV_FB_USED", math.NaN(), row("n1", "reader-a-2", "1g.10gb", "11")...),
	}
	free := model.Vector{
		gpuSample("DCGM_FI_DEV_FB_FREE", 26624, row("n2", "reader-a-0", "3g.40gb", "1")...),
		gpuSample("DCGM_FI_DEV_FB_FREE", 4864, row("n1", "reader-b-0", "1g.10gb", "13")...),
		gpuSample("DCGM_FI_DEV_FB_FREE", 51559, row("n1", "reader-b-1", "", "")...),
		gpuSample("DCGM_FI_DEV_FB_FREE", 9000, row("n1", "stranger-0", "1g.10gb", "9")...),
		gpuSample("DCGM_FI_DEV_FB_FREE", 9000, row("n1", "reader-a-2", "1g.10gb", "11")...),
		gpuSample("DCGM_FI_DEV_FB_FREE", 9000, row("n1", "reader-a-1", "1g.10gb", "99")...), // another instance
	}
	classOf := func(ns, pod string) (string, bool) {
		if ns != "ml" || !strings.HasPrefix(pod, "reader-") {
			return "", false
		}
		return "class-" + pod[7:8], true
	}
	got, drops, err := decodeGPU(used, free, l, classOf)
	if err != nil {
		t.Fatal(err)
	}
	want := []scaler.GPUMemory{
		{Node: "n1", Pod: "reader-b-0", Class: "class-b", Profile: "1g.10gb", UsedMiB: 5120, FreeMiB: 4864},
		{Node: "n1", Pod: "reader-b-1", Class: "class-b", Profile: "whole", UsedMiB: 30000, FreeMiB: 51559},
		{Node: "n2", Pod: "reader-a-0", Class: "class-a", Profile: "3g.40gb", UsedMiB: 14336, FreeMiB: 26624},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if len(drops) != 3 {
		t.Errorf("drops %v, want the stranger, the row without free memory and the NaN", drops)
	}
	if _, _, err := decodeGPU(&model.Scalar{}, free, l, classOf); err == nil {
		t.Error("a scalar must be an error")
	}
	if _, _, err := decodeGPU(used, model.Matrix{}, l, classOf); err == nil {
		t.Error("a matrix must be an error")
	}
}

func TestSeriesKey(t *testing.T) {
	a := model.Metric{"__name__": "x", "b": "2", "a": "1"}
	b := model.Metric{"__name__": "y", "a": "1", "b": "2"}
	c := model.Metric{"a": "1=b", "b": ""}
	if seriesKey(a) != seriesKey(b) {
		t.Error("the metric name must not count")
	}
	if seriesKey(a) == seriesKey(c) {
		t.Error("different label sets must differ")
	}
}
