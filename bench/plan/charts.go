package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-analyze/charts"
)

// Charts use github.com/go-analyze/charts, as bench's do.

// writeCharts draws one curve chart per wire choice and the cores-vs-fleet
// chart into dir, returning the file names written.
func (r *Report) writeCharts(dir string) ([]string, error) {
	var names []string
	write := func(name string, b []byte, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		if b == nil {
			return nil
		}
		names = append(names, name)
		return os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	for _, cfg := range r.Configs() {
		name := strings.ReplaceAll(cfg, "/", "-") + ".svg"
		b, err := r.chartCurve(cfg)
		if err := write("curve-"+name, b, err); err != nil {
			return nil, err
		}
		b, err = r.chartCPU(cfg)
		if err := write("cpu-"+name, b, err); err != nil {
			return nil, err
		}
	}
	b, err := r.chartCores()
	if err := write("cores-vs-fleet.svg", b, err); err != nil {
		return nil, err
	}
	return names, nil
}

func render(width, height int, draw func(p *charts.Painter) error) ([]byte, error) {
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: width, Height: height})
	if err := draw(p); err != nil {
		return nil, err
	}
	return p.Bytes()
}

// loadLabel prints readings/s compactly: 250k, 4.2M.
func loadLabel(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// curveAxis returns the offered loads any repeat of cfg measured, sorted,
// and their labels, each repeat's knee labelled.
func (r *Report) curveAxis(cfg string) ([]float64, []string) {
	var loads []float64
	for _, x := range r.ResultsOf(cfg) {
		for _, st := range x.Steps {
			if st.Err == "" && !slices.Contains(loads, st.Load.Offered()) {
				loads = append(loads, st.Load.Offered())
			}
		}
	}
	slices.Sort(loads)
	labels := make([]string, len(loads))
	for i, v := range loads {
		labels[i] = loadLabel(v)
	}
	for _, x := range r.ResultsOf(cfg) {
		k := x.KneeStep()
		if k == nil {
			continue
		}
		// Without a bad step above it the last good step is no knee.
		mark := " knee"
		if x.FirstBad < 0 {
			mark = " last good"
		}
		if i := slices.Index(loads, k.Load.Offered()); !strings.HasSuffix(labels[i], mark) {
			labels[i] += mark
		}
	}
	return loads, labels
}

func nulls(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = charts.GetNullValue()
	}
	return v
}

// deciding returns, per offered load of x, the step that decided it: of
// a load run more than once, the run the search went by.
func deciding(x *Result) map[float64]int {
	m := map[float64]int{}
	for k, st := range x.Steps {
		if st.Err != "" {
			continue
		}
		o := st.Load.Offered()
		if j, ok := m[o]; !ok || st.Verdict.rank() > x.Steps[j].Verdict.rank() {
			m[o] = k
		}
	}
	return m
}

// chartCurve: loss (left axis) and latency p99 (right axis) against
// offered load, one line each per repeat, over the loads any repeat
// measured; each repeat's knee is a diamond on its loss line and its x
// label says "knee".
func (r *Report) chartCurve(cfg string) ([]byte, error) {
	loads, labels := r.curveAxis(cfg)
	if len(loads) == 0 {
		return nil, nil
	}
	var series charts.LineSeriesList
	for _, x := range r.ResultsOf(cfg) {
		loss, p99, knee := nulls(len(loads)), nulls(len(loads)), nulls(len(loads))
		for o, k := range deciding(&x) {
			i, st := slices.Index(loads, o), &x.Steps[k]
			loss[i], p99[i] = st.Figures.LossPct, float64(st.Figures.P99Ms)
			if kn := x.KneeStep(); kn != nil && x.FirstBad >= 0 && kn.Load.Offered() == o {
				knee[i] = st.Figures.LossPct
			}
		}
		run := " run " + strconv.Itoa(x.Run)
		series = append(series,
			charts.LineSeries{Name: "loss %" + run, Values: loss},
			charts.LineSeries{Name: "p99 ms" + run, Values: p99, YAxisIndex: 1},
			charts.LineSeries{Name: "knee" + run, Values: knee, Symbol: charts.Symbol{Shape: charts.SymbolDiamond, Size: 7}})
	}
	opt := charts.NewLineChartOptionWithSeries(series)
	opt.Title.Text = fmt.Sprintf("%s: loss and latency p99 vs offered load (one server core)", cfg)
	opt.XAxis.Labels = labels
	opt.XAxis.Title = "offered readings/s"
	opt.XAxis.LabelRotation = charts.DegreesToRadians(30)
	layout(&opt.Padding, &opt.Legend, 1000)
	opt.YAxis = []charts.YAxisOption{{Title: "loss, % of offered readings", Min: charts.Ptr(0.0)}, {Title: "latency p99, ms", Min: charts.Ptr(0.0)}}
	return render(1000, 540, func(p *charts.Painter) error { return p.LineChart(opt) })
}

