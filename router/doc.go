// Package router is the request router headroom deploys in front of the
// model servers ("readers"): it routes each request to its model class and
// version, separates tenants by API key, shares capacity fairly, retries
// within a budget, and exports the latency metrics the controller scales on.
//
// A request flows through the handler (handler.go) in this order; each step
// can refuse it with a JSON error (RequestError) and a reason in the
// metrics:
//
//	framing        Content-Length with Transfer-Encoding                      400, close
//	authenticate   API key -> Tenant (SHA-256 digests, constant-time compare)  401/400
//	normalise path dot segments resolved; escaped separators refused (NormalizePath) 400
//	read body      at most Server.MaxBodyBytes                                 413/400
//	classify       class, version from path/header/query/body (Classifier)    400
//	resolve        class and version exist (404), tenant may use class (403)
//	                 no version named: weighted split (canary)
//	tenant limits  token bucket (TokenBucket) and concurrency cap              429 + Retry-After
//	fair queue     per class: MaxInFlight forwarded, the rest wait per tenant  503 + Retry-After
//	                 in start-time fair order (FairQueue)
//	forward        least outstanding requests (ties rotate; or power of two
//	                 choices, per class) over ready, not-ejected endpoints
//	                 (Pool); retry on connection errors, attempt timeouts
//	                 (latency.go) and 502/503/504 within MaxAttempts, the
//	                 deadline and the RetryBudget; outlier ejection on
//	                 consecutive failures
//	                 (a client gone before its answer: 499 client_gone, no
//	                 further attempt)
//	record         histogram + counter (class, tenant, code), in-flight and
//	                 queue time per class (Metrics); access log; span
//
// The pieces with logic (Classifier, Tenants, TokenBucket, FairQueue, Pool,
// RetryBudget) take time as an argument or an injected clock and are tested
// on their own; Router wires them; Serve adds the HTTP server (fasthttp),
// health checks and graceful drain; the hop to the readers is upstream
// (upstream.go), a keep-alive client over fasthttp's parser on connections
// the router owns, so that it can bound the wait for a response head,
// stream long answers and cut an attempt off when the client hangs up
// (watchClient). ServeMetrics serves /metrics on an address of its own
// (metricsListen). The request path is admit, then forward (the retry
// loop, over a hop), then end. Metric
// names are a contract with the controller (see metrics.go and
// docs/router.md). The emulator subpackage is a stand-in reader for tests.
package router
