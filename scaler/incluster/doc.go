// Package incluster is the shell that runs the scaler core as a process in
// a cluster: `headroom controller`. It holds no decision logic; it wires
// the adapters (scaler/prom, scaler/kube, a Cloud) into scaler.Controller
// and adds what a long-running controller needs around the core:
//
//	policy dir --(Reloader: poll, lint, keep the last good)--> SetPolicy
//	Lease (leader election) --leader--> scaler.Loop --Tick--> adapters
//	                        --others--> ready, idle
//	HTTP: /metrics (core + shell metrics), /healthz, /readyz
//	SIGTERM: the tick in progress finishes, the Lease is released
//
// Once runs one dry-run tick against the live systems and returns the
// Decision: what `headroom controller --once --dry-run` prints.
//
// Time comes from an injected scaler.Clock; the tick's context survives the
// shutdown signal (context.WithoutCancel, bounded by the interval) so that
// a tick is never cut off halfway through its writes.
package incluster
