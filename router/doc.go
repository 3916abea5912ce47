// Package router is the request router headroom deploys in front of the
// model servers ("readers"): it routes each request to its model class and
// version, separates tenants by API key, shares capacity fairly, retries
// within a budget, and exports the latency metrics the controller scales on.
//
// A request flows through Router.ServeHTTP in this order; each step can
// refuse it with a JSON error (RequestError) and a reason in the metrics:
//
//	authenticate   API key -> Tenant (SHA-256 digests, constant-time compare)  401/400
//	read body      at most Server.MaxBodyBytes                                 413/400
//	classify       class, version from path/header/query/body (Classifier)    400
//	resolve        class and version exist (404), tenant may use class (403)
//	                 no version named: weighted split (canary)
//	tenant limits  token bucket (TokenBucket) and concurrency cap              429 + Retry-After
//	fair queue     per class: MaxInFlight forwarded, the rest wait per tenant  503 + Retry-After
//	                 in start-time fair order (FairQueue)
//	forward        least outstanding requests (ties rotate; or power of two
//	                 choices, per class) over ready, not-ejected endpoints
//	                 (Pool); retry on connection errors
//	                 and 502/503/504 within MaxAttempts, the deadline and the
//	                 RetryBudget; outlier ejection on consecutive failures
//	                 (a client gone before its answer: 499 client_gone, no
//	                 further attempt)
//	record         histogram + counter (class, tenant, code), in-flight and
//	                 queue time per class (Metrics); access log; span
//
// The pieces with logic (Classifier, Tenants, TokenBucket, FairQueue, Pool,
// RetryBudget) take time as an argument or an injected clock and are tested
// on their own; Router wires them; Serve adds the HTTP server, health checks
// and graceful drain, on one of two engines: net/http with PoolTransport as
// the forwarding transport, or fasthttp (fast.go) for less CPU. The engines
// share the request path (admit, then forward, the one retry loop, then
// finish) and the lifecycle (run: serve, drain, shut down); each supplies
// only a hop (send one attempt, discard it, write the answer, is the
// client gone?) and a server (serve, shutdown). Metric
// names are a contract with the controller (see metrics.go and
// docs/router.md). The emulator subpackage is a stand-in reader for tests.
package router
