package simulations

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// reportComparison runs the bundled Azure conversation scenario for d ("":
// the whole trace) with headroom, HPA + Cluster Autoscaler, static and the
// bound: in its first minutes
// HPA + CA falls below the SLO, so the report has incidents.
func reportComparison(t *testing.T, d string) *Comparison {
	t.Helper()
	sc, err := LoadScenario("testdata/scenarios/reference-azure-conv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration, sc.Baselines = d, []string{"hpa-ca", "static"}
	cmp, err := sc.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cmp
}

func TestWinners(t *testing.T) {
	nan := math.NaN()
	all := []bool{true, true, true, true}
	for _, tc := range []struct {
		v    []float64
		best int
		rank []bool
		want []bool
	}{
		{[]float64{0.99, 0.97, 0.99, 1}, +1, []bool{true, true, true, false}, []bool{true, false, true, false}}, // the bound is not ranked
		{[]float64{3, 1, 2, 1}, -1, all, []bool{false, true, false, true}},
		{[]float64{2, 2, 2, 2}, -1, all, []bool{false, false, false, false}}, // all tie: no winner
		{[]float64{nan, 5, 4, 6}, -1, all, []bool{false, false, true, false}},
		{[]float64{1, 2, 3, 4}, 0, all, []bool{false, false, false, false}},
		{[]float64{1, 2, 3, 4}, +1, []bool{true, false, false, false}, []bool{false, false, false, false}}, // one contender
	} {
		if got := winners(tc.v, tc.best, tc.rank); !slices.Equal(got, tc.want) {
			t.Errorf("winners(%v, %d, %v) = %v, want %v", tc.v, tc.best, tc.rank, got, tc.want)
		}
	}
}

func TestCalendarOf(t *testing.T) {
	p := loadRef(t)
	// Monday 2026-03-02 12:00 UTC = 13:00 Berlin, for a day. Disruption:
	// weekdays from 20:00 Berlin for 11h = 19:00-06:00 UTC. The readers'
	// scheduled minimum: weekdays 08:30 Berlin for 10h = 07:30-17:30 UTC.
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	cal := CalendarOf(p, start, 24*time.Hour)
	if cal.TimeZone != "Europe/Berlin" {
		t.Errorf("time zone %q", cal.TimeZone)
	}
	if want := []Span{{7 * time.Hour, 18 * time.Hour}}; !slices.Equal(cal.Disruption, want) {
		t.Errorf("disruption %v, want %v", cal.Disruption, want)
	}
	var en []Span
	for _, m := range cal.Minimums {
		if m.Class == "reader-en-large" {
			en = append(en, m.Span)
			if m.MinReplicas != 8 {
				t.Errorf("reader-en-large floor %d, want 8", m.MinReplicas)
			}
		}
	}
	if want := []Span{{0, 5*time.Hour + 30*time.Minute}, {19*time.Hour + 30*time.Minute, 24 * time.Hour}}; !slices.Equal(en, want) {
		t.Errorf("reader-en-large scheduled minimum %v, want %v", en, want)
	}
}

// The report is one file: uPlot inlined with its licence, no external
// reference, the summary as tables (no <pre>), every chart's data present.
func TestHTMLSelfContained(t *testing.T) {
	cmp := reportComparison(t, "3m")
	var b bytes.Buffer
	if err := WriteHTML(&b, cmp); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, bad := range []string{"<script src", "<link", "<img", "<pre", "@import", "url("} {
		if strings.Contains(s, bad) {
			t.Errorf("report has %q", bad)
		}
	}
	if m := regexp.MustCompile(`(src|href)="(https?:)?//`).FindString(s); m != "" {
		t.Errorf("report references %q", m)
	}
	for _, want := range []string{"Copyright (c) 2022 Leon Sorokin", "Permission is hereby granted, free of charge", "uPlot (v1.6.32)", `<table id="runs">`, `<table id="classes">`} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	i := strings.Index(s, `<script type="application/json" id="report-data">`)
	j := strings.Index(s[i:], "</script>")
	var data reportData
	if i < 0 || j < 0 || json.Unmarshal([]byte(s[i+len(`<script type="application/json" id="report-data">`):i+j]), &data) != nil {
		t.Fatal("report data missing or not JSON")
	}
	if len(data.Charts) < 4 {
		t.Fatalf("%d charts", len(data.Charts))
	}
	for _, ch := range data.Charts {
		if len(ch.X) == 0 || len(ch.Series) == 0 || !strings.Contains(s, `id="`+ch.ID+`"`) {
			t.Errorf("chart %s: %d points, %d series, element present %v", ch.ID, len(ch.X), len(ch.Series), strings.Contains(s, `id="`+ch.ID+`"`))
		}
	}
}

var screenshot = flag.String("screenshot", "", "write the browser test's screenshot of the report here (docs: ../docs/img/report.png)")

// chromium returns Debian's chromium, skipping the test without it (failing
// under CI, where scripts/install-test-deps.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("CHROMIUM_BIN"), "chromium"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (run scripts/install-test-deps.sh)")
	}
	t.Skip("chromium not found; run scripts/install-test-deps.sh")
	return ""
}

