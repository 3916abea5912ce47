package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/headroom-dev/headroom/simulations"
	"github.com/headroom-dev/headroom/simulations/trace"
)

func newTraceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Record traces from Prometheus and summarize trace files",
	}
	cmd.AddCommand(newTraceStatsCmd(a), newTraceRecordCmd(a))
	return cmd
}

func newTraceStatsCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Summarize a trace: span, requests, mean and peak rates, classes",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkFormat(format, outTable, outJSON); err != nil {
				return trouble(a, err)
			}
			t, err := readTrace(args[0])
			if err != nil {
				return trouble(a, err)
			}
			st := t.Summarize()
			if format == outJSON {
				return writeJSON(a.stdout, st)
			}
			return writeTraceStats(a.stdout, args[0], st)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", outTable, "output format: table or json")
	return cmd
}

func writeTraceStats(w io.Writer, name string, st trace.Stats) error {
	fmt.Fprintf(w, "%s: %s trace, %d rows\n", name, st.Format, st.Rows)
	fmt.Fprintf(w, "span:      %s .. %s (%s)\n", st.Start.UTC().Format(time.RFC3339), st.End.UTC().Format(time.RFC3339), st.Span)
	if st.Window != "" {
		fmt.Fprintf(w, "window:    %s (%d without data)\n", st.Window, st.Gaps)
	}
	fmt.Fprintf(w, "requests:  %.0f, mean %.3f req/s\n", st.Requests, st.MeanRate)
	for _, p := range st.Peaks {
		fmt.Fprintf(w, "peak %-5s %.3f req/s (%.1fx mean)\n", p.Step+":", p.Rate, p.ToMean)
	}
	if st.Tokens != nil {
		fmt.Fprintf(w, "tokens:    input mean %.0f p95 %d, output mean %.0f p95 %d\n", st.Tokens.MeanInput, st.Tokens.P95Input, st.Tokens.MeanOutput, st.Tokens.P95Output)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "class\trequests\tshare")
	for _, c := range st.Classes {
		name := c.Class
		if name == "" {
			name = "(none: map with --mix)"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f%%\n", name, c.Requests, 100*c.Share)
	}
	return tw.Flush()
}

func newTraceRecordCmd(a *app) *cobra.Command {
	var promURL, query, start, end, out string
	var step, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "record --prometheus URL --query Q --start T --end T --step D",
		Short: "Record a rate trace from a Prometheus range query",
		Long: `record runs a range query against Prometheus (in chunks of at most 10000
steps) and writes a rate trace CSV (window_start_s,class,rate_rps) that
simulate and trace stats read. The query should return requests per second,
e.g. sum by (class) (rate(headroom_router_requests_total[1m])); the class
comes from the class, model_class or model label.`,
		Example: `  headroom trace record --prometheus http://prometheus:9090 \
    --query 'sum by (class) (rate(headroom_router_requests_total[1m]))' \
    --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --step 1m --out week.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if promURL == "" || query == "" || start == "" || end == "" {
				return trouble(a, fmt.Errorf("--prometheus, --query, --start and --end are required"))
			}
			s, err := parseTimeFlag(start)
			if err != nil {
				return trouble(a, fmt.Errorf("--start: %w", err))
			}
			e, err := parseTimeFlag(end)
			if err != nil {
				return trouble(a, fmt.Errorf("--end: %w", err))
			}
			if !e.After(s) {
				return trouble(a, fmt.Errorf("--end %s is not after --start %s", end, start))
			}
			if step <= 0 {
				return trouble(a, fmt.Errorf("--step must be positive"))
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			t, err := recordTrace(ctx, &http.Client{Timeout: timeout}, promURL, query, s, e, step)
			if err != nil {
				return trouble(a, err)
			}
			write := func(w io.Writer) error { return trace.WriteRatesCSV(w, t) }
			if out == "" || out == "-" {
				return write(a.stdout)
			}
			if err := simulations.WriteFileAtomic(out, write); err != nil {
				return trouble(a, err)
			}
			fmt.Fprintf(a.stderr, "wrote %d windows to %s\n", len(t.Rates), out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&promURL, "prometheus", "", "Prometheus base URL, e.g. http://localhost:9090")
	fl.StringVar(&query, "query", "", "PromQL expression giving requests/s (per class)")
	fl.StringVar(&start, "start", "", "start time: RFC 3339 or Unix seconds")
	fl.StringVar(&end, "end", "", "end time: RFC 3339 or Unix seconds")
	fl.DurationVar(&step, "step", time.Minute, "query resolution")
	fl.StringVar(&out, "out", "", "output CSV file (default stdout); written atomically")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "timeout per HTTP request")
	return cmd
}

func parseTimeFlag(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
}

// maxPromSteps is the most steps asked per query (Prometheus refuses more
// than 11000 points per series).
const maxPromSteps = 10000

func recordTrace(ctx context.Context, c *http.Client, base, query string, start, end time.Time, step time.Duration) (*trace.Trace, error) {
	out := &trace.Trace{Format: trace.FormatRates, Window: step}
	chunk := time.Duration(maxPromSteps-1) * step
	for s := start; !s.After(end); s = s.Add(chunk + step) {
		e := s.Add(chunk)
		if e.After(end) {
			e = end
		}
		u := strings.TrimRight(base, "/") + "/api/v1/query_range?" + url.Values{
			"query": {query},
			"start": {strconv.FormatFloat(float64(s.UnixMilli())/1000, 'f', -1, 64)},
			"end":   {strconv.FormatFloat(float64(e.UnixMilli())/1000, 'f', -1, 64)},
			"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
		}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("querying prometheus: %w", err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("querying prometheus: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading prometheus response: %w", err)
		}
		t, err := trace.ReadProm(bytes.NewReader(body), trace.ReadOptions{Window: step})
		if err != nil {
			if trace.IsEmpty(err) {
				continue // no data in this chunk
			}
			return nil, fmt.Errorf("prometheus %s (HTTP %d): %w", s.UTC().Format(time.RFC3339), resp.StatusCode, err)
		}
		out.Rates = append(out.Rates, t.Rates...)
	}
	if len(out.Rates) == 0 {
		return nil, fmt.Errorf("%w: the query returned no samples between %s and %s", trace.ErrEmpty, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	// Order per class, chunks in time order (Read needs increasing starts).
	byClass := map[string][]trace.RateWindow{}
	var classes []string
	for _, r := range out.Rates {
		if _, ok := byClass[r.Class]; !ok {
			classes = append(classes, r.Class)
		}
		byClass[r.Class] = append(byClass[r.Class], r)
	}
	out.Rates = out.Rates[:0]
	for _, c := range classes {
		out.Rates = append(out.Rates, byClass[c]...)
	}
	return out, nil
}
