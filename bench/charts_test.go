package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/bench/internal/svgcheck"
)

// TestCharts_SVG draws the charts of every report under results/ and
// reads the SVG back: every text inside the viewBox (at a fallback
// font's width: series names and labels are not clipped), every value
// axis from 0, bar labels in the axis's unit.
func TestCharts_SVG(t *testing.T) {
	paths, _ := filepath.Glob("results/*/results.json")
	if len(paths) == 0 {
		t.Fatal("no results/*/results.json to draw")
	}
	drawn := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %s", p, err)
		}
		for i := range r.Results {
			x := &r.Results[i]
			x.Figures = Compute(&x.Scenario, &x.Counters)
		}
		for name, draw := range r.charts() {
			svg, err := draw()
			if err != nil {
				t.Errorf("%s %s: %s", p, name, err)
				continue
			}
			if svg == nil {
				continue
			}
			drawn++
			checkChart(t, filepath.Dir(p)+"/"+name, svg)
			if name == "cpu-gnet-vs-baseline.svg" {
				c, _ := svgcheck.Parse(svg)
				for _, tx := range c.Texts {
					if strings.HasSuffix(tx.S, "µs") || strings.HasSuffix(tx.S, " ms") {
						t.Errorf("%s %s: bar label %q: the axis is in ns", p, name, tx.S)
					}
				}
			}
		}
	}
	if drawn == 0 {
		t.Fatal("no chart drawn")
	}
}

func checkChart(t *testing.T, name string, svg []byte) {
	t.Helper()
	c, err := svgcheck.Parse(svg)
	if err != nil {
		t.Errorf("%s: %s", name, err)
		return
	}
	for _, e := range append(c.OutOfBounds(), c.Overlaps()...) {
		t.Errorf("%s: %s", name, e)
	}
	axes := c.ValueAxes()
	if len(axes) == 0 {
		t.Errorf("%s: no value axis found", name)
	}
	for _, a := range axes {
		if a.Values[0] != 0 {
			t.Errorf("%s: the %s value axis starts at %g, not 0 (%v)", name, a.Where, a.Values[0], a.Values)
		}
	}
}
