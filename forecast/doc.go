// Package forecast predicts the request rate of a model class a horizon
// ahead, with an upper quantile the controller can size capacity on, and
// detects spikes the forecast missed. It is pure: series in, forecasts out,
// time passed in; no I/O, no clocks, no global state.
//
// # Data flow
//
//	rate samples --Observe--> Online (bounded history, live models)
//	                              |  every ReselectEvery: Select = backtest of all
//	                              |  methods on recent history, fitted per horizon
//	                              v
//	Predict(now, h, q) -> base estimator (point + q-quantile of backtest errors)
//	                   -> WithRecentPeak -> WithMargin -> WithFloor -> Prediction
//	                                                                     |
//	raw rate every few s --> SpikeDetector.Observe(t, rate, Prediction.Band())
//
// The shape is VPA's recommender chain: a small estimator, then decorators
// that each raise the bound and append their reason.
//
// # Estimators
//
// persistence; seasonal naive (daily, weekly); EWMA; damped Holt; damped
// Holt-Winters with a daily or a weekly season, additive or multiplicative;
// spectral (the strongest FFT periodogram peaks of the history, tested
// against the noise floor, with an EWMA level); and the combination (mean)
// of the up to three best point forecasters. Smoothing parameters are
// fitted by coordinate descent over small grids, minimizing the backtest
// loss at the requested horizon (a direct multi-step criterion). Seasonal
// periods follow from the step (a day is 24h/step points), so any step
// from 10 s to 1 h works; the spectral estimator finds periods by itself.
//
// # Choice by backtest
//
// Select runs a rolling-origin backtest over the recent history (default
// the last 3 days, at most half the history): from every origin whose
// target falls in that window, each candidate forecasts h steps ahead, its
// state built only from the past. Errors are scaled by max(forecast, 5% of
// the mean) and the upper quantile is forecast + (empirical q-quantile of
// the scaled errors) x scale. Two choices are made: the method behind the
// upper quantile by the pinball loss at q (under-forecasting costs q/(1-q)
// = 19 times more at q=0.95), and the method behind the point forecast by
// its absolute error. A method must beat persistence by 3% to be chosen
// (parsimony). With less history than MinEval scored forecasts, or none of
// the candidates applicable, it falls back to persistence, and Online to
// persistence plus ColdMargin over the recent peak. Every choice carries a
// Reason listing each candidate's losses or why it was skipped.
//
// # Robustness
//
// NaN, Inf and negative rates (a counter reset) are gaps, filled by linear
// interpolation once the next value arrives; a value over OutlierFactor
// (10) times both neighbours and the mean is a single outlier, replaced (two
// in a row are a level shift, kept); multiplicative seasons are skipped on
// histories with zeros; a series shorter than a season skips the seasonal
// methods; every Prediction passes sanitize: never NaN, negative or
// infinite. Memory per Online is bounded: History/Step points (at most
// MaxHistoryPoints) with 25% slack, plus at most MaxHorizons live models.
//
// # Figures
//
// Measured with the commands in docs/forecast.md (2026-11-29). WAPE of the
// point forecast, coverage of the q=0.95 upper bound, automatic choice vs
// persistence vs plain Holt-Winters (additive, daily):
//
//	trace (step, horizon)                auto     persistence  hw-add-daily  coverage
//	ServeGen m-mid (10m, 15m = 2 steps)  0.1218   0.1207       0.1408        93.5%
//	ServeGen m-mid (10m, 1h)             0.1932   0.1913       0.2405        93.4%
//	synthetic 28d (10m, 15m)             0.0436   0.0623       0.0499        94.7%
//	synthetic 14d (1m, 15m)              0.0428   0.0623       0.0475        94.8%
//	Azure conv (10s, 1m)                 0.1632   0.1811       n/a           98.2%
//	Azure code (10s, 1m)                 1.3413   1.5574       n/a           93.4%
//	Azure conv (10s, 15m; 85 forecasts)  0.4886   0.4886       n/a           100%
//	Azure code (10s, 15m; 82 forecasts)  2.7489   3.0050       n/a           97.6%
//
// On the synthetic daily/weekly traces the automatic choice is 30-31% below
// persistence and 12.6% (10m step) and 9.9% (1m step) below plain
// Holt-Winters, so the 10% goal is met at the 10m step and missed
// by a hair at 1m. On ServeGen it is not met: no method beats persistence at
// 15 minutes or 1 hour on that trace (its 10-minute windows swing by 30%,
// and it has hour-long drops to zero), so auto matches persistence (+0.9%
// WAPE) while its upper bound is tighter (pinball loss 61.5 vs 64.7 at 15m,
// 95.8 vs 151 at 1h). On the Azure traces (no cycles) auto is 10-14% below
// persistence at 1m and equal or better at 15m. Coverage is within 92-98% on
// every trace except Azure conv at 1m (98.2%, 169 forecasts) and at 15m
// (100%, 85 forecasts), where the sample is small and errors are
// over-estimated.
//
// Speed (go test ./forecast -bench 'SelectMany/1000|OnlineUpdate|OnlineReselect'):
// fitting and choosing 1,000 series of 14 days at 1-minute steps takes
// about 6.7-7.1 CPU-seconds on the 2-core development machine, so 3.3-3.6 s
// wall on two idle cores with SelectMany's goroutines (10-14 s were
// measured wall-clock while other engineers loaded the machine); one
// control tick (Observe + Predict) costs about 0.9-1.5 µs and 6-8
// allocations (the Reason strings); a re-choice of one series with 14
// days of history about 11 ms, once per ReselectEvery (1 h).
package forecast
