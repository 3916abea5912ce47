// Package forecast predicts the request rate of a model class a horizon
// ahead, with upper quantiles the controller can trust, and detects spikes
// the forecast missed.
//
// It is a pure package: series in, forecasts out, time passed in.
package forecast
