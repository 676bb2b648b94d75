// Package cost computes what each wire choice costs on recorded data:
// bytes per reading of every codec and batch size, as payload and on the
// wire over UDP and TCP, beside reference rows for what users would
// otherwise pick (MQTT 3.1.1, SenML JSON and CBOR) computed from their
// specifications on the same data. `fleetwire cost` prints it.
//
// Samples are batched per device (csvio.Framer in per-device mode): each
// device fills its own frames of up to B samples, as a device batching its
// own readings does. Model (in model.go) states the transport model.
//
// Contracts: Run reads its input once, as a stream, and returns a Report
// the caller owns; nothing is kept between calls, and the byte counts are
// deterministic for an input and an encoder version. The helpers
// (UDPWire, TCPExchange, MQTTPublishLen, SenMLJSON) are pure functions.
package cost

import (
	"fmt"
	"io"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
)

// DefaultBatches are the batch sizes of the table.
var DefaultBatches = []int{1, 10, 60, 600}

// Reference row names.
const (
	RefMQTT0     = "mqtt-qos0"
	RefMQTT1     = "mqtt-qos1"
	RefSenMLJSON = "senml-json"
	RefSenMLCBOR = "senml-cbor"
)

// Encoder makes frames of one codec; *wire.Encoder is one.
type Encoder = transcode.FrameEncoder

// Options configure Run.
type Options struct {
	Mapping  csvio.Mapping
	Batches  []int     // nil means DefaultBatches
	Encoders []Encoder // one per codec, in table order
	Limits   codec.Limits
	// References adds the MQTT and SenML rows.
	References bool
}

// Result is one row of the table: one codec (or reference) at one batch
// size. Byte counts are totals over the recording; UDP is -1 where the
// protocol has no UDP mapping (MQTT).
type Result struct {
	Name      string `json:"name"`
	Reference bool   `json:"reference"`
	Batch     int    `json:"batch"`
	Frames    int64  `json:"frames"`
	Payload   int64  `json:"payload_bytes"`
	UDP       int64  `json:"udp_bytes"`
	TCP       int64  `json:"tcp_bytes"`
	TCPStream int64  `json:"tcp_stream_bytes"`
}

// Report is the whole table.
type Report struct {
	Samples  int64    `json:"samples"`
	Readings int64    `json:"readings"`
	Devices  int      `json:"devices"`
	Channels []string `json:"channels"`
	Results  []Result `json:"results"`
	Model    string   `json:"model"`
}

// PerReading returns n / readings.
func (r *Report) PerReading(n int64) float64 {
	if r.Readings == 0 {
		return 0
	}
	return float64(n) / float64(r.Readings)
}

