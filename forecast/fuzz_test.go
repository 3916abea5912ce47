package forecast

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// FuzzOnline feeds arbitrary observations (times, rates including NaN, Inf
// and negative values) and queries (horizons, quantiles including NaN) to
// an Online forecaster and a spike detector: nothing may panic, and every
// prediction must be finite and non-negative.
func FuzzOnline(f *testing.F) {
	seed := make([]byte, 0, 16*40)
	for i := range 40 {
		seed = binary.LittleEndian.AppendUint64(seed, uint64(60+i%3))
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(100+10*math.Sin(float64(i))))
	}
	f.Add(seed, uint16(60), 0.95)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x7f}, uint16(10), math.NaN())
	f.Fuzz(func(t *testing.T, data []byte, stepSec uint16, q float64) {
		step := time.Duration(max(1, int(stepSec)%3600)) * time.Second
		on := NewOnline(Options{Step: step, History: 200 * step, ReselectEvery: 20 * step, PeakWindow: 5 * step, Margin: 0.1})
		sd := NewSpikeDetector(SpikeOptions{})
		now := t0
		for i := 0; i+16 <= len(data) && i < 16*600; i += 16 {
			dt := time.Duration(binary.LittleEndian.Uint64(data[i:])%(10*uint64(step))) - step
			now = now.Add(dt)
			v := math.Float64frombits(binary.LittleEndian.Uint64(data[i+8:]))
			on.Observe(now, v)
			p := on.Predict(now, time.Duration(i%7)*step, q)
			for _, x := range []float64{p.Point, p.Upper} {
				if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
					t.Fatalf("bad prediction %+v", p)
				}
			}
			r := sd.Observe(now, v, p.Band())
			if math.IsNaN(r.Short) || math.IsNaN(r.CUSUM) {
				t.Fatalf("bad spike state %+v", r)
			}
		}
	})
}
