package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetwire/fleetwire/bench/internal/svgcheck"
)

// TestCharts_SVG draws the charts of every plan under ../results and
// reads the SVG back: every text inside the viewBox at a fallback font's
// width and none over another (series names not clipped), every value
// axis from 0.
func TestCharts_SVG(t *testing.T) {
	paths, _ := filepath.Glob("../results/*/plan.json")
	if len(paths) == 0 {
		t.Fatal("no ../results/*/plan.json to draw")
	}
	dir := t.TempDir()
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
		names, err := r.writeCharts(dir)
		if err != nil {
			t.Fatalf("%s: %s", p, err)
		}
		for _, name := range names {
			svg, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			drawn++
			c, err := svgcheck.Parse(svg)
			if err != nil {
				t.Errorf("%s %s: %s", p, name, err)
				continue
			}
			for _, e := range append(c.OutOfBounds(), c.Overlaps()...) {
				t.Errorf("%s %s: %s", p, name, e)
			}
			axes := c.ValueAxes()
			if len(axes) == 0 {
				t.Errorf("%s %s: no value axis found", p, name)
			}
			for _, a := range axes {
				if a.Values[0] != 0 {
					t.Errorf("%s %s: the %s value axis starts at %g, not 0 (%v)", p, name, a.Where, a.Values[0], a.Values)
				}
			}
		}
	}
	if drawn == 0 {
		t.Fatal("no chart drawn")
	}
}
