package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/fleetwire/fleetwire/server/web"
)

// Trial is one measured run: a server and a generator, each a process of
// its own, taken through phases that `fleetwire bench` (runOne) and bench/plan
// (Measure) compose, each in its own order and with its own sampling:
//
//	StartServer  start `serve`, wait for /readyz
//	StartLoad    the server's CPU at the start, then start `load`
//	Watch        until the generator exits: a tick on this goroutine,
//	             the server's exit, a time bound (Poll: a sampler of
//	             its own, for readings that may be slow, such as the API)
//	GenReport    the generator's --json report and its CPU as reaped
//	Drain        until the server counted what the generator sent
//	Finish       the server's CPU over the window from the generator's start
//
// What each phase reads is documented with the Counters field it fills.
type Trial struct {
	Dir    string // logs (server.log, load.log) and the generator's report
	Server *Proc
	API    *web.Client
	Gen    *Proc
	// GenStarted is when StartLoad started the generator: the window's
	// start; GenExited when Watch saw it end.
	GenStarted, GenExited time.Time
	cpu0                  CPUSample
}

var (
	// ErrNotReady: the server did not answer /readyz in time, or exited
	// first. Nothing was measured yet, so the run may be tried again.
	ErrNotReady = errors.New("server not ready")
	// ErrNoStats: the drain never got an answer from /api/stats.
	ErrNoStats = errors.New("no stats after the run")
)

// NewAPI is the client of a measured server's HTTP side at addr, reached
// through dial (inside a network namespace); nil dials from here. One
// idle connection, no compression, 5 s per request.
func NewAPI(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*web.Client, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return web.NewClient(addr, web.WithDialer(dial), web.WithTimeout(5*time.Second))
}

// StartServer starts cmd, its output in dir/server.log, and waits up to
// 10 s for api to answer /readyz. On error nothing is left running; on
// success Close stops it all.
func StartServer(ctx context.Context, dir string, cmd *exec.Cmd, api *web.Client) (*Trial, error) {
	srv, err := StartProc(cmd, filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	r := &Trial{Dir: dir, Server: srv, API: api}
	if err := WaitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		if srv.Exited() {
			return false, fmt.Errorf("server exited: %v", srv.Err())
		}
		return api.Ready(ctx), nil
	}); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %v; server log: %s", ErrNotReady, err, srv.Tail(5))
	}
	return r, nil
}

// Close stops the generator (5 s grace) and the server (15 s) and
// releases the API client's connection.
func (r *Trial) Close() {
	if r.Gen != nil {
		r.Gen.Stop(5 * time.Second)
	}
	r.API.Close()
	r.Server.Stop(15 * time.Second)
}

// GenReportPath is where the generator is to write its --json report.
func (r *Trial) GenReportPath() string { return filepath.Join(r.Dir, "load.json") }

// StartLoad reads the server's CPU (the window's start) and starts the
// generator cmd, its output in dir/load.log.
func (r *Trial) StartLoad(cmd *exec.Cmd) error {
	cpu0, err := ReadCPU(r.Server.PID())
	if err != nil {
		return err
	}
	r.cpu0, r.GenStarted = cpu0, time.Now()
	gen, err := StartProc(cmd, filepath.Join(r.Dir, "load.log"))
	if err != nil {
		return err
	}
	r.Gen = gen
	return nil
}

// Watch holds until the generator exits, calling tick (when not nil)
// first and then every interval while it runs. The server exiting, ctx,
// and the generator still running after limit (ErrTimeout) end it with an
// error, as does the generator failing.
func (r *Trial) Watch(ctx context.Context, limit, every time.Duration, tick func()) error {
	deadline := time.Now().Add(limit)
	for !r.Gen.Exited() {
		if tick != nil {
			tick()
		}
		if r.Server.Exited() {
			return fmt.Errorf("server exited during the load: %v: %s", r.Server.Err(), r.Server.Tail(5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: generator still running after %v", ErrTimeout, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.Gen.Done():
		case <-time.After(every):
		}
	}
	r.GenExited = time.Now()
	if err := r.Gen.Err(); err != nil {
		return fmt.Errorf("generator: %v: %s", err, r.Gen.Tail(5))
	}
	return nil
}

// Poll calls sample at once and then every interval on a goroutine of its
// own, until stop (which waits for it; calling it again does nothing).
func (r *Trial) Poll(ctx context.Context, every time.Duration, sample func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			sample(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// GenReport reads the generator's --json report into c.Gen, without its
// per-device list, and c.GenWaitCPUNs, its CPU as wait4 reported it.
func (r *Trial) GenReport(c *Counters) error {
	if ps := r.Gen.Cmd().ProcessState; ps != nil {
		c.GenWaitCPUNs = int64(ps.UserTime() + ps.SystemTime())
	}
	b, err := os.ReadFile(r.GenReportPath())
	if err != nil {
		return fmt.Errorf("generator report: %w", err)
	}
	if err := json.Unmarshal(b, &c.Gen); err != nil {
		return fmt.Errorf("generator report: %w", err)
	}
	c.Gen.PerDevice = nil
	return nil
}

// Drain asks /api/stats every 200 ms, for at most limit (then
// ErrTimeout), until done holds for a fresh snapshot: one sampled later
// than the last one taken (the server samples once a second) and not
// before notBefore (zero: any). stable counts the fresh snapshots in a row
// whose transports.<wire>.readings did not change. It returns the last
// fresh snapshot, or ErrNoStats (joined with the error) when there was
// none; an error of the API ends it.
func (r *Trial) Drain(ctx context.Context, limit time.Duration, wire string, notBefore time.Time,
	done func(st *web.Snapshot, stable int) bool) (*web.Snapshot, error) {
	var st *web.Snapshot
	var last uint64
	stable := 0
	err := WaitFor(ctx, limit, 200*time.Millisecond, func() (bool, error) {
		x, err := r.API.Stats(ctx)
		if err != nil {
			return false, err
		}
		if st != nil && x.SampledAt.Equal(st.SampledAt) || x.SampledAt.Before(notBefore) {
			return false, nil
		}
		st = &x
		ts := x.Transports[wire]
		if ts.Readings == last {
			stable++
		} else {
			stable = 0
		}
		last = ts.Readings
		return done(st, stable), nil
	})
	if st == nil {
		return nil, errors.Join(ErrNoStats, err)
	}
	return st, err
}

// Finish reads the server's CPU again: c.ServerCPU is what it used since
// StartLoad, c.WindowNs the window's length.
func (r *Trial) Finish(c *Counters) error {
	cpu1, err := ReadCPU(r.Server.PID())
	if err != nil {
		return err
	}
	c.WindowNs = int64(time.Since(r.GenStarted))
	c.ServerCPU = cpu1.Sub(r.cpu0)
	return nil
}

// FromStats copies what the figures read of the server's final
// /api/stats: the transport's counters and the server-wide ones.
func (c *Counters) FromStats(st *web.Snapshot, wire string) {
	c.Srv, c.Datagrams, c.EOS, c.Latency = st.Transports[wire], st.Datagrams, st.EOS, st.Latency
}
