package trace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"time"
)

// Prometheus query_range responses (GET /api/v1/query_range) as traces.
//
// Each series of the matrix is a rate series; its class is the value of the
// first of ClassLabels it carries ("" when none), and series of the same
// class are summed. A sample at time t stands for the window [t, t+step),
// where step is the smallest gap between samples. NaN samples are gaps.
// The result is a FormatRates trace, so everything downstream (Resample,
// the simulator) treats it like a rate CSV.

// ClassLabels are the labels that name a class in a query_range series.
var ClassLabels = []string{"class", "model_class", "model"}

type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// ReadPromFile reads a saved query_range response.
func ReadPromFile(path string, opts ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening trace: %w", err)
	}
	defer f.Close()
	t, err := ReadProm(f, opts)
	if err != nil {
		return nil, fmt.Errorf("reading trace %s: %w", path, err)
	}
	return t, nil
}

// ReadProm parses a query_range JSON response into a rate trace.
func ReadProm(r io.Reader, opts ReadOptions) (*Trace, error) {
	opts = opts.withDefaults()
	lr := &limitReader{r: r, left: opts.MaxBytes}
	var resp promResponse
	dec := json.NewDecoder(lr)
	if err := dec.Decode(&resp); err != nil {
		if lr.exceeded {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lr.max())
		}
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, fmt.Errorf("%w: not a Prometheus query_range response: %v", ErrFormat, err)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("prometheus answered %q: %s %s", resp.Status, resp.ErrorType, resp.Error)
	}
	if resp.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("%w: result type %q, want matrix (a query_range of a range-capable expression)", ErrFormat, resp.Data.ResultType)
	}
	sums := map[string]map[int64]float64{} // class -> unix ms -> rate
	rows := 0
	for si, s := range resp.Data.Result {
		class := ""
		for _, l := range ClassLabels {
			if v, ok := s.Metric[l]; ok {
				class = v
				break
			}
		}
		if sums[class] == nil {
			sums[class] = map[int64]float64{}
		}
		for vi, v := range s.Values {
			rows++
			if rows > opts.MaxRows {
				return nil, fmt.Errorf("%w: more than %d samples", ErrTooLarge, opts.MaxRows)
			}
			ts, ok := v[0].(float64)
			if !ok || math.IsNaN(ts) || math.IsInf(ts, 0) || math.Abs(ts) > 1e11 {
				return nil, fmt.Errorf("series %d, sample %d: bad timestamp %v", si+1, vi+1, v[0])
			}
			str, ok := v[1].(string)
			if !ok {
				return nil, fmt.Errorf("series %d, sample %d: value %v is not a string", si+1, vi+1, v[1])
			}
			x, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("series %d, sample %d: bad value %q", si+1, vi+1, str)
			}
			if math.IsNaN(x) {
				continue
			}
			if x < 0 || math.IsInf(x, 0) {
				return nil, fmt.Errorf("series %d, sample %d: rate %v is not finite and non-negative", si+1, vi+1, x)
			}
			sums[class][int64(math.Round(ts*1000))] += x
		}
	}
	t := &Trace{Format: FormatRates, Window: opts.Window}
	classes := make([]string, 0, len(sums))
	for c := range sums {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	minGap := int64(math.MaxInt64)
	for _, c := range classes {
		ts := make([]int64, 0, len(sums[c]))
		for k := range sums[c] {
			ts = append(ts, k)
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		for i, k := range ts {
			if i > 0 {
				minGap = min(minGap, k-ts[i-1])
			}
			t.Rates = append(t.Rates, RateWindow{Start: time.UnixMilli(k).In(opts.Epoch.Location()), Rate: sums[c][k], Class: c})
		}
	}
	if len(t.Rates) == 0 {
		return nil, ErrEmpty
	}
	if t.Window <= 0 {
		if minGap == math.MaxInt64 {
			return nil, fmt.Errorf("%w: cannot infer the step from one sample per class; set the window length", ErrEmpty)
		}
		if minGap > int64(366*24*time.Hour/time.Millisecond) {
			return nil, fmt.Errorf("%w: samples %d ms apart; a query_range step over a year is not a trace", ErrFormat, minGap)
		}
		t.Window = time.Duration(minGap) * time.Millisecond
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

// WriteRatesCSV writes a rate trace as CSV with a class column:
// window_start_s (Unix seconds), class, rate_rps. Read reads it back.
func WriteRatesCSV(w io.Writer, t *Trace) error {
	if t.Format != FormatRates {
		return errors.New("only rate traces can be written as rate CSV")
	}
	if _, err := io.WriteString(w, "window_start_s,class,rate_rps\n"); err != nil {
		return err
	}
	for _, r := range t.Rates {
		sec := float64(r.Start.UnixMilli()) / 1000
		if _, err := fmt.Fprintf(w, "%s,%s,%s\n", strconv.FormatFloat(sec, 'f', -1, 64), csvField(r.Class), strconv.FormatFloat(r.Rate, 'g', 10, 64)); err != nil {
			return err
		}
	}
	return nil
}

func csvField(s string) string {
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return strconv.Quote(s)
		}
	}
	return s
}

// IsEmpty reports whether err says the input had no data.
func IsEmpty(err error) bool { return errors.Is(err, ErrEmpty) }
