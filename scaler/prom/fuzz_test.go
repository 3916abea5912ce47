package prom

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Every parser in the package gets a fuzz test: none may panic, and what
// they accept must round-trip or stay in range.

// FuzzParseMatchers: what parses formats back to itself.
func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{``, `a="x"`, `{a!="", b=~"x|y", c!~` + "`z`" + `}`, `a="\"q\",b"`, `a=~"("`, `a="\xff"`,
		`a="x",`, `{}`, `a = "x" , b != "y"`, "a=`\n`", `_:="x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMatchers(s)
		if err != nil {
			return
		}
		for _, m := range ms {
			if err := m.validate(); err != nil {
				t.Fatalf("%q: accepted an invalid matcher %+v: %v", s, m, err)
			}
		}
		back, err := ParseMatchers(FormatMatchers(ms))
		if err != nil {
			t.Fatalf("%q -> %q does not parse back: %v", s, FormatMatchers(ms), err)
		}
		if !slices.Equal(back, ms) {
			t.Fatalf("%q -> %v -> %v", s, ms, back)
		}
	})
}

// FuzzDecode feeds any instant vector (Prometheus's JSON) to every decoder
// as if each query had answered it: no panic, and every row that comes out
// is whole, finite and fresh. Missing never turns into a number.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`[]`,
		`[{"metric":{"class":"a"},"value":[1772445600,"1.5"]}]`,
		`[{"metric":{"class":"a"},"value":[1772445600,"NaN"]},{"metric":{"class":"b"},"value":[1772445600,"+Inf"]}]`,
		`[{"metric":{"class":"a"},"value":[1772445600,"0"]},{"metric":{"class":"a"},"value":[1772445600,"1"]}]`,
		`[{"metric":{"__name__":"DCGM_FI_DEV_FB_USED","pod":"reader-a-0","namespace":"ml","GPU_I_PROFILE":""},"value":[1,"14336"]}]`,
		`[{"metric":{"class":"a","pod":"p","namespace":"ml"},"value":[1772445600,"1772445599.5"]}]`,
		`[{"metric":{"class":""},"value":[1,"-1e308"]}]`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1772445600, 0).UTC()
	const staleness = time.Minute
	l := gpuLabels{profile: "GPU_I_PROFILE", node: "Hostname", pod: "pod", namespace: "namespace"}
	classOf := func(ns, pod string) (string, bool) {
		if strings.HasPrefix(pod, "reader-") {
			return "c-" + ns, true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v model.Vector
		if json.Unmarshal(b, &v) != nil {
			return
		}
		m, _, err := byClass(v, "class")
		if err != nil {
			return
		}
		for c, x := range m {
			if c == "" || !finite(x) {
				t.Fatalf("byClass kept %q = %v", c, x)
			}
		}
		stats, _ := assembleClassStats(classParts{m, m, m, m, m, m, m}, now, staleness)
		for _, s := range stats {
			if s.Class == "" || !finite(s.Rate) || !finite(s.InFlight) || !finite(s.ErrorRate) {
				t.Fatalf("row %+v", s)
			}
			if now.Sub(s.At) > staleness {
				t.Fatalf("row %+v is older than %v", s, staleness)
			}
			if s.Rate != 0 && (math.Abs(s.P99.Seconds()) > maxLatency) {
				t.Fatalf("row %+v: latency out of range", s)
			}
		}
		rows, _, err := decodeGPU(v, v, l, classOf)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Class == "" || r.Profile == "" || !finite(r.UsedMiB) || !finite(r.FreeMiB) {
				t.Fatalf("gpu row %+v", r)
			}
		}
	})
}
