package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/go-analyze/charts"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// Charts are drawn with github.com/go-analyze/charts: SVG without a
// browser or cgo, and a maintained project (gonum/plot would do too, with
// many more dependencies).

// writeCharts draws the report's SVG charts into dir; a chart without
// data is left out.
func (r *Report) writeCharts(dir string) error {
	for name, draw := range r.charts() {
		b, err := draw()
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// charts are the report's charts by file name.
func (r *Report) charts() map[string]func() ([]byte, error) {
	return map[string]func() ([]byte, error){
		"bytes-per-reading.svg":    r.chartBytes,
		"delivered-vs-loss.svg":    r.chartDelivered,
		"cpu-gnet-vs-baseline.svg": r.chartCPU,
	}
}

func render(width, height int, draw func(p *charts.Painter) error) ([]byte, error) {
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: width, Height: height})
	if err := draw(p); err != nil {
		return nil, err
	}
	return p.Bytes()
}

// chartBytes: wire bytes per delivered reading on the clean loopback, one
// bar group per transport and codec, one bar per batch size (gnet runs).
func (r *Report) chartBytes() ([]byte, error) {
	var cats []string
	var batches []int
	val := map[string]map[int]float64{}
	for _, x := range r.byEngine("gnet") {
		s := &x.Scenario
		if s.Profile != Loopback || s.Rate == 0 || (s.Transport == "tls" || s.Transport == "dtls") {
			continue // TLS handshakes dwarf the rest: it is in the tables
		}
		cat := s.Transport + " " + s.Codec
		if val[cat] == nil {
			val[cat] = map[int]float64{}
			cats = append(cats, cat)
		}
		val[cat][s.Batch] = x.Figures.WirePerReading
		if !slices.Contains(batches, s.Batch) {
			batches = append(batches, s.Batch)
		}
	}
	if len(cats) == 0 {
		return nil, nil
	}
	slices.Sort(batches)
	data := make([][]float64, len(batches))
	names := make([]string, len(batches))
	for i, b := range batches {
		names[i] = "batch " + strconv.Itoa(b)
		for _, c := range cats {
			v, ok := val[c][b]
			if !ok {
				v = charts.GetNullValue()
			}
			data[i] = append(data[i], v)
		}
	}
	opt := charts.NewBarChartOptionWithData(data)
	opt.Title.Text = "Wire bytes per delivered reading (both directions, headers included), clean loopback, gnet"
	opt.Horizontal = true
	opt.CategoryAxis.Labels = cats
	opt.Legend.SeriesNames = names
	const width = 1000
	layout(&opt.Padding, &opt.Legend, width)
	categorySlack(&opt, cats)
	zeroValueAxes(&opt)
	labels(&opt, func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " B" })
	return render(width, 140+26*len(cats)*len(batches), func(p *charts.Painter) error { return p.BarChart(opt) })
}

// lossOf is a profile's configured loss in percent (loopback: 0).
func lossOf(profile string) (float64, bool) {
	if profile == Loopback {
		return 0, true
	}
	p, err := netns.ProfileByName(profile)
	if err != nil || p.Limited() {
		return 0, false
	}
	return p.LossPct, true
}

// chartDelivered: delivered fraction against the link's loss rate, TCP
// and UDP, text codec at batch 10 on unlimited links (gnet runs).
func (r *Report) chartDelivered() ([]byte, error) {
	type pt struct{ loss, frac float64 }
	series := map[string][]pt{}
	for _, x := range r.byEngine("gnet") {
		s := &x.Scenario
		loss, ok := lossOf(s.Profile)
		if !ok || s.Codec != "text" || s.Batch != 10 || s.Rate == 0 || s.Transport == "tls" || s.Transport == "dtls" || s.Profile == Loopback {
			continue
		}
		series[s.Transport] = append(series[s.Transport], pt{loss, x.Figures.DeliveredFr})
	}
	if len(series) == 0 {
		return nil, nil
	}
	var losses []float64
	for _, ps := range series {
		for _, p := range ps {
			if !slices.Contains(losses, p.loss) {
				losses = append(losses, p.loss)
			}
		}
	}
	slices.Sort(losses)
	var names []string
	var data [][]float64
	for _, tr := range []string{"tcp", "udp"} {
		ps, ok := series[tr]
		if !ok {
			continue
		}
		row := make([]float64, len(losses))
		for i := range row {
			row[i] = charts.GetNullValue()
		}
		for _, p := range ps {
			row[slices.Index(losses, p.loss)] = p.frac
		}
		names = append(names, tr)
		data = append(data, row)
	}
	labels := make([]string, len(losses))
	for i, l := range losses {
		labels[i] = strconv.FormatFloat(l, 'g', -1, 64) + " %"
	}
	opt := charts.NewLineChartOptionWithData(data)
	opt.Title.Text = "Delivered fraction vs link loss (text, batch 10, veth, gnet)"
	opt.XAxis.Labels = labels
	opt.XAxis.Title = "random loss per packet, each direction"
	opt.Legend.SeriesNames = names
	const width = 800
	layout(&opt.Padding, &opt.Legend, width)
	// From 0: a value axis cut at 0.9 makes 5 % look like most of it.
	opt.YAxis = []charts.YAxisOption{{Title: "delivered / sent", Min: charts.Ptr(0.0), Max: charts.Ptr(1.0)}}
	return render(width, 500, func(p *charts.Painter) error { return p.LineChart(opt) })
}

