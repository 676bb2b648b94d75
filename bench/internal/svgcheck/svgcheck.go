// Package svgcheck inspects the SVG charts the bench reports write, for
// their tests: every text inside the viewBox, value axes from 0.
package svgcheck

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Text is one <text> element: its anchor point, font size, rotation
// (degrees, clockwise as SVG's rotate) and content.
type Text struct {
	X, Y, Size, Rotate float64
	S                  string
}

// Chart is what the checks read of an SVG document.
type Chart struct {
	W, H  float64
	Texts []Text
}

var (
	fontSize = regexp.MustCompile(`font-size:\s*([\d.]+)px`)
	rotate   = regexp.MustCompile(`rotate\(\s*(-?[\d.]+)`)
)

// Parse reads the viewBox and every text element of an SVG document.
func Parse(b []byte) (*Chart, error) {
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Texts   []struct {
			X         float64 `xml:"x,attr"`
			Y         float64 `xml:"y,attr"`
			Style     string  `xml:"style,attr"`
			Transform string  `xml:"transform,attr"`
			S         string  `xml:",chardata"`
		} `xml:"text"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("svgcheck: %w", err)
	}
	var c Chart
	var x0, y0 float64
	if _, err := fmt.Sscanf(doc.ViewBox, "%g %g %g %g", &x0, &y0, &c.W, &c.H); err != nil || x0 != 0 || y0 != 0 {
		return nil, fmt.Errorf("svgcheck: viewBox %q: want 0 0 W H", doc.ViewBox)
	}
	for _, t := range doc.Texts {
		tx := Text{X: t.X, Y: t.Y, Size: 12, S: t.S}
		if m := fontSize.FindStringSubmatch(t.Style); m != nil {
			tx.Size, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := rotate.FindStringSubmatch(t.Transform); m != nil {
			tx.Rotate, _ = strconv.ParseFloat(m[1], 64)
		}
		c.Texts = append(c.Texts, tx)
	}
	return &c, nil
}

// charWidth is the width of a character assumed for the bounds check, in
// ems: wider than the Roboto the chart library measures with, since a
// viewer without Roboto falls back to a wider sans-serif (DejaVu Sans
// averages about 0.6 em). A text that fits at this width fits anywhere.
const charWidth = 0.62

// OutOfBounds lists the texts that would pass the viewBox's edges.
func (c *Chart) OutOfBounds() []string {
	var out []string
	for _, t := range c.Texts {
		w := float64(len([]rune(t.S))) * charWidth * t.Size
		s, co := math.Sincos(t.Rotate * math.Pi / 180)
		// The baseline from the anchor, and the glyphs' top one font
		// size above it (perpendicular, for rotated text).
		xs := []float64{t.X, t.X + w*co, t.X + t.Size*s, t.X + w*co + t.Size*s}
		ys := []float64{t.Y, t.Y + w*s, t.Y - t.Size*co, t.Y + w*s - t.Size*co}
		if slices.Min(xs) < -0.5 || slices.Max(xs) > c.W+0.5 || slices.Min(ys) < -0.5 || slices.Max(ys) > c.H+0.5 {
			out = append(out, fmt.Sprintf("%q at (%g, %g), %g px, rotated %g°: x %.0f..%.0f, y %.0f..%.0f outside 0..%g x 0..%g",
				t.S, t.X, t.Y, t.Size, t.Rotate, slices.Min(xs), slices.Max(xs), slices.Min(ys), slices.Max(ys), c.W, c.H))
		}
	}
	return out
}

// number parses an axis label: 1,500 or 2.5 or 250k or 1.2M.
func number(s string) (float64, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	mul := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mul, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mul, s = 1e6, strings.TrimSuffix(s, "M")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mul, err == nil
}

// Axis is a value axis found in a chart: its labels' values, lowest first.
type Axis struct {
	Where  string // "bottom row at y=...", "left", "right"
	Values []float64
}

// ValueAxes finds the value axes: three or more unrotated numeric labels
// in one row, or down the left or right margin (the outer 15 %), whose
// values step evenly, as ticks do, and whose positions move one way.
// Category labels that happen to be numbers (fleet sizes 1k, 10k, 100k)
// do not step evenly, and no three labels printed beside bars share a
// row.
func (c *Chart) ValueAxes() []Axis {
	type lab struct{ v, pos float64 }
	groups := map[string][]lab{}
	rows := map[float64]int{}
	for _, t := range c.Texts {
		if _, ok := number(t.S); ok && t.Rotate == 0 {
			rows[t.Y]++
		}
	}
	for _, t := range c.Texts {
		v, ok := number(t.S)
		if !ok || t.Rotate != 0 {
			continue
		}
		if rows[t.Y] >= 3 {
			// A row of numbers: a horizontal axis, not part of a column.
			groups[fmt.Sprintf("row at y=%g", t.Y)] = append(groups[fmt.Sprintf("row at y=%g", t.Y)], lab{v, t.X})
			continue
		}
		switch {
		case t.X < 0.15*c.W:
			groups["left"] = append(groups["left"], lab{v, t.Y})
		case t.X > 0.85*c.W:
			groups["right"] = append(groups["right"], lab{v, t.Y})
		}
	}
	var out []Axis
	for where, g := range groups {
		if len(g) < 3 {
			continue
		}
		slices.SortFunc(g, func(a, b lab) int { return cmp.Compare(a.v, b.v) })
		dv, dp := g[1].v-g[0].v, g[1].pos-g[0].pos
		even := dv > 0 && dp != 0
		for i := 2; i < len(g) && even; i++ {
			// Positions only need to move one way: the library pulls the
			// last label in from the edge.
			// Labels are rounded (2.76, 5.51, 8.27): steps agree to 2 %.
			even = math.Abs(g[i].v-g[i-1].v-dv) <= 0.02*dv && (g[i].pos-g[i-1].pos)*dp > 0
		}
		if !even {
			continue
		}
		a := Axis{Where: where}
		for _, l := range g {
			a.Values = append(a.Values, l.v)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Axis) int { return strings.Compare(a.Where, b.Where) })
	return out
}

// Overlaps lists pairs of unrotated texts whose boxes (at the fallback
// font's width, ascent 0.75 and descent 0.2 of the font size) cross: a
// legend drawn over the title hides series names as surely as an edge.
func (c *Chart) Overlaps() []string {
	type box struct{ x0, x1, y0, y1 float64 }
	var bs []box
	var ts []Text
	for _, t := range c.Texts {
		if t.Rotate != 0 || strings.TrimSpace(t.S) == "" {
			continue
		}
		w := float64(len([]rune(t.S))) * charWidth * t.Size
		bs = append(bs, box{t.X, t.X + w, t.Y - 0.75*t.Size, t.Y + 0.2*t.Size})
		ts = append(ts, t)
	}
	var out []string
	for i := range bs {
		for j := i + 1; j < len(bs); j++ {
			a, b := bs[i], bs[j]
			if min(a.x1, b.x1)-max(a.x0, b.x0) > 1 && min(a.y1, b.y1)-max(a.y0, b.y0) > 1 {
				out = append(out, fmt.Sprintf("%q at (%g, %g) and %q at (%g, %g) overlap", ts[i].S, ts[i].X, ts[i].Y, ts[j].S, ts[j].X, ts[j].Y))
			}
		}
	}
	return out
}
