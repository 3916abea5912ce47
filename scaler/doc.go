// Package scaler is headroom's control loop: each tick it turns observations
// (rates, latency, GPU memory, pods, nodes) and forecasts into one coherent,
// safe and explained set of actions.
//
// The core is pure and takes time as an argument; it talks to the world only
// through the small Metrics, Cluster and Cloud interfaces, so the simulator
// and the in-cluster controller run the same code.
//
// Data flows through one tick (Controller.Tick, controller.go) like this,
// each stage a short function returning a small struct with its reason:
//
//	Observe   Metrics, Cluster, Cloud -> Observations     observations.go
//	Plan      per class (classplan.go):                   plan.go
//	            observeClass   stats checked (fail static), pods, samples
//	            forecastClass  Forecaster at policies.Horizon  forecaster.go, calibrate.go
//	            sizeClass      Correction, SizeReplicas per profile
//	                           (M/G/c, Erlang C + Allen-Cunneen),
//	                           RightSize (GPU slice)      sizing.go, vertical.go, reaction.go
//	            panicClass     PanicStep (KPA)            reaction.go
//	            desiredClass   Behave (HPA), floors (policies.MinReplicasAt), bounds
//	            classActions   scale, vertical
//	          cluster (clusterplan.go):
//	            startInterruptions, packStage (frompolicy options ->
//	            Packer: greedy.go or binpack.go), nodeGroupTargets,
//	            startRelayouts, consolidateStage
//	            advanceProcedures (cordon, drain, remove,
//	            re-layout, interruption)                  procedures.go
//	Act       phase order, backoff, action budget,
//	          dry-run -> statuses, Reporter               controller.go
//	Record    Prometheus metrics about the controller itself
//
// The policy answers every policy question (horizon, floors, disruption
// windows and budgets, defaults); the core asks it rather than re-deriving
// them. MIG layouts travel as catalog.MIGConfig, the one codec.
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
