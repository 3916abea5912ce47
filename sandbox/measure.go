package sandbox

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SLOCount is the router's own measurement of one class: requests
// answered, and those answered 2xx within the SLO latency.
type SLOCount struct {
	Total, WithinSLO float64
}

// Share is WithinSLO / Total (1 with no requests).
func (c SLOCount) Share() float64 {
	if c.Total == 0 {
		return 1
	}
	return c.WithinSLO / c.Total
}

// Sub is c minus an earlier reading.
func (c SLOCount) Sub(o SLOCount) SLOCount {
	return SLOCount{Total: c.Total - o.Total, WithinSLO: c.WithinSLO - o.WithinSLO}
}

// RouterSLO reads the router's /metrics and counts, for class, every
// request of headroom_router_request_duration_seconds and those with a 2xx
// code in the bucket whose bound is slo (the router's buckets hold the
// sandbox's SLO bounds exactly; another slo reads the next bucket below).
func RouterSLO(ctx context.Context, routerURL, class string, slo time.Duration) (SLOCount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, routerURL+"/metrics", nil)
	if err != nil {
		return SLOCount{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return SLOCount{}, fmt.Errorf("router metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseSLO(resp.Body, class, slo)
}

func parseSLO(r io.Reader, class string, slo time.Duration) (SLOCount, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return SLOCount{}, fmt.Errorf("router metrics: %w", err)
	}
	var c SLOCount
	f := fams["headroom_router_request_duration_seconds"]
	if f == nil {
		return c, nil
	}
	for _, m := range f.GetMetric() {
		if label(m, "class") != class {
			continue
		}
		h := m.GetHistogram()
		c.Total += float64(h.GetSampleCount())
		if !strings.HasPrefix(label(m, "code"), "2") {
			continue
		}
		best, n := -1.0, 0.0
		for _, b := range h.GetBucket() {
			if ub := b.GetUpperBound(); ub <= slo.Seconds()+1e-9 && ub > best {
				best, n = ub, float64(b.GetCumulativeCount())
			}
		}
		c.WithinSLO += n
	}
	return c, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// NodeMeter samples the nodes of each nodegroup (Ready or not: a booted
// instance is paid for) and integrates node-hours and their price.
type NodeMeter struct {
	Kube kubernetes.Interface
	// Price is $/h by nodegroup.
	Price map[string]float64

	mu    sync.Mutex
	last  time.Time
	count map[string]int
	hours map[string]float64
	peak  map[string]int
}

// Sample reads the nodes at now and adds the time since the last sample
// at the last sample's counts.
func (m *NodeMeter) Sample(ctx context.Context, now time.Time) error {
	nodes, err := m.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: InstanceLabel})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, n := range nodes.Items {
		counts[n.Labels["eks.amazonaws.com/nodegroup"]]++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hours == nil {
		m.hours, m.peak = map[string]float64{}, map[string]int{}
	}
	if !m.last.IsZero() {
		dt := now.Sub(m.last).Hours()
		for ng, c := range m.count {
			m.hours[ng] += float64(c) * dt
		}
	}
	m.last, m.count = now, counts
	for ng, c := range counts {
		m.peak[ng] = max(m.peak[ng], c)
	}
	return nil
}

// Report is node-hours, cost and peak nodes by nodegroup.
type NodeReport struct {
	Hours, Cost float64
	Peak        map[string]int
	ByGroup     map[string]float64
}

// Report sums what was sampled.
func (m *NodeMeter) Report() NodeReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := NodeReport{Peak: map[string]int{}, ByGroup: map[string]float64{}}
	for ng, h := range m.hours {
		r.Hours += h
		r.Cost += h * m.Price[ng]
		r.ByGroup[ng] = h
	}
	for ng, p := range m.peak {
		r.Peak[ng] = p
	}
	r.Hours = math.Round(r.Hours*1e4) / 1e4
	return r
}

func fmtPct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }
