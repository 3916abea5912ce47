// Package simulations replays recorded request traces against a simulated
// EKS cluster and cloud on a virtual clock, runs the real scaler core (or a
// baseline) against it, and reports SLO attainment and cost.
//
// Data flows one way:
//
//	trace file --trace.Read/ReadProm--> *trace.Trace
//	  --NewWorkload(mix, scale)--> *Workload (arrivals per class, rates per step)
//	  --Run(policy, controller, seed)--> *Result (per run)
//	  --Compare(contenders + clairvoyant bound)--> *Comparison
//	  --WriteTable / JSON / WriteHTML--> terminal, -o json, report.html
//
// The world (world.go) is nodegroups whose nodes boot after a lognormal
// delay, spot interruptions with a two-minute notice and launch shortfalls,
// MIG re-partitions that take the nodegroup's repartition time, pods that
// schedule onto GPU slices, pull their image and load their model, and
// readers with a concurrency limit and a FCFS queue with a timeout behind a
// least-outstanding-requests router. Controllers see it only through
// scaler.Metrics, scaler.Cluster and scaler.Cloud (adapters.go), with
// metrics visible after each scrape interval. Requests are simulated one
// by one (serve.go, request level) or per step with an M/G/c model and a
// fluid backlog (flow.go, flow level).
//
// Controllers under test (controllers.go): headroom's scaler core
// (headroom.go, the real scaler.Controller), HPA + Cluster Autoscaler and
// static provisioning at peak (baselines.go, bounds.go), and the
// clairvoyant bound (bounds.go), which knows the whole workload.
//
// Results (stats.go, incidents.go) hold per class the whole-run figures,
// the worst 5-minute windows, and the incidents: each time a class fell
// below its SLO, with the class at every scrape and, from a controller
// that keeps a decision log (DecisionLogger), its decisions before it.
// The HTML report (report_html.go, report.js) draws them with uPlot,
// vendored in uplot/ and inlined, on the policy's calendar (calendar.go).
//
// Everything runs on virtual time from one seed: no wall clock, no
// goroutines, one PCG stream per purpose, so the same seed gives
// byte-identical results, and every controller sees the same requests with
// the same service-time draws. Scenario files in testdata/scenarios pin
// outcomes in golden files (go test ./simulations -update rewrites them).
// docs/simulations.md has the models, defaults and measured figures.
package simulations
