package plot

import (
	"bytes"
	"image"
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
	for _, want := range []string{"<svg", "a &lt;b&gt; &amp; c", "req/s", "actual", "point forecast", "band to the upper quantile", "01-01 "} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	b.Reset()
	if err := WriteSVG(&b, nil, Options{}); err != nil || !strings.Contains(b.String(), "</svg>") {
		t.Fatalf("empty: %v %.200q", err, b.String())
	}
}

// The PNG is the same plot as the SVG: it has text (title, tick labels,
// legend), not just lines. Text is where no data can be: above the plot
// area (the title) and left of the y axis (the tick labels and the axis
// label).
func TestWritePNG(t *testing.T) {
	var b bytes.Buffer
	if err := WritePNG(&b, points(), Options{Width: 600, Height: 300, Title: "conv.csv: auto forecast"}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 600 || img.Bounds().Dy() != 300 {
		t.Fatalf("size %v, want 600x300", img.Bounds())
	}
	if n := darkPixels(img, image.Rect(0, 0, 600, 14)); n < 20 {
		t.Errorf("%d dark pixels in the title strip: no title drawn", n)
	}
	if n := darkPixels(img, image.Rect(0, 30, 25, 250)); n < 20 {
		t.Errorf("%d dark pixels left of the y axis: no axis label or tick values drawn", n)
	}
	var empty bytes.Buffer
	if err := WritePNG(&empty, nil, Options{}); err != nil {
		t.Fatalf("empty: %v", err)
	}
}

func darkPixels(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if cr, cg, cb, _ := img.At(x, y).RGBA(); cr+cg+cb < 3*0x8000 {
				n++
			}
		}
	}
	return n
}
