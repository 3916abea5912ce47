// Package router is the request router headroom deploys in front of the
// model servers: it routes each request to its model class, separates
// tenants by API key, shares capacity fairly, and exports the latency
// metrics the controller scales on.
package router
