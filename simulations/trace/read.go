package trace

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// ReadOptions bounds and tunes Read. The zero value is usable.
type ReadOptions struct {
	// MaxBytes caps the input size; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxRows caps the number of data rows; 0 means DefaultMaxRows.
	MaxRows int
	// Epoch is the time that window_start_s = 0 stands for in rate traces,
	// and the zone of per-request timestamps without one. Zero means the
	// Unix epoch in UTC.
	Epoch time.Time
	// Window is the length of each window in a rate trace; 0 infers it from
	// the smallest gap between consecutive window starts of one class.
	Window time.Duration
}

// Defaults for ReadOptions.
const (
	DefaultMaxBytes int64 = 1 << 30
	DefaultMaxRows        = 20_000_000
)

// MaxLineBytes bounds one line of a CSV trace. A row is a few dozen bytes;
// without the bound, an input without line breaks (/dev/zero, a binary
// file) would be buffered whole by the CSV reader, up to MaxBytes, before
// anything could say it is not a trace.
const MaxLineBytes = 64 << 10

func (o ReadOptions) withDefaults() ReadOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.Epoch.IsZero() {
		o.Epoch = time.Unix(0, 0).UTC()
	}
	return o
}

// ReadFile opens path and reads it with Read.
func ReadFile(path string, opts ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening trace: %w", err)
	}
	defer f.Close()
	t, err := Read(f, opts)
	if err != nil {
		return nil, fmt.Errorf("reading trace %s: %w", path, err)
	}
	return t, nil
}

// Read parses a trace CSV, sniffing its format from the header (see the
// package documentation for the formats).
func Read(r io.Reader, opts ReadOptions) (*Trace, error) {
	opts = opts.withDefaults()
	lr := &limitReader{r: r, left: opts.MaxBytes, maxLine: MaxLineBytes}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, csvError(err, lr)
	}
	cols := columnsOf(header)
	var t *Trace
	switch {
	case cols.start >= 0 && cols.rate >= 0:
		t, err = readRates(cr, lr, cols, opts)
	case cols.ts >= 0:
		t, err = readRequests(cr, lr, cols, opts)
	default:
		return nil, &ParseError{Line: 1, Err: fmt.Errorf("%w: header %q has neither a timestamp column nor window_start_s and a rate column", ErrFormat, strings.Join(header, ","))}
	}
	return t, err
}

// columns holds the index of each known column, -1 when absent.
type columns struct {
	n                                       int
	ts, start, rate, class, tenant, in, out int
}

func columnsOf(header []string) columns {
	c := columns{n: len(header), ts: -1, start: -1, rate: -1, class: -1, tenant: -1, in: -1, out: -1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		set := func(p *int) {
			if *p < 0 {
				*p = i
			}
		}
		switch h {
		case "timestamp", "time", "ts", "arrival_time":
			set(&c.ts)
		case "window_start_s", "start_s", "window_start":
			set(&c.start)
		case "total_rate_rps", "rate_rps", "rate", "rps":
			set(&c.rate)
		case "class", "model", "model_class":
			set(&c.class)
		case "tenant":
			set(&c.tenant)
		case "contexttokens", "input_tokens", "prompt_tokens":
			set(&c.in)
		case "generatedtokens", "output_tokens", "completion_tokens":
			set(&c.out)
		}
	}
	return c
}

