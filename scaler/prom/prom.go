package prom

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/headroom-dev/headroom/scaler"
)

// Client reads class stats and GPU memory from Prometheus. It implements
// the ClassStats and GPUMemory methods of scaler.Metrics; PodUsage comes
// from metrics.k8s.io, and the controller composes the two. It is safe for
// concurrent use.
type Client struct {
	o   Options
	api v1.API
	gpu gpuLabels
}

// New returns a Client for o, or every problem with o.
func New(o Options) (*Client, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("prometheus options: %w", err)
	}
	hc, _ := o.Auth.httpConfig() // validated above
	httpClient, err := config.NewClientFromConfig(hc, "headroom_prometheus", config.WithUserAgent("headroom"))
	if err != nil {
		return nil, fmt.Errorf("prometheus http client: %w", err)
	}
	ac, err := api.NewClient(api.Config{Address: o.Address, Client: httpClient})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	n := o.Names
	return &Client{o: o, api: v1.NewAPI(throttleClient{ac}), gpu: gpuLabels{
		profile: model.LabelName(n.Profile), node: model.LabelName(n.Node),
		pod: model.LabelName(n.Pod), namespace: model.LabelName(n.Namespace)}}, nil
}

// ClassQueries returns the queries ClassStats runs for window.
func (c *Client) ClassQueries(window time.Duration) (ClassQueries, error) {
	if err := checkWindow(window); err != nil {
		return ClassQueries{}, err
	}
	return classQueries(&c.o, window), nil
}

// GPUQueries returns the queries GPUMemory runs.
func (c *Client) GPUQueries() GPUQueries { return gpuQueries(&c.o) }

// ClassStats returns one row per class with fresh, finite data in the
// window, from seven instant queries evaluated at now (see ClassQueries).
// A class with anything missing is absent. A failed query fails the call:
// no partial result.
func (c *Client) ClassStats(ctx context.Context, now time.Time, window time.Duration) ([]scaler.ClassStats, error) {
	q, err := c.ClassQueries(window)
	if err != nil {
		return nil, err
	}
	names := []string{"rate", "p50", "p95", "p99", "in-flight", "error share", "newest sample"}
	res, err := c.queryAll(ctx, now, names, []string{q.Rate, q.P50, q.P95, q.P99, q.InFlight, q.ErrorShare, q.At})
	if err != nil {
		return nil, err
	}
	maps := make([]map[string]float64, len(res))
	for i, v := range res {
		m, drops, err := byClass(v, c.o.Names.Class)
		if err != nil {
			return nil, fmt.Errorf("prometheus %s query: %w", names[i], err)
		}
		c.logDrops(names[i], drops)
		maps[i] = m
	}
	stats, drops := assembleClassStats(classParts{rate: maps[0], p50: maps[1], p95: maps[2], p99: maps[3],
		inFlight: maps[4], errShare: maps[5], at: maps[6]}, now, c.o.Staleness)
	c.logDrops("class stats", drops)
	return stats, nil
}

// GPUMemory returns the memory of every GPU instance used by a known
// reader pod, with a sample no older than Staleness at now. A node whose
// dcgm-exporter is paused (the MIG manager stops it while it
// re-partitions) has no rows.
func (c *Client) GPUMemory(ctx context.Context, now time.Time) ([]scaler.GPUMemory, error) {
	q := c.GPUQueries()
	res, err := c.queryAll(ctx, now, []string{"FB used", "FB free"}, []string{q.Used, q.Free})
	if err != nil {
		return nil, err
	}
	rows, drops, err := decodeGPU(res[0], res[1], c.gpu, c.o.PodClass)
	if err != nil {
		return nil, fmt.Errorf("prometheus GPU memory queries: %w", err)
	}
	c.logDrops("gpu memory", drops)
	return rows, nil
}

// queryAll runs the queries at now concurrently, each with its own
// timeout, and returns their results in order or the first error in order.
func (c *Client) queryAll(ctx context.Context, now time.Time, names, queries []string) ([]model.Value, error) {
	res := make([]model.Value, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Go(func() { res[i], errs[i] = c.query(ctx, now, q) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("prometheus %s query: %w", names[i], err)
		}
	}
	return res, nil
}

func (c *Client) query(ctx context.Context, now time.Time, q string) (model.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	v, warnings, _, err := c.api.Query(ctx, q, now, v1.WithTimeout(c.o.Timeout))
	if err != nil {
		return nil, err
	}
	// Warnings come with partial results (a remote-read or store endpoint
	// down); a partial sum reads as low load, so it is an error here.
	if len(warnings) > 0 {
		return nil, fmt.Errorf("answered with warnings, the result may be partial: %s", strings.Join(warnings, "; "))
	}
	return v, nil
}

func (c *Client) logDrops(what string, drops []drop) {
	if len(drops) == 0 || !c.o.Logger.Core().Enabled(zap.DebugLevel) {
		return
	}
	for _, d := range drops {
		c.o.Logger.Debug("series left out as missing", zap.String("query", what),
			zap.String("series", d.what), zap.String("reason", d.reason))
	}
}

// throttleClient maps Prometheus's (or a query frontend's) 429 Too Many
// Requests and 503 Service Unavailable (overloaded, or still replaying its
// WAL) to scaler.ErrThrottled: retry later with backoff. client_golang
// only reports these as "client error: 429" text.
type throttleClient struct{ api.Client }

func (c throttleClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err == nil && resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		return resp, body, fmt.Errorf("prometheus answered %s: %w", resp.Status, scaler.ErrThrottled)
	}
	return resp, body, err
}
