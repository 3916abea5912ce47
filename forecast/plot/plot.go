// Package plot draws a forecast backtest: the actual rate, the point
// forecast and the band up to the upper quantile, over time. It writes SVG
// (vector, for docs and browsers) or PNG (for chat and tickets) to an
// io.Writer and does no other I/O.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"

	"github.com/headroom-dev/headroom/forecast"
)

// Options size and label the plot; the zero value is usable.
type Options struct {
	Width, Height int    // pixels; 0 means 1200 x 400
	Title         string // drawn at the top
	// MaxPoints thins long backtests to at most this many columns (every
	// k-th point); 0 means 3000.
	MaxPoints int
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 {
		o.Width = 1200
	}
	if o.Height <= 0 {
		o.Height = 400
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 3000
	}
	return o
}

const margin = 50

// frame maps points to pixels.
type frame struct {
	pts        []forecast.BacktestPoint
	w, h       int
	t0, t1     time.Time
	maxY       float64
	plotW, plH float64
}

func newFrame(pts []forecast.BacktestPoint, o Options) frame {
	if k := (len(pts) + o.MaxPoints - 1) / o.MaxPoints; k > 1 {
		thin := make([]forecast.BacktestPoint, 0, len(pts)/k+1)
		for i := 0; i < len(pts); i += k {
			thin = append(thin, pts[i])
		}
		pts = thin
	}
	f := frame{pts: pts, w: o.Width, h: o.Height, plotW: float64(o.Width - 2*margin), plH: float64(o.Height - 2*margin)}
	for i, p := range pts {
		if i == 0 {
			f.t0 = p.Time
		}
		f.t1 = p.Time
		f.maxY = math.Max(f.maxY, math.Max(p.Actual, math.Max(p.Point, p.Upper)))
	}
	if f.maxY <= 0 {
		f.maxY = 1
	}
	f.maxY *= 1.05
	return f
}

func (f frame) x(t time.Time) float64 {
	span := f.t1.Sub(f.t0)
	if span <= 0 {
		return margin
	}
	return margin + f.plotW*float64(t.Sub(f.t0))/float64(span)
}

func (f frame) y(v float64) float64 { return margin + f.plH*(1-v/f.maxY) }

// WriteSVG draws points as an SVG document.
func WriteSVG(w io.Writer, pts []forecast.BacktestPoint, o Options) error {
	o = o.withDefaults()
	f := newFrame(pts, o)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", f.w, f.h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", margin, escape(o.Title))
	// Band: the polygon between the point forecast and the upper quantile.
	if len(f.pts) > 0 {
		b.WriteString(`<polygon fill="#9ecae1" fill-opacity="0.6" stroke="none" points="`)
		for _, p := range f.pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", f.x(p.Time), f.y(p.Upper))
		}
		for i := len(f.pts) - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "%.1f,%.1f ", f.x(f.pts[i].Time), f.y(f.pts[i].Point))
		}
		b.WriteString("\"/>\n")
	}
	line := func(color string, v func(forecast.BacktestPoint) float64) {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1" points="`, color)
		for _, p := range f.pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", f.x(p.Time), f.y(v(p)))
		}
		b.WriteString("\"/>\n")
	}
	line("#3182bd", func(p forecast.BacktestPoint) float64 { return p.Point })
	line("#000000", func(p forecast.BacktestPoint) float64 { return p.Actual })
	// Axes and labels.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>`+"\n", margin, f.h-margin, f.w-margin, f.h-margin)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>`+"\n", margin, margin, margin, f.h-margin)
	for i := 0; i <= 4; i++ {
		v := f.maxY * float64(i) / 4
		fmt.Fprintf(&b, `<text x="4" y="%.1f">%.3g</text>`+"\n", f.y(v)+4, v)
	}
	if len(f.pts) > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", margin, f.h-margin+18, f.t0.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", f.w-margin, f.h-margin+18, f.t1.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">black: actual   blue: point forecast   shaded: up to the upper quantile (req/s)</text>`+"\n", margin, f.h-12)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// WritePNG draws points as a PNG image (no text: the title and legend are
// in the SVG; the colours are the same).
func WritePNG(w io.Writer, pts []forecast.BacktestPoint, o Options) error {
	o = o.withDefaults()
	f := newFrame(pts, o)
	img := image.NewRGBA(image.Rect(0, 0, f.w, f.h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	band := color.RGBA{0xc6, 0xdb, 0xef, 0xff}
	blue := color.RGBA{0x31, 0x82, 0xbd, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0x55, 0x55, 0x55, 0xff}
	drawLine(img, margin, f.h-margin, f.w-margin, f.h-margin, grey)
	drawLine(img, margin, margin, margin, f.h-margin, grey)
	for _, p := range f.pts {
		x := int(f.x(p.Time))
		drawLine(img, x, int(f.y(p.Point)), x, int(f.y(p.Upper)), band)
	}
	for i := 1; i < len(f.pts); i++ {
		a, c := f.pts[i-1], f.pts[i]
		drawLine(img, int(f.x(a.Time)), int(f.y(a.Point)), int(f.x(c.Time)), int(f.y(c.Point)), blue)
		drawLine(img, int(f.x(a.Time)), int(f.y(a.Actual)), int(f.x(c.Time)), int(f.y(c.Actual)), black)
	}
	return png.Encode(w, img)
}

// drawLine is Bresenham's line algorithm.
func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
