package scaler

import (
	"math"
	"testing"
	"time"
)

func TestPersistenceForecaster(t *testing.T) {
	p := NewPersistence(0.1, 5*time.Minute)
	if f := p.Predict("a", t0, time.Minute, 0.95); f.Upper != 0 || f.Reason == "" {
		t.Fatalf("empty forecast %+v", f)
	}
	p.Observe("a", t0, 100)
	p.Observe("a", t0.Add(time.Minute), 50)
	p.Observe("a", t0.Add(2*time.Minute), -1) // ignored
	f := p.Predict("a", t0.Add(2*time.Minute), time.Minute, 0.95)
	if f.Point != 50 || math.Abs(f.Upper-110) > 1e-9 {
		t.Fatalf("forecast %+v, want point 50 upper 110", f)
	}
}
