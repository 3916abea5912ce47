package scaler_test

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/scaler"
)

func TestTickDistribution(t *testing.T) {
	if os.Getenv("HEADROOM_TICK_DIST") == "" {
		t.Skip("set HEADROOM_TICK_DIST=1 (or =persistence for the built-in forecaster)")
	}
	w, pol := bigWorld(200, 125, 1)
	opts := scaler.Options{DryRun: true}
	if os.Getenv("HEADROOM_TICK_DIST") == "persistence" {
		opts.Forecaster = scaler.NewPersistence(0.1, 10*time.Minute)
	}
	c := newController(t, w, pol, opts)
	var ds []time.Duration
	for i := range 500 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		for win, stats := range w.Stats {
			for j := range stats {
				w.Stats[win][j].At = now
				w.Stats[win][j].Rate *= 1 + 0.01*float64((i*7+j)%5-2)
			}
		}
		start := time.Now()
		c.Tick(context.Background(), now)
		ds = append(ds, time.Since(start))
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	t.Logf("median %v p95 %v max %v", s[len(s)/2], s[len(s)*95/100], s[len(s)-1])
	for i, d := range ds {
		if d > 300*time.Millisecond {
			t.Logf("tick %d took %v", i, d)
		}
	}
}
