package simulations

import (
	"strings"
	"testing"
)

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"a=1,b=2", "", "a", "a=-1", "a=1e308,b=NaN", "a=1,a=2", " a = 1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		for k, v := range m {
			if k == "" || !(v >= 0) {
				t.Fatalf("accepted %q: share %v for %q", s, v, k)
			}
		}
	})
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("trace: t.csv\npolicies: [p]\nbaselines: [hpa-ca]\nmix: {a: 1}\nscale: 2\nduration: 5m\nmode: flow\n"))
	f.Add([]byte("trace: t.csv\npolicies: [p]\nbaselines: [karpenter]\n"))
	f.Add([]byte("trace: [1, 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseScenario("s.yaml", b)
		if err != nil {
			if !strings.Contains(err.Error(), "s.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s.Trace == "" || len(s.Policies) == 0 || s.Scale < 0 {
			t.Fatalf("accepted an incomplete scenario: %+v", s)
		}
		if _, err := ParseMode(s.Mode); err != nil {
			t.Fatalf("accepted mode %q", s.Mode)
		}
	})
}
