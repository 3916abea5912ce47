// Package scaler is headroom's control loop: each tick it turns observations
// (rates, latency, GPU memory, pods, nodes) and forecasts into one coherent,
// safe and explained set of actions.
//
// The core is pure and takes time as an argument; it talks to the world only
// through the small Metrics, Cluster and Cloud interfaces, so the simulator
// and the in-cluster controller run the same code.
package scaler