// chartCPU: server CPU per reading, gnet beside std, for the loopback
// scenarios of the cpu group and the text/compact codecs at batch 10.
func (r *Report) chartCPU() ([]byte, error) {
	var cats []string
	data := make([][]float64, 2)
	for _, s := range r.scenarios() {
		if s.Profile != Loopback || !(s.Name == "cpu" || s.Batch == 10 && (s.Codec == "text" || s.Codec == "compact")) {
			continue
		}
		g, st := r.find(s.ID(), "gnet"), r.find(s.ID(), "std")
		if g == nil || st == nil || !g.ok() || !st.ok() {
			continue
		}
		cats = append(cats, s.ID())
		data[0] = append(data[0], g.Figures.ServerCPUNsPerReading)
		data[1] = append(data[1], st.Figures.ServerCPUNsPerReading)
	}
	if len(cats) == 0 {
		return nil, nil
	}
	opt := charts.NewBarChartOptionWithData(data)
	opt.Title.Text = "Server CPU per reading (ns, user+sys), gnet vs standard library, same run"
	opt.Horizontal = true
	opt.CategoryAxis.Labels = cats
	opt.Legend.SeriesNames = []string{"gnet", "std"}
	const width = 1000
	layout(&opt.Padding, &opt.Legend, width)
	categorySlack(&opt, cats)
	zeroValueAxes(&opt)
	// In the axis's unit, ns, however large: not µs beside a ns axis.
	labels(&opt, func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " ns" })
	return render(width, 140+50*len(cats), func(p *charts.Painter) error { return p.BarChart(opt) })
}

// labels prints each bar's value beside it: some bars are too short to
// read off the axis.
func labels(opt *charts.BarChartOption, format func(float64) string) {
	for i := range opt.SeriesList {
		opt.SeriesList[i].Label.Show = charts.Ptr(true)
		opt.SeriesList[i].Label.ValueFormatter = format
	}
}

// The chart library lays text out with Roboto's widths; a viewer without
// Roboto draws the SVG in its sans-serif, up to a fifth wider (DejaVu
// Sans). fallbackSlack is that extra, in ems per character.
const fallbackSlack = 0.1

// layout puts the legend on its own rows under the title, from the left,
// wrapping a fifth before the right edge: at the right of the title row
// it covered long titles and a wider font pushed series names past the
// edge.
func layout(pad *charts.Box, legend *charts.LegendOption, width int) {
	*pad = charts.Box{Left: 20, Top: 20, Right: 20, Bottom: 10}
	legend.Offset = charts.OffsetStr{Left: charts.PositionLeft, Top: "30"}
	legend.Padding = charts.Box{Top: 5, Right: width / 5}
}

// categorySlack moves the category labels of a horizontal bar chart left
// by what a wider font adds to the longest (they are right-aligned on the
// axis, so they would grow into the bars), and widens the left padding
// by as much.
func categorySlack(opt *charts.BarChartOption, cats []string) {
	longest := 0
	for _, c := range cats {
		longest = max(longest, len([]rune(c)))
	}
	size := opt.CategoryAxis.LabelFontStyle.FontSize
	if size == 0 {
		size = 13.3 // the library's axis label size
	}
	k := int(fallbackSlack*size*float64(longest)) + 4
	opt.CategoryAxis.LabelOffset = charts.OffsetInt{Left: -k}
	opt.Padding.Left += k
}

// zeroValueAxes starts every value axis at 0.
func zeroValueAxes(opt *charts.BarChartOption) {
	if len(opt.ValueAxis) == 0 {
		opt.ValueAxis = make([]charts.ValueAxisOption, 1)
	}
	for i := range opt.ValueAxis {
		opt.ValueAxis[i].Min = charts.Ptr(0.0)
	}
}
