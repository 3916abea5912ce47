// Package simulations replays recorded request traces against a simulated
// EKS cluster and cloud on a virtual clock, runs the real scaler core (or a
// baseline) against it, and reports SLO attainment and cost.
package simulations