// Run reads samples from src once and computes every row.
func Run(src io.Reader, o Options) (*Report, error) {
	lim := o.Limits.OrDefault()
	batches := o.Batches
	if len(batches) == 0 {
		batches = DefaultBatches
	}
	r := csvio.NewReader(src, o.Mapping)
	r.SetMaxChannels(lim.MaxChannels)
	if err := r.ReadHeader(); err != nil {
		return nil, err
	}
	rep := &Report{Channels: r.Channels(), Model: Model}
	devices := map[string]int{}
	runs := make([]*batchRun, len(batches))
	for i, b := range batches {
		if b < 1 || b > lim.MaxSamples {
			return nil, fmt.Errorf("batch %d: want 1 to %d samples per frame", b, lim.MaxSamples)
		}
		run, err := newBatchRun(b, o, &lim, rep.Channels, devices)
		if err != nil {
			return nil, err
		}
		runs[i] = run
	}
	for r.Next() {
		row := r.Row()
		if _, ok := devices[string(row.Device)]; !ok {
			devices[string(row.Device)] = len(devices)
		}
		rep.Samples++
		rep.Readings += int64(len(row.Values))
		for _, run := range runs {
			if err := run.framer.Add(row); err != nil {
				return nil, fmt.Errorf("csv line %d: %w", row.Line, err)
			}
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	rep.Devices = len(devices)
	for _, run := range runs {
		if err := run.framer.Flush(); err != nil {
			return nil, err
		}
	}
	// Rows grouped by codec, batch sizes in order; references last.
	for k := range runs[0].accs {
		for _, run := range runs {
			rep.Results = append(rep.Results, run.accs[k].result(run.batch))
		}
	}
	return rep, nil
}

// batchRun frames the samples at one batch size and sizes every frame in
// every codec.
type batchRun struct {
	batch   int
	framer  *csvio.Framer
	accs    []*acc // encoders, then references
	buf     []byte
	names   []string
	devices map[string]int
	lim     *codec.Limits
	cbor    *SenMLCBOR
}

func newBatchRun(batch int, o Options, lim *codec.Limits, names []string, devices map[string]int) (*batchRun, error) {
	run := &batchRun{batch: batch, names: names, devices: devices, lim: lim}
	for _, e := range o.Encoders {
		run.accs = append(run.accs, &acc{name: e.Codec().String()})
	}
	if o.References {
		cb, err := NewSenMLCBOR()
		if err != nil {
			return nil, err
		}
		run.cbor = cb
		for _, n := range []string{RefMQTT0, RefMQTT1, RefSenMLJSON, RefSenMLCBOR} {
			run.accs = append(run.accs, &acc{name: n, reference: true, noUDP: n == RefMQTT0 || n == RefMQTT1})
		}
	}
	run.framer = csvio.NewFramer(batch, true, func(f *codec.Frame) error { return run.frame(f, o.Encoders) })
	return run, nil
}

func (run *batchRun) frame(f *codec.Frame, encs []Encoder) error {
	dev := run.devices[string(f.Device)]
	var err error
	for i, e := range encs {
		a := run.accs[i]
		run.buf, err = transcode.AppendFrames(e, run.buf[:0], f, run.lim, func(frame []byte, _ *codec.Frame) error {
			a.add(dev, int64(len(frame)), 0)
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", e.Codec(), err)
		}
	}
	if run.cbor == nil {
		return nil
	}
	refs := run.accs[len(encs):]
	run.buf = mqttPayload(run.buf[:0], f)
	topic := len(MQTTTopic(f.Device))
	refs[0].add(dev, int64(MQTTPublishLen(topic, len(run.buf), 0)), 0)
	refs[1].add(dev, int64(MQTTPublishLen(topic, len(run.buf), 1)), mqttPubackLen)
	run.buf = SenMLJSON(run.buf[:0], f, run.names)
	refs[2].add(dev, int64(len(run.buf)), 0)
	run.buf, err = run.cbor.Append(run.buf[:0], f, run.names)
	if err != nil {
		return err
	}
	refs[3].add(dev, int64(len(run.buf)), 0)
	return nil
}

// acc adds up one row of the table.
type acc struct {
	name      string
	reference bool
	noUDP     bool // MQTT needs a stream
	frames    int64
	payload   int64
	udp       int64
	tcp       int64
	// per device connection, for the stream model
	fwd, rev []int64
}

// add counts one frame (message) of fwd bytes sent by device dev, answered
// by rev bytes.
func (a *acc) add(dev int, fwd, rev int64) {
	for len(a.fwd) <= dev {
		a.fwd, a.rev = append(a.fwd, 0), append(a.rev, 0)
	}
	a.frames++
	a.payload += fwd + rev
	a.udp += int64(UDPWire(int(fwd)))
	a.tcp += TCPExchange(fwd, rev, false)
	a.fwd[dev] += fwd
	a.rev[dev] += rev
}

func (a *acc) result(batch int) Result {
	r := Result{Name: a.name, Reference: a.reference, Batch: batch, Frames: a.frames,
		Payload: a.payload, UDP: a.udp, TCP: a.tcp}
	if a.noUDP {
		r.UDP = -1
	}
	for d := range a.fwd {
		r.TCPStream += TCPExchange(a.fwd[d], a.rev[d], true)
	}
	return r
}
