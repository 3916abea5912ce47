package forecast

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSpikeDetector(t *testing.T) {
	band := Band{Point: 100, Upper: 120}
	tests := []struct {
		name    string
		rates   func(sec int) float64
		band    Band
		firstAt int // seconds until Spike, -1 for never
	}{
		{"steady inside", func(int) float64 { return 110 }, band, -1},
		{"noise inside", func(s int) float64 { return 100 + 15*math.Sin(float64(s)) }, band, -1},
		{"step to 3x", func(s int) float64 { return map[bool]float64{true: 360, false: 100}[s >= 60] }, band, 66},
		{"step to 1.5x", func(s int) float64 { return map[bool]float64{true: 150, false: 100}[s >= 60] }, band, 75},
		{"no band, step to 4x", func(s int) float64 { return map[bool]float64{true: 400, false: 100}[s >= 600] }, Band{}, 603},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewSpikeDetector(SpikeOptions{})
			first := -1
			for s := 0; s <= 900; s += 3 {
				r := d.Observe(t0.Add(time.Duration(s)*time.Second), tc.rates(s), tc.band)
				if r.Spike && first < 0 {
					first = s
					if r.Reason == "" {
						t.Fatal("spike without a reason")
					}
				}
			}
			if (tc.firstAt < 0) != (first < 0) || (tc.firstAt >= 0 && math.Abs(float64(first-tc.firstAt)) > 6) {
				t.Fatalf("first spike at %ds, want %ds", first, tc.firstAt)
			}
		})
	}
}

func TestSpikeHysteresisAndBadInput(t *testing.T) {
	d := NewSpikeDetector(SpikeOptions{ShortWindow: time.Second})
	b := Band{Upper: 100}
	d.Observe(t0, 50, b)
	if r := d.Observe(t0.Add(10*time.Second), 500, b); !r.Spike {
		t.Fatalf("no spike: %+v", r)
	}
	if r := d.Observe(t0.Add(11*time.Second), math.NaN(), b); !r.Spike || !strings.Contains(r.Reason, "ignored") {
		t.Fatalf("NaN: %+v", r)
	}
	if r := d.Observe(t0.Add(5*time.Second), 0, b); !strings.Contains(r.Reason, "older") {
		t.Fatalf("old sample: %+v", r)
	}
	if r := d.Observe(t0.Add(30*time.Second), 50, b); r.Spike {
		t.Fatalf("spike did not clear: %+v", r)
	}
}
