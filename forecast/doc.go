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
// profile-daily (the mean of the last 3 or 7 days at the same time of day,
// smoothed over +-15 minutes, corrected by the ratio or difference of the
// recent level to what that profile said for the recent past: a seasonal
// naive with level correction whose shape averages several days, so its
// noise is a fraction of a single day's); spectral (the strongest FFT
// periodogram peaks of the history, tested against the noise floor, with an
// EWMA level); and the combination (mean) of the two or three best point
// forecasters, whichever scored better. Smoothing parameters are
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
// histories with zeros, and profile-daily's ratio is capped at 10; a
// series shorter than a season skips the seasonal methods; every
// Prediction passes sanitize: never NaN, negative or infinite. Memory per
// Online is bounded: History/Step points (at most MaxHistoryPoints) with
// 25% slack, plus at most MaxHorizons live models (two each when the point
// and the upper forecast differ; the largest, a weekly season or a 7-day
// profile, is 80-115 KB at 1-minute steps).
//
// # Re-choice schedule
//
// A re-choice (~11 ms for 14 days at 1-minute steps) runs lazily in
// Predict every ReselectEvery. Forecasters created together (one per
// class, as the scaler does) would all re-choose on the same tick, so by
// default each horizon's schedule is offset by a hash of the history at
// its first backtested choice: different classes land on different ticks,
// and the same data always gives the same schedule (backtests are
// reproducible). Options.ReselectOffset overrides it.
//
// # Figures
//
// Measured with the commands in docs/forecast.md (2026-11-29). WAPE of the
// point forecast, coverage of the q=0.95 upper bound, automatic choice vs
// persistence vs plain Holt-Winters (additive, daily):
//
//	trace (step, horizon)                auto     persistence  hw-add-daily  coverage
//	ServeGen m-mid (10m, 15m = 2 steps)  0.1218   0.1207       0.1410        93.2%
//	ServeGen m-mid (10m, 1h)             0.1931   0.1913       0.2438        93.0%
//	synthetic 28d (10m, 15m)             0.0435   0.0623       0.0498        94.7%
//	synthetic 28d (10m, 1h)              0.0444   0.0971       0.0513        94.7%
//	synthetic 14d (1m, 15m)              0.0427   0.0623       0.0475        94.7%
//	Azure conv (10s, 1m)                 0.1611   0.1811       n/a           98.2%
//	Azure code (10s, 1m)                 1.4114   1.5574       n/a           93.4%
//	Azure conv (10s, 15m; 85 forecasts)  0.4886   0.4886       n/a           100%
//	Azure code (10s, 15m; 82 forecasts)  2.7489   3.0050       n/a           97.6%
//
// On the synthetic daily/weekly traces the automatic choice is 30-31%
// below persistence and 12.5% (10m step), 13.5% (1h horizon) and 10.1%
// (1m step; 10.2-10.5% on seeds 3-5) below plain Holt-Winters: the issue's
// 10% goal is met, at 1m by a hair, because there every good method is
// near the noise floor (the true mean curve itself scores 0.0416).
//
// On ServeGen the goal is not met and, as far as this package could find,
// cannot be by forecasting: at 10-minute resolution the series is close to
// a random walk (the lag-1 autocorrelation of its changes is -0.2, where
// noise around a level would give -0.5), the daily lag explains almost none
// of its changes (autocorrelation 0.065 at 144 steps), and 78 of the
// 1,008 steps of the scored week are unannounced drops to zero (from a
// mean of 1,790 req/s) lasting 10 minutes to 3.5 hours. Persistence is then close to optimal: profile-daily scores 0.1326,
// spectral 0.129, Holt-Winters 0.141, and outside the drops the best
// smoother is only ~4% below persistence. Auto matches persistence (+0.9%
// WAPE) with a tighter band: pinball loss 61.8 vs 64.7 at 15m, 71.9 vs 151
// at 1h (profile-daily's band), and at 3h its WAPE is 8.6% below
// persistence (0.2749 vs 0.3009). On the Azure traces (no cycles) auto is
// 9-11% below persistence at 1m and equal or better at 15m. Coverage is in
// 92-98% everywhere except Azure conv (98.2% at 1m, 100% at 15m, on 85-169
// forecasts) and ServeGen at 3h (90.6%: its second week runs at a higher
// level than the backtest window the error quantile was read from).
//
// Speed (go test ./forecast -run XXX -bench 'SelectMany/1000|OnlineUpdate|OnlineReselect' -benchtime 1x):
// fitting and choosing 1,000 series of 14 days at 1-minute steps takes
// 7.6-8.5 CPU-seconds on the 2-core development machine (the previous
// version, run alongside: 6.8-7.5), so ~4 s wall on two idle cores with
// SelectMany's goroutines (10.6 s were measured wall-clock while other
// engineers loaded the machine to load 6-7); profile-daily costs ~1.5 ms
// of that per series, paid for in part by a faster backtest quantile. One
// control tick (Observe + Predict) costs about 1.7-2.5 µs and 8
// allocations (the Reason strings); a re-choice of one series with 14 days
// of history about 11-12 ms, once per ReselectEvery (1 h), staggered
// across classes.
package forecast
