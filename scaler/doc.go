// Package scaler is headroom's control loop: each tick it turns observations
// (rates, latency, GPU memory, pods, nodes) and forecasts into one coherent,
// safe and explained set of actions.
//
// The core is pure and takes time as an argument; it talks to the world only
// through the small Metrics, Cluster and Cloud interfaces, so the simulator
// and the in-cluster controller run the same code.
//
// Data flows through one tick (Controller.Tick) like this:
//
//	Observe  Metrics, Cluster, Cloud            -> Observations (errors kept)
//	Plan     per class: validate (fail static) -> Forecaster (Calibrated)
//	         -> Correction
//	         -> SizeReplicas per profile (M/G/c, Erlang C + Allen-Cunneen)
//	         -> RightSize (GPU slice) -> PanicStep (KPA) -> floors
//	         (min, Schedule) -> Behave (HPA) -> bounds
//	         cluster: Packer -> nodegroup targets -> node procedures
//	         (consolidate, MIG re-layout, spot interruption)  -> Decision
//	Act      phase order, backoff, action budget, dry-run -> statuses
//	Record   Prometheus metrics about the controller itself
//
// Plan is exported so a simulator can feed its own Observations; Loop runs
// Tick on an injected Clock. The Forecaster and Packer seams default to the
// forecast package's online forecaster, its upper band calibrated on its
// own residuals (Calibrated), and the built-in Greedy packer; the
// Binpack adapter runs the binpack solver instead. PredictLatency exposes
// the latency model for checks against request-level simulation.
//
// See docs/scaler.md for the formulas, their sources and measured figures.
package scaler
