package plot

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/forecast"
)

func points() []forecast.BacktestPoint {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var pts []forecast.BacktestPoint
	for i := range 5000 {
		v := float64(i % 100)
		pts = append(pts, forecast.BacktestPoint{Time: t0.Add(time.Duration(i) * time.Minute), Actual: v, Point: v + 1, Upper: v + 10})
	}
	return pts
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, points(), Options{Title: "a <b> & c"}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.HasPrefix(s, "<svg") || !strings.Contains(s, "a &lt;b&gt; &amp; c") || strings.Count(s, "<polyline") != 2 {
		t.Fatalf("svg: %.300s", s)
	}
	b.Reset()
	if err := WriteSVG(&b, nil, Options{}); err != nil || !strings.HasSuffix(b.String(), "</svg>\n") {
		t.Fatalf("empty: %v %q", err, b.String())
	}
}

func TestWritePNG(t *testing.T) {
	var b bytes.Buffer
	if err := WritePNG(&b, points(), Options{Width: 300, Height: 100}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil || img.Bounds().Dx() != 300 {
		t.Fatalf("png: %v %v", err, img.Bounds())
	}
}