func readRequests(cr *csv.Reader, lr *limitReader, c columns, opts ReadOptions) (*Trace, error) {
	t := &Trace{Format: FormatRequests}
	var prev time.Time
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err, lr)
		}
		line, _ := cr.FieldPos(0)
		if len(t.Requests) >= opts.MaxRows {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("%w: more than %d rows", ErrTooLarge, opts.MaxRows)}
		}
		ts, err := parseTime(rec[c.ts], opts.Epoch.Location())
		if err != nil {
			return nil, &ParseError{Line: line, Column: "timestamp", Err: err}
		}
		if ts.Before(prev) {
			return nil, &ParseError{Line: line, Column: "timestamp", Err: fmt.Errorf("%w: %s is before the previous row's %s", ErrUnsorted, ts.Format(time.RFC3339Nano), prev.Format(time.RFC3339Nano))}
		}
		prev = ts
		q := Request{Time: ts}
		if c.class >= 0 {
			q.Class = strings.Clone(rec[c.class])
		}
		if c.tenant >= 0 {
			q.Tenant = strings.Clone(rec[c.tenant])
		}
		if q.InputTokens, err = optInt(rec, c.in); err != nil {
			return nil, &ParseError{Line: line, Column: "input tokens", Err: err}
		}
		if q.OutputTokens, err = optInt(rec, c.out); err != nil {
			return nil, &ParseError{Line: line, Column: "output tokens", Err: err}
		}
		t.Requests = append(t.Requests, q)
	}
	if len(t.Requests) == 0 {
		return nil, ErrEmpty
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

func readRates(cr *csv.Reader, lr *limitReader, c columns, opts ReadOptions) (*Trace, error) {
	t := &Trace{Format: FormatRates, Window: opts.Window}
	last := map[string]float64{} // last window start per class, seconds
	minGap := math.Inf(1)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err, lr)
		}
		line, _ := cr.FieldPos(0)
		if len(t.Rates) >= opts.MaxRows {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("%w: more than %d rows", ErrTooLarge, opts.MaxRows)}
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(rec[c.start]), 64)
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) || math.Abs(sec) > 1e11 {
			return nil, &ParseError{Line: line, Column: "window_start_s", Err: fmt.Errorf("not a number of seconds: %q", rec[c.start])}
		}
		rate, err := strconv.ParseFloat(strings.TrimSpace(rec[c.rate]), 64)
		if err != nil || math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
			return nil, &ParseError{Line: line, Column: "rate", Err: fmt.Errorf("not a finite non-negative rate: %q", rec[c.rate])}
		}
		w := RateWindow{Start: opts.Epoch.Add(time.Duration(math.Round(sec * 1e9))), Rate: rate}
		if c.class >= 0 {
			w.Class = strings.Clone(rec[c.class])
		}
		if p, ok := last[w.Class]; ok {
			if sec <= p {
				return nil, &ParseError{Line: line, Column: "window_start_s", Err: fmt.Errorf("%w: window %g s does not come after %g s", ErrUnsorted, sec, p)}
			}
			minGap = math.Min(minGap, sec-p)
		}
		last[w.Class] = sec
		t.Rates = append(t.Rates, w)
	}
	if len(t.Rates) == 0 {
		return nil, ErrEmpty
	}
	if t.Window <= 0 {
		if math.IsInf(minGap, 1) {
			return nil, fmt.Errorf("%w: cannot infer the window length from one window per class; set the window length", ErrEmpty)
		}
		t.Window = time.Duration(math.Round(minGap * 1e9))
		if t.Window <= 0 {
			return nil, fmt.Errorf("window length %g s is too small", minGap)
		}
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

// timeLayouts are tried in order for per-request timestamps.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999", // Azure traces
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).In(loc), nil
	}
	return time.Time{}, fmt.Errorf("unrecognized timestamp %q (want e.g. 2023-11-16 18:17:03.97996, RFC 3339 or Unix seconds)", s)
}

func optInt(rec []string, i int) (int, error) {
	if i < 0 || strings.TrimSpace(rec[i]) == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(rec[i]))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("not a non-negative integer: %q", rec[i])
	}
	return v, nil
}

// csvError turns a csv or size error into a *ParseError with its line.
func csvError(err error, lr *limitReader) error {
	if lr.longLine {
		return fmt.Errorf("%w: a line longer than %d bytes; not a trace CSV", ErrTooLarge, MaxLineBytes)
	}
	if lr.exceeded {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lr.max())
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("reading csv: %w", err)
}

// limitReader fails with ErrTooLarge once more than its limit has been read,
// where io.LimitReader would silently truncate the trace.
//
// With maxLine set it also fails once a line runs longer than that.
type limitReader struct {
	r        io.Reader
	left     int64
	read     int64
	exceeded bool
	maxLine  int // 0: no bound
	line     int // bytes since the last '\n'
	longLine bool
}

func (l *limitReader) max() int64 { return l.read + l.left }

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.exceeded = true
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	if l.left < 0 {
		l.exceeded = true
		return n, ErrTooLarge
	}
	if l.maxLine > 0 {
		if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
			l.line = n - i - 1
		} else {
			l.line += n
		}
		if l.line > l.maxLine {
			l.longLine = true
			return n, ErrTooLarge
		}
	}
	return n, err
}
