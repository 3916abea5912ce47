// Package plot draws a forecast backtest: the actual rate, the point
// forecast and the band up to the upper quantile, over time. It writes SVG
// (vector, for docs and browsers) or PNG (for chat and tickets) to an
// io.Writer and does no other I/O. Both are drawn by gonum.org/v1/plot from
// the same plot, so both have the same title, axes, tick labels and legend.
package plot

import (
	"image/color"
	"io"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/headroom-dev/headroom/forecast"
)

// Options size and label the plot; the zero value is usable.
type Options struct {
	Width, Height int    // pixels; 0 means 1200 x 400
	Title         string // drawn at the top
	// MaxPoints thins long backtests to at most this many points (every
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

var (
	bandColor   = color.RGBA{0x9e, 0xca, 0xe1, 0xff}
	pointColor  = color.RGBA{0x31, 0x82, 0xbd, 0xff}
	actualColor = color.RGBA{0, 0, 0, 0xff}
)

// pixels converts a pixel count to a vg length at the PNG canvas's
// resolution, so an SVG and a PNG of the same Options have the same size
// in a browser.
func pixels(n int) vg.Length { return vg.Length(n) * vg.Inch / vgimg.DefaultDPI }

// build lays out the plot: the band as a polygon from the upper quantile
// back along the point forecast, then the point forecast and the actual
// rate as lines, time on x (UTC) and req/s on y.
func build(pts []forecast.BacktestPoint, o Options) (*gplot.Plot, error) {
	if k := (len(pts) + o.MaxPoints - 1) / o.MaxPoints; k > 1 {
		thin := make([]forecast.BacktestPoint, 0, len(pts)/k+1)
		for i := 0; i < len(pts); i += k {
			thin = append(thin, pts[i])
		}
		pts = thin
	}
	p := gplot.New()
	p.Title.Text = o.Title
	p.X.Label.Text = "time (UTC)"
	p.Y.Label.Text = "req/s"
	p.X.Tick.Marker = gplot.TimeTicks{Format: "01-02 15:04", Time: gplot.UnixTimeIn(time.UTC)}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	if len(pts) == 0 {
		return p, nil
	}
	actual := make(plotter.XYs, len(pts))
	point := make(plotter.XYs, len(pts))
	band := make(plotter.XYs, 0, 2*len(pts))
	top := 0.0
	for i, q := range pts {
		top = max(top, q.Actual, q.Point, q.Upper)
		x := float64(q.Time.UnixNano()) / 1e9
		actual[i] = plotter.XY{X: x, Y: q.Actual}
		point[i] = plotter.XY{X: x, Y: q.Point}
		band = append(band, plotter.XY{X: x, Y: q.Upper})
	}
	for i := len(pts) - 1; i >= 0; i-- {
		band = append(band, point[i])
	}
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return nil, err
	}
	poly.Color, poly.LineStyle.Width = bandColor, 0
	lp, err := plotter.NewLine(point)
	if err != nil {
		return nil, err
	}
	lp.Color = pointColor
	la, err := plotter.NewLine(actual)
	if err != nil {
		return nil, err
	}
	la.Color = actualColor
	p.Y.Max = 1.25 * top // room for the legend above the data
	p.Add(poly, lp, la)
	p.Legend.Add("actual", la)
	p.Legend.Add("point forecast", lp)
	p.Legend.Add("band to the upper quantile", poly)
	return p, nil
}

// WriteSVG draws points as an SVG document.
func WriteSVG(w io.Writer, pts []forecast.BacktestPoint, o Options) error {
	o = o.withDefaults()
	p, err := build(pts, o)
	if err != nil {
		return err
	}
	c := vgsvg.New(pixels(o.Width), pixels(o.Height))
	p.Draw(draw.New(c))
	_, err = c.WriteTo(w)
	return err
}

// WritePNG draws points as a PNG image, the same plot as WriteSVG.
func WritePNG(w io.Writer, pts []forecast.BacktestPoint, o Options) error {
	o = o.withDefaults()
	p, err := build(pts, o)
	if err != nil {
		return err
	}
	c := vgimg.New(pixels(o.Width), pixels(o.Height))
	p.Draw(draw.New(c))
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}