// chartCPU: server and generator utilisation (cores, steady window)
// against offered load, with the server's CPU limit as a line and each
// repeat's knee as a diamond on its server line.
func (r *Report) chartCPU(cfg string) ([]byte, error) {
	loads, labels := r.curveAxis(cfg)
	if len(loads) == 0 {
		return nil, nil
	}
	limit := nulls(len(loads))
	for i := range limit {
		limit[i] = r.Search.Limits.MaxCPU * float64(max(1, r.Search.Limits.ServerCores))
	}
	series := charts.LineSeriesList{{Name: "server CPU limit", Values: limit, Symbol: charts.Symbol{Shape: charts.SymbolNone}}}
	for _, x := range r.ResultsOf(cfg) {
		srv, gen, knee := nulls(len(loads)), nulls(len(loads)), nulls(len(loads))
		for o, k := range deciding(&x) {
			i, st := slices.Index(loads, o), &x.Steps[k]
			srv[i], gen[i] = st.Figures.ServerCores, st.Figures.GenCores
			if kn := x.KneeStep(); kn != nil && x.FirstBad >= 0 && kn.Load.Offered() == o {
				knee[i] = st.Figures.ServerCores
			}
		}
		run := " run " + strconv.Itoa(x.Run)
		series = append(series,
			charts.LineSeries{Name: "server" + run, Values: srv},
			charts.LineSeries{Name: "generator" + run, Values: gen},
			charts.LineSeries{Name: "knee" + run, Values: knee, Symbol: charts.Symbol{Shape: charts.SymbolDiamond, Size: 7}})
	}
	opt := charts.NewLineChartOptionWithSeries(series)
	opt.Title.Text = fmt.Sprintf("%s: server and generator CPU vs offered load (cores, CPU time / wall time)", cfg)
	opt.XAxis.Labels = labels
	opt.XAxis.Title = "offered readings/s"
	opt.XAxis.LabelRotation = charts.DegreesToRadians(30)
	layout(&opt.Padding, &opt.Legend, 1000)
	opt.YAxis = []charts.YAxisOption{{Title: "cores", Min: charts.Ptr(0.0), Max: charts.Ptr(1.1 * float64(max(1, r.Search.Limits.ServerCores, r.Search.Limits.GenCores)))}}
	return render(1000, 540, func(p *charts.Painter) error { return p.LineChart(opt) })
}

// chartCores: cores needed (at the headroom) against fleet size, one
// line per wire choice, at the fleet's rate.
func (r *Report) chartCores() ([]byte, error) {
	if len(r.Projections) == 0 || len(r.FleetSizes) == 0 {
		return nil, nil
	}
	var series charts.LineSeriesList
	for _, p := range r.Projections {
		vals := make([]float64, len(r.FleetSizes))
		for i, n := range r.FleetSizes {
			f := p.Fleet
			f.Devices = n
			q, err := Project(f, p.Inputs)
			if err != nil {
				return nil, err
			}
			vals[i] = q.CoresNeeded
		}
		series = append(series, charts.LineSeries{Name: p.Inputs.Config, Values: vals})
	}
	labels := make([]string, len(r.FleetSizes))
	for i, n := range r.FleetSizes {
		labels[i] = loadLabel(n)
	}
	opt := charts.NewLineChartOptionWithSeries(series)
	opt.Title.Text = fmt.Sprintf("Server cores needed vs fleet size (a sample of %d readings every %s s, at %g %% utilisation)",
		r.Fleet.Channels, num(1/r.Fleet.Rate, 1), 100*r.Fleet.Headroom)
	opt.XAxis.Labels = labels
	opt.XAxis.Title = "devices"
	layout(&opt.Padding, &opt.Legend, 1000)
	opt.YAxis = []charts.YAxisOption{{Title: "cores", Min: charts.Ptr(0.0)}}
	return render(1000, 540, func(p *charts.Painter) error { return p.LineChart(opt) })
}

// layout puts the legend on its own rows under the title, from the left,
// wrapping a fifth before the right edge: the chart library measures
// Roboto, and a viewer without it draws a wider sans-serif, which pushed
// the last series names past the right edge when the legend sat there.
// (bench's charts do the same.)
func layout(pad *charts.Box, legend *charts.LegendOption, width int) {
	*pad = charts.Box{Left: 20, Top: 20, Right: 20, Bottom: 10}
	legend.Offset = charts.OffsetStr{Left: charts.PositionLeft, Top: "30"}
	legend.Padding = charts.Box{Top: 5, Right: width / 5}
}
