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
	for name, draw := range map[string]func() ([]byte, error){
		"bytes-per-reading.svg":    r.chartBytes,
		"delivered-vs-loss.svg":    r.chartDelivered,
		"cpu-gnet-vs-baseline.svg": r.chartCPU,
	} {
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
	opt.Legend.Offset = charts.OffsetRight
	labels(&opt, func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) })
	return render(1000, 120+26*len(cats)*len(batches), func(p *charts.Painter) error { return p.BarChart(opt) })
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
	opt.Legend.Offset = charts.OffsetRight
	opt.YAxis = []charts.YAxisOption{{Title: "delivered / sent", Min: charts.Ptr(0.9), Max: charts.Ptr(1.0)}}
	return render(800, 480, func(p *charts.Painter) error { return p.LineChart(opt) })
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
	opt.Legend.Offset = charts.OffsetRight
	labels(&opt, ns)
	return render(1000, 120+50*len(cats), func(p *charts.Painter) error { return p.BarChart(opt) })
}

// labels prints each bar's value beside it: some bars are too short to
// read off the axis.
func labels(opt *charts.BarChartOption, format func(float64) string) {
	for i := range opt.SeriesList {
		opt.SeriesList[i].Label.Show = charts.Ptr(true)
		opt.SeriesList[i].Label.ValueFormatter = format
	}
}
