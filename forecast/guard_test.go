package forecast

import (
	"strings"
	"testing"
	"time"
)

// diverging is a model whose forecasts run away (as a multiplicative
// season over near-zero troughs does after a spike).
type diverging struct{ last float64 }

func (d *diverging) update(y float64)     { d.last = y }
func (d *diverging) forecast(int) float64 { return 1e7 * (d.last + 1) }

// No backtest forecast exceeds PeakCap times the peak of the history
// before the evaluation window, and a method that keeps hitting that bound
// counts as diverging.
func TestBacktestForecastsAreBounded(t *testing.T) {
	y := make([]float64, 400)
	for i := range y {
		y[i] = 10 + float64(i%24)
	}
	plan := evalPlan{h: 1, from: 300, q: 0.95, scaleMin: 1, limit: peakLimit(y[:300], DefaultPeakCap)}
	sc := newScratch()
	score(&diverging{}, y, 0, plan, sc)
	for i, f := range sc.fc {
		if f > plan.limit {
			t.Fatalf("forecast %d = %g above the bound %g", i, f, plan.limit)
		}
	}
	if share := cappedShare(sc.fc, plan.limit); share <= DivergedShare {
		t.Errorf("capped share %.2f, want it marked diverging", share)
	}
	score(&persistModel{}, y, 0, plan, sc)
	if share := cappedShare(sc.fc, plan.limit); share != 0 {
		t.Errorf("persistence capped %.2f of the time", share)
	}
}

// A live model that runs away is held at PeakCap times the highest rate
// seen, and says so.
func TestOnlinePredictionIsBounded(t *testing.T) {
	o := NewOnline(Options{Step: time.Minute, Methods: []Method{Persistence}})
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		o.Observe(t0.Add(time.Duration(i)*time.Minute), 10+float64(i%24))
	}
	now := t0.Add(499 * time.Minute)
	o.Predict(now, 15*time.Minute, 0.95) // chooses the live model
	for _, lm := range o.live {
		lm.md, lm.pmd = &diverging{last: 30}, nil
	}
	p := o.Predict(now, 15*time.Minute, 0.95)
	if limit := DefaultPeakCap * 33; p.Upper > limit || p.Point > limit || !strings.Contains(p.Reason, "capped") {
		t.Errorf("prediction %+v, want at most %g with the reason", p, limit)
	}
}