// The report in a real browser (headless Chromium, 1400 px wide): it loads
// without console errors or requests beyond the file itself; the tables
// are there, right-aligned, with winners marked, and fit the width; every
// chart is drawn with data; time reads in the policy's zone on hover;
// dragging over one chart zooms them all; an incident opens with its
// chart; and a screenshot is written.
func TestReportInBrowser(t *testing.T) {
	bin := chromium(t)
	dur := "5m"
	if *screenshot != "" {
		dur = "" // the docs' picture: the whole trace, 58 minutes, into the evening's disruption window
	}
	cmp := reportComparison(t, dur)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteFileAtomic(path, func(w io.Writer) error { return WriteHTML(w, cmp) }); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(filepath.Join(dir, "profile")))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var problems []string
	report := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, a...))
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				report("console %s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			report("exception at %d:%d: %s %s", d.LineNumber+1, d.ColumnNumber+1, d.Text, desc)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				report("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if e.Request.URL != url {
				report("request for %s", e.Request.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	type chartInfo struct {
		ID     string `json:"id"`
		Points int    `json:"points"`
		Width  int    `json:"width"`
	}
	type pageInfo struct {
		Charts      []chartInfo `json:"charts"`
		Runs        int         `json:"runs"`
		Classes     int         `json:"classes"`
		Wins        int         `json:"wins"`
		Align       string      `json:"align"`
		ScrollWidth int         `json:"scrollWidth"`
		Incidents   int         `json:"incidents"`
		Drawn       int         `json:"drawn"`
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(url),
		chromedp.Poll[chromedp.Void](`window.headroomReport && window.headroomReport.charts.length > 0`)); err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(ctx, chromedp.Evaluate[pageInfo](`(() => {
		const charts = [...document.querySelectorAll('.chart:not(.incident-chart)')].map(el => {
			const c = el.querySelector('canvas');
			return {id: el.id, points: Number(el.dataset.points || 0), width: c ? c.width : 0};
		});
		return {charts,
			runs: document.querySelectorAll('#runs tbody tr').length,
			classes: document.querySelectorAll('#classes tbody tr').length,
			wins: document.querySelectorAll('#runs td.win').length,
			align: getComputedStyle(document.querySelector('#runs td.n')).textAlign,
			scrollWidth: document.documentElement.scrollWidth,
			incidents: document.querySelectorAll('table.incidents tbody tr').length,
			drawn: window.headroomReport.charts.length};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, cl := range cmp.Runs[0].Classes {
		if cl.Requests > 0 {
			busy++
		}
	}
	if page.Runs != len(cmp.Runs) || page.Classes != busy*len(cmp.Runs) {
		t.Errorf("tables: %d runs, %d class rows; want %d, %d x %d", page.Runs, page.Classes, len(cmp.Runs), busy, len(cmp.Runs))
	}
	if page.Align != "right" || page.Wins == 0 {
		t.Errorf("numbers aligned %q, %d winners marked", page.Align, page.Wins)
	}
	if page.ScrollWidth > 1400 {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 1400).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`))
		t.Errorf("page is %d px wide at a 1400 px window: %v", page.ScrollWidth, wide)
	}
	if len(page.Charts) < 4 || page.Drawn != len(page.Charts) {
		t.Errorf("%d charts, %d drawn", len(page.Charts), page.Drawn)
	}
	for _, c := range page.Charts {
		if c.Points == 0 || c.Width < 300 {
			t.Errorf("chart %s: %d points, canvas %d px wide", c.ID, c.Points, c.Width)
		}
	}
	if page.Incidents == 0 {
		t.Error("no incidents listed (HPA + CA misses its SLO in the first minutes)")
	}

	// The screenshot, before the interactions change the page.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.DecodeConfig(bytes.NewReader(shot))
	out := filepath.Join(dir, "report.png")
	if *screenshot != "" {
		out = *screenshot
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if err != nil || img.Width != 1400 {
		t.Errorf("screenshot: %v, %d px wide", err, img.Width)
	}
	// Hover: the cursor on the first point shows its wall-clock time in
	// the policy's zone (Europe/Berlin, not the browser's UTC).
	first := cmp.Start.Add(cmp.Runs[0].Timeline.Points[0].T).In(mustLoc(t, cmp.Calendar.TimeZone)).Format("3:04pm")
	legend, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const u = window.headroomReport.charts[0];
		u.setCursor({left: u.valToPos(u.data[0][0], 'x'), top: 20});
		return document.querySelector('#fleet-latency .u-legend .u-series:first-child .u-value').textContent;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(legend, first) {
		t.Errorf("hover shows %q, want the time %s in %s", legend, first, cmp.Calendar.TimeZone)
	}

	// Zoom: drag across the middle of the first chart; it and the others
	// show the same, narrower range.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const over = document.querySelector('#fleet-latency .u-over');
		over.scrollIntoView({block: 'center'});
		const r = over.getBoundingClientRect();
		return [r.left, r.top, r.width, r.height];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	x0, x1, y := box[0]+box[2]*0.3, box[0]+box[2]*0.6, box[1]+box[3]/2
	if err := chromedp.Do(ctx,
		chromedp.MouseEvent(chromedp.MouseMoved, x0, y),
		chromedp.MouseEvent(chromedp.MousePressed, x0, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, (x0+x1)/2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x1, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x1, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	); err != nil {
		t.Fatal(err)
	}
	ranges, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]float64](`window.headroomReport.charts.map(u => [u.scales.x.min, u.scales.x.max])`))
	if err != nil {
		t.Fatal(err)
	}
	full := cmp.Runs[0].Timeline.Points
	span := full[len(full)-1].T - full[0].T
	for i, r := range ranges {
		if got := time.Duration((r[1] - r[0]) * 1e9); got <= 0 || got > span*2/3 || r != ranges[0] {
			t.Errorf("after the drag chart %d shows %v..%v (%v of %v), chart 0 %v", i, r[0], r[1], got, span, ranges[0])
		}
	}

	// An incident opens from its link, with its chart at every scrape.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`table.incidents tbody tr a`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('details[open] .incident-chart[data-points]') !== null`)); err != nil {
		t.Fatal(err)
	}
	incPoints, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('details[open] .incident-chart').dataset.points`))
	if err != nil || incPoints == "" || incPoints == "0" {
		t.Errorf("incident chart has %q points (%v)", incPoints, err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d charts, %d incidents, screenshot %s (%dx%d)", len(page.Charts), page.Incidents, out, img.Width, img.Height)
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
