package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/fleetwire/fleetwire/codec"
)

// Run simulates the fleet cfg describes until every device has sent what
// it was asked to (or ctx is cancelled: devices then end their streams
// cleanly) and returns the report. With cfg.Procs > 1 it runs worker
// processes and merges their reports. A report is returned together with
// a non-nil error when the run happened but something failed on the way.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if cfg.Procs > 1 {
		return runProcs(ctx, &cfg)
	}
	return runLocal(ctx, &cfg, newTextProgress(cfg.Progress, cfg.Ack), nil)
}

// runner holds what every loop of one process shares, read-only except
// for t0 and stop.
type runner struct {
	cfg        *Config
	tgts       *targets
	endByte    byte
	sched      sched
	nloops     int
	base       time.Time // the run clock's origin (monotonic)
	wallBaseNs int64

	t0          atomic.Int64 // start of the send phase on the run clock; 0 until known
	stop        atomic.Bool
	connectDone chan int
	lives       []*live // for logs

	// awaitStart, when set, is called once every device has connected or
	// given up; it must eventually send the send phase's start time (unix
	// ns) on start. Workers use it to start together with their siblings.
	awaitStart func(start chan<- int64)

	radioOn *hdrhistogram.Histogram // the loops' radio-on times, merged (addLoop)
}

// requestStart arranges for the send phase's start (unix ns) to arrive on
// start: after a short lead so every loop learns it before its first
// frame, or when the parent process says so.
func (r *runner) requestStart(start chan<- int64) {
	if r.awaitStart != nil {
		r.awaitStart(start)
		return
	}
	start <- time.Now().Add(20 * time.Millisecond).UnixNano()
}

// runClock converts unix ns to the run clock.
func (r *runner) runClock(unixNs int64) int64 { return max(unixNs-r.wallBaseNs, 1) }

func (r *runner) now() int64 { return int64(time.Since(r.base)) }

// wallMs converts a run-clock time to unix ms, the device time on the wire.
func (r *runner) wallMs(ns int64) int64 { return (r.wallBaseNs + ns) / 1e6 }

