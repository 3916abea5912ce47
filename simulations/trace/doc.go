// Package trace reads recorded request traces and turns them into regularly
// sampled rate series. The forecaster's backtest command and the simulator
// both read traces through it, so a trace means the same thing everywhere.
//
// Data flows in two steps:
//
//	file --Read/ReadFile--> *Trace --(*Trace).Resample(step)--> Series
//
// Read sniffs the format from the CSV header:
//
//   - per-request traces, one row per request with a timestamp column
//     (TIMESTAMP, timestamp, time or ts), as in the Azure LLM inference traces
//     ("2023-11-16 18:17:03.9799600"); RFC 3339 timestamps and Unix seconds
//     (with a fraction) are accepted too. Optional columns: class (or model),
//     tenant, ContextTokens, GeneratedTokens. Rows must be in time order.
//   - aggregated rate traces, one row per window: window_start_s (seconds
//     from ReadOptions.Epoch) and a rate column (total_rate_rps, rate_rps or
//     rate), as in the ServeGen file; optional class column. Windows of one
//     class must be in increasing order; the window length is the smallest
//     gap between consecutive starts unless ReadOptions.Window says otherwise.
//
// Bad input gets an error that names the line (*ParseError), and the typed
// sentinels ErrEmpty, ErrUnsorted and ErrTooLarge can be tested with
// errors.Is. Input size is bounded by ReadOptions.MaxBytes and MaxRows.
//
// Resample counts requests per step (rate = count / step seconds; an empty
// step is a true zero) or averages rate windows over each step (time-weighted;
// when the step is finer than the windows it holds each window's rate, or
// interpolates linearly between window midpoints). Windows missing from a
// rate trace become NaN in the Series, because "no data" is not "no load";
// consumers decide how to fill them (the forecast package does).
//
// The package does file I/O only in ReadFile; everything else is pure.
package trace
