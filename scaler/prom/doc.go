// Package prom is the Prometheus side of scaler.Metrics: ClassStats from
// the router's metric contract (docs/router.md, "Metrics (a contract)") and
// GPUMemory from dcgm-exporter, read over the Prometheus HTTP API with
// client_golang's api/prometheus/v1. PodUsage is not here: it comes from
// metrics.k8s.io in the Kubernetes adapter, and the controller composes
// the two. This is a thin I/O shell; it decides nothing.
//
// Data flows like this, per call:
//
//	ClassStats(now, window)  7 instant queries at time=now, concurrently,
//	                         one sample per class each (sum by (class))
//	  -> byClass             per query: class -> value; NaN, ±Inf and
//	                         unlabelled samples left out (missing)
//	  -> assembleClassStats  one row per class that has a rate, a newest
//	                         sample no older than Staleness and its
//	                         in-flight mean; with requests (rate > 0) also
//	                         its quantiles and error share. Anything else
//	                         missing: the class is absent.
//	GPUMemory(now)           2 instant queries at time=now (used, free)
//	  -> decodeGPU           join on the full label set, resolve pod ->
//	                         class (Options.PodClass), profile "" -> "whole"
//
// The core reads an absent class as missing data and holds it (never
// scales it down); a failed query fails the whole call with no partial
// result, and HTTP 429 and 503 wrap scaler.ErrThrottled.
//
// The queries, with the defaults (class label "class", MinRange 30s,
// Staleness 90s), for a 60s window:
//
//	rate      sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))
//	p50..p99  histogram_quantile(0.95, sum by (class, le) (rate(headroom_router_request_duration_seconds_bucket{class!="none"}[1m])))
//	in-flight sum by (class) (avg_over_time(headroom_router_in_flight_requests{class!="none"}[1m]))
//	errors    (sum by (class) (rate(headroom_router_requests_total{class!="none",code=~"5.."}[1m]))
//	            or 0 * sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m])))
//	          / sum by (class) (rate(headroom_router_requests_total{class!="none"}[1m]))
//	At        max by (class) (timestamp(headroom_router_requests_total{class!="none"}))
//	GPU used  DCGM_FI_DEV_FB_USED{pod!=""} and (timestamp(DCGM_FI_DEV_FB_USED{pod!=""}) >= time() - 90)
//	GPU free  the same with DCGM_FI_DEV_FB_FREE
//
// The window rule: rate() needs two samples inside its range, so a range
// under two scrape intervals returns nothing. A window of at least
// MinRange is read as above; a shorter one (the core's 6s panic window)
// with irate(...[30s]) for rate, quantiles and errors, the rate between
// the newest two samples, and last_over_time(...[30s]) for in-flight.
// At is the time of the newest raw sample of the class's request counter,
// so the core's staleness check sees a router that stopped reporting; the
// instant selector honours Prometheus's staleness markers, so a target
// that went away is absent at its next failed scrape.
//
// Options holds every setting with its default in one place; AddFlags
// binds the connection settings to --prometheus-* flags. Authentication
// (bearer token file, basic auth, CA, client certificate) goes through
// prometheus/common's HTTPClientConfig, which re-reads the token on every
// request. docs/controller.md ("Metrics from Prometheus") is the user's
// side of this.
package prom
