package web

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fleetwire/fleetwire/server"
)

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	code, hdr, body := e.do(t, "GET", "/metrics", "", "", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", code, hdr.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %s\n%s", err, body)
	}
	return fams
}

// value returns the value of family name's series with the given labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s has no series %v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	f := func(perDevice bool) {
		t.Helper()
		e := newEnv(t, Config{MetricsPerDevice: perDevice}, server.Config{})
		udpFleet(t, e, 2)
		tcp := dialDevice(t, "tcp", e.addr(server.TCP), "dev-t", true)
		tcp.send(3)
		tcp.write("dev-t;x;1;1") // a bad sequence number: one error
		waitFor(t, 5*time.Second, "the snapshot to catch up", func() bool {
			smp, _ := e.web.rec.current()
			return smp.Readings == 12 && len(smp.Errors) > 0
		})
		fams := scrape(t, e)
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"fleetwire_readings_total", []string{"transport", "udp"}, 6},
			{"fleetwire_readings_total", []string{"transport", "tcp"}, 6},
			{"fleetwire_frames_total", []string{"transport", "tcp"}, 3},
			{"fleetwire_devices", []string{"transport", "udp"}, 2},
			{"fleetwire_connections", []string{"transport", "tcp"}, 1},
			{"fleetwire_codec_frames_total", []string{"codec", "text"}, 6},
			{"fleetwire_codec_readings_total", []string{"codec", "text"}, 12},
			{"fleetwire_errors_total", []string{"transport", "tcp", "reason", "bad_number"}, 1},
			{"fleetwire_lost_readings", []string{"transport", "udp"}, 0},
			{"fleetwire_latency_seconds", nil, 6},
			{"fleetwire_dropped_readings_total", []string{"transport", "sink", "reason", "sink_write_error"}, 0},
			{"fleetwire_stored_readings_total", nil, 0}, // --sink none stores nothing
			{"fleetwire_sink_accepted_readings_total", nil, 0},
		} {
			if got := value(t, fams, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		// Nothing the process collector exports, no series 0 by
		// construction: UDP has no connections (DTLS sessions are); a sink drops only for
		// write_error and discarded_by_config, refuses only for
		// queue_full and closed.
		if _, ok := fams["fleetwire_uptime_seconds"]; ok {
			t.Errorf("fleetwire_uptime_seconds is back: process_start_time_seconds has it")
		}
		if _, ok := fams["process_start_time_seconds"]; !ok {
			t.Errorf("no process_start_time_seconds")
		}
		for _, c := range []struct {
			name, label string
			want        string
		}{
			{"fleetwire_connections", "transport", "dtls tcp tls"},
			{"fleetwire_accepted_connections_total", "transport", "dtls tcp tls"},
			{"fleetwire_devices", "transport", "dtls tcp tls udp"},
			{"fleetwire_sink_dropped_readings_total", "reason", "discarded_by_config write_error"},
			{"fleetwire_sink_refused_readings_total", "reason", "closed queue_full"},
		} {
			if got := labelValues(fams, c.name, c.label); got != c.want {
				t.Errorf("%s: %s values %q, want %q", c.name, c.label, got, c.want)
			}
		}
		if fams["fleetwire_readings_total"].GetType() != dto.MetricType_COUNTER ||
			fams["fleetwire_devices"].GetType() != dto.MetricType_GAUGE ||
			fams["fleetwire_latency_seconds"].GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("metric types wrong")
		}
		h := fams["fleetwire_latency_seconds"].Metric[0].Histogram
		var bounds []float64
		for _, b := range h.Bucket {
			bounds = append(bounds, b.GetUpperBound())
			// Loopback: every reading is within a minute of its timestamp.
			if b.GetUpperBound() == 60 && b.GetCumulativeCount() != h.GetSampleCount() {
				t.Errorf("latency: %d of %d within 60 s", b.GetCumulativeCount(), h.GetSampleCount())
			}
		}
		if fmt.Sprint(bounds[:len(latencyBuckets)]) != fmt.Sprint(latencyBuckets) {
			t.Errorf("latency buckets %v, want %v (+Inf)", bounds, latencyBuckets)
		}
		hasDeviceLabel := false
		for _, fam := range fams {
			for _, m := range fam.Metric {
				for _, l := range m.Label {
					hasDeviceLabel = hasDeviceLabel || l.GetName() == "device"
				}
			}
		}
		if hasDeviceLabel != perDevice {
			t.Errorf("per-device %v: device label present = %v", perDevice, hasDeviceLabel)
		}
		if perDevice {
			if got := value(t, fams, "fleetwire_device_readings_total", "device", "dev-1", "transport", "udp"); got != 4 {
				t.Errorf("dev-1 readings = %v, want 4", got)
			}
			if got := value(t, fams, "fleetwire_device_online", "device", "dev-t"); got != 1 {
				t.Errorf("dev-t online = %v, want 1", got)
			}
		}
	}
	f(false)
	f(true)
}

// labelValues lists, sorted and space-separated, the values of label
// over family name's series.
func labelValues(fams map[string]*dto.MetricFamily, name, label string) string {
	var vs []string
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == label {
				vs = append(vs, l.GetValue())
			}
		}
	}
	slices.Sort(vs)
	return strings.Join(vs, " ")
}