// sockaddr returns target ti's address for the syscalls. Each loop needs
// its own: x/sys/unix encodes into the struct on every call.
func (r *runner) sockaddr(ti int) unix.Sockaddr {
	a := r.tgts.list[ti].addr
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

func runLocal(ctx context.Context, cfg *Config, progress func(Progress), awaitStart func(chan<- int64)) (*Report, error) {
	tgts, err := resolveTargets(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r, err := newRunner(cfg, tgts)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	r.awaitStart = awaitStart
	progress = r.drainLog(progress)
	if err := checkSockets(cfg.sockets(), 1); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if cfg.Transport == TLS || cfg.Transport == DTLS || cfg.perReport() {
		return r.runTLS(ctx, progress)
	}
	return r.runLoops(ctx, progress)
}

func newRunner(cfg *Config, tgts *targets) (*runner, error) {
	r := &runner{cfg: cfg, tgts: tgts, base: time.Now(), endByte: cfg.End}
	r.wallBaseNs = r.base.UnixNano()
	if r.endByte == 0 {
		r.endByte = '\n'
	}
	frame, sample := cfg.period()
	r.sched = sched{
		periodNs: int64(frame),
		jitterNs: int64(cfg.Jitter * float64(frame)),
		stepMs:   int64(math.Round(float64(sample) / float64(time.Millisecond))),
		batch:    cfg.Batch,
		samples:  uint64(cfg.Samples),
		channels: cfg.Channels,
		seed:     cfg.Seed,
	}
	if path, ok := strings.CutPrefix(cfg.Signal, "replay:"); ok {
		set, err := loadReplay(path, cfg.Replay)
		if err != nil {
			return nil, err
		}
		r.sched.replay, r.sched.channels = set, len(set.channels)
	}
	return r, r.checkFrameSize()
}

// checkFrameSize refuses a batch whose frames a receiver would reject: a
// datagram over 64 KiB, or a frame over the default frame limit.
func (r *runner) checkFrameSize() error {
	enc := newEncoder(r.cfg.Codec, r.endByte)
	var d device
	r.sched.initDevice(&d, r.cfg, r.cfg.IDOffset+r.cfg.Devices-1)
	// A resent frame (Ack) may carry more samples than a first one.
	n := max(r.sched.frameSamples(0), r.ackMaxBatch())
	vals := r.sched.fill(nil, &d, n)
	f := codec.Frame{Device: d.id, Seq: math.MaxUint32, Flags: codec.HasSeq | codec.HasTime,
		Channels: r.sched.channels, Times: make([]int64, n), Values: vals}
	for i := range f.Times {
		f.Times[i] = r.wallMs(0) + int64(i)*r.sched.stepMs
	}
	size := len(enc.Append(nil, &f))
	limit := codec.DefaultMaxFrame
	if r.cfg.Transport == UDP {
		limit = MaxDatagram
	}
	if size > limit*9/10 {
		return fmt.Errorf("a frame of %d samples x %d channels is %d bytes in %v, too close to the %d-byte limit: lower --batch (or --ack-max-batch)",
			n, r.sched.channels, size, r.cfg.Codec, limit)
	}
	return nil
}

// runLoops runs the epoll loops and collects their report.
func (r *runner) runLoops(ctx context.Context, progress func(Progress)) (*Report, error) {
	c := r.cfg
	r.nloops = c.loops()
	nums := make([][]int, r.nloops)
	for i := range c.Devices {
		nums[i%r.nloops] = append(nums[i%r.nloops], c.IDOffset+i)
	}
	loops := make([]*loop, r.nloops)
	for i := range loops {
		l, err := newLoop(r, i, nums[i])
		if err != nil {
			for _, l := range loops[:i] {
				l.close()
			}
			return nil, err
		}
		loops[i] = l
	}
	defer func() {
		for _, l := range loops {
			l.close()
		}
	}()
	lives := make([]*live, len(loops))
	for i, l := range loops {
		lives[i] = l.live
	}
	r.lives = lives
	r.logStart()
	r.connectDone = make(chan int, len(loops))
	u0, s0 := cpuTimes()
	started := time.Now()
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(l.run)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wakeAll := func() {
		for _, l := range loops {
			l.wakeUp()
		}
	}
	connectSec := r.coordinate(ctx, len(loops), done, wakeAll, func() { progress(snapshot(lives, c.Devices, time.Since(started))) })
	progress(snapshot(lives, c.Devices, time.Since(started)))

	rep := r.newReport(started, connectSec)
	u1, s1 := cpuTimes()
	rep.CPUUserSeconds, rep.CPUSysSeconds = (u1 - u0).Seconds(), (s1 - s0).Seconds()
	hist, ackHist := newLatenessHist(), newLatenessHist()
	var lastAt int64
	var errs []error
	for _, l := range loops {
		r.addLoop(rep, l, hist, ackHist)
		lastAt = max(lastAt, l.lastAt)
		if l.err != nil {
			errs = append(errs, l.err)
		}
	}
	if t0 := r.t0.Load(); lastAt > t0 {
		rep.DurationSeconds = float64(lastAt-t0) / 1e9
	}
	if rep.AckReport != nil {
		setLateness(&rep.AckLatency, ackHist)
	}
	setLateness(&rep.Lateness, hist)
	setSession(rep.Session, r.radioOn)
	rep.sortDevices()
	rep.finish()
	r.logDone(rep)
	return rep, errors.Join(errs...)
}

// coordinate waits for the connect phase of every loop, starts the send
// phase, relays cancellation, ticks progress, and returns the connect
// phase's length in seconds once all loops are done.
func (r *runner) coordinate(ctx context.Context, nloops int, done <-chan struct{}, wakeAll, tick func()) float64 {
	every := r.cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var connectSec float64
	ctxDone := ctx.Done()
	start := make(chan int64, 1)
	for ready := 0; ; {
		select {
		case <-r.connectDone:
			if ready++; ready == nloops {
				connectSec = float64(r.now()) / 1e9
				r.logConnected(connectSec)
				r.requestStart(start)
			}
		case t0 := <-start:
			r.t0.Store(r.runClock(t0))
			wakeAll()
		case <-ctxDone:
			ctxDone = nil
			r.stop.Store(true)
			wakeAll()
		case <-ticker.C:
			tick()
		case <-done:
			return connectSec
		}
	}
}

func (r *runner) newReport(started time.Time, connectSec float64) *Report {
	c := r.cfg
	r.radioOn = newLatenessHist()
	return &Report{
		Transport: string(c.Transport), Target: c.Addr, Codec: c.Codec.String(), Batch: c.Batch,
		Channels: r.sched.channels, Signal: c.Signal, RatePerDevice: c.Rate, Devices: c.Devices,
		Procs: 1, Loops: r.nloops, UDPSockets: c.UDPSockets, Started: started.UTC(),
		ConnectSeconds: connectSec, WallSeconds: time.Since(started).Seconds(),
		LateAfterMs:        float64(c.LateAfter) / float64(time.Millisecond),
		ConnectFailures:    map[string]uint64{},
		ConnectRetries:     map[string]uint64{},
		Disconnects:        map[string]uint64{},
		SendErrorsByReason: map[string]uint64{},
		DroppedByReason:    map[string]uint64{},
		DownlinkErrors:     map[string]uint64{},
		MaxRSSBytes:        maxRSS(),
		PerDevice:          make([]DeviceReport, 0, c.Devices),
		AckReport:          c.newAckReport(),
		Session:            c.newSessionReport(),
	}
}

func (r *runner) addLoop(rep *Report, l *loop, hist, ackHist *hdrhistogram.Histogram) {
	t := l.tally
	addMap(rep.ConnectFailures, t.connectFailures)
	addMap(rep.ConnectRetries, t.connectRetries)
	addMap(rep.Disconnects, t.disconnects)
	addMap(rep.SendErrorsByReason, t.sendErrors)
	addMap(rep.DroppedByReason, t.dropped)
	addMap(rep.DownlinkErrors, t.downlinkErrors)
	rep.ControlFramesSent += t.controlFrames
	rep.ControlBytesSent += t.controlBytes
	rep.EOSSent += t.eos
	rep.CommandsUnknown += t.unknownCommands
	rep.LateSends += l.live.late.Load()
	rep.CommandsReceived += l.live.commands.Load()
	rep.AcksSent += l.live.acks.Load()
	rep.BytesSent += l.live.bytes.Load()
	rep.LoopCPUSeconds += l.cpu.Seconds()
	hist.Merge(t.lateness)
	if rep.Session != nil {
		rep.Session.Connects += t.sessions
		rep.Session.Resumed += t.resumed
		r.radioOn.Merge(t.radioOn)
	}
	if rep.AckReport != nil {
		rep.AckReport.addTally(t)
		ackHist.Merge(t.ackLatency)
	}
	for i := range l.devs {
		d := &l.devs[i]
		dr := d.report()
		if n := len(r.tgts.list); n > 1 {
			dr.Target = r.tgts.list[r.tgts.of(d.num)].spec
			if int(d.tgt) != r.tgts.of(d.num) {
				dr.LastTarget = r.tgts.list[d.tgt].spec
			}
		}
		if l.ack != nil {
			l.ack.devs[i].report(&dr, uint64(l.s.channels))
			rep.AckReport.addDevice(&dr)
		}
		rep.PerDevice = append(rep.PerDevice, dr)
		if d.everUp {
			rep.DevicesConnected++
		}
		rep.FramesSent += d.frames
		rep.SamplesSent += d.samples
		rep.ReadingsSent += d.readings
	}
}

func (d *device) report() DeviceReport {
	led := "off"
	if d.led {
		led = "on"
	}
	return DeviceReport{
		Device: string(d.id), Frames: d.frames, Samples: d.samples, Readings: d.readings, Bytes: d.bytes,
		FirstSeq: d.firstSeq, NextSeq: d.seq, Dropped: d.skipped, Connected: d.everUp, EOS: d.eosSent,
		LED: led, Commands: d.commands, Acks: d.acks,
		Failovers: d.failovers,
	}
}

func (r *Report) sortDevices() {
	slices.SortFunc(r.PerDevice, func(a, b DeviceReport) int { return cmp.Compare(a.Device, b.Device) })
}

func (r *runner) log() *slog.Logger {
	c := r.cfg
	return c.logger().With("devices", fmt.Sprintf("%s..%s", c.deviceID(c.IDOffset), c.deviceID(c.IDOffset+c.Devices-1)))
}

func (r *runner) logStart() {
	c := r.cfg
	r.log().Info("load: connecting", "transport", c.Transport, "target", c.Addr, "codec", c.Codec,
		"loops", r.nloops, "connect_rate", c.ConnectRate)
}

func (r *runner) logConnected(sec float64) {
	if r.cfg.session() == SessionPerReport {
		r.log().Info("load: sending; per-report devices connect for each report", "seconds", fmt.Sprintf("%.2f", sec))
		return
	}
	p := snapshot(r.lives, r.cfg.Devices, 0)
	r.log().Info("load: connect phase over, sending", "connected", p.EverConn, "failed", int64(r.cfg.Devices)-p.EverConn,
		"failed_attempts", p.ConnErrors, "seconds", fmt.Sprintf("%.2f", sec))
}

func (r *runner) logDone(rep *Report) {
	r.log().Info("load: done", "frames", rep.FramesSent, "readings", rep.ReadingsSent, "bytes", rep.BytesSent,
		"connect_failures", rep.ConnectFailuresTotal, "send_errors", rep.SendErrors, "dropped", rep.FramesDropped,
		"late", rep.LateSends, "cpu_ns_per_frame", int64(rep.CPUNsPerFrame))
}

// ackMaxBatch returns the most samples a resent frame carries, 0 without
// Ack.
func (r *runner) ackMaxBatch() int {
	if !r.cfg.Ack {
		return 0
	}
	return r.cfg.ackMaxBatch()
}
