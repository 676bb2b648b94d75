package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// The parent and its workers talk JSON lines. Parent to worker (stdin):
// the worker's Config, then {"start_unix_nano": T} once every worker has
// connected its devices, so that all start sending together. Worker to
// parent (stdout): {"ready": true} after its connect phase, progress every
// ProgressEvery, and last the report.
type workerMsg struct {
	Ready    bool      `json:"ready,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
	Report   *Report   `json:"report,omitempty"`
	Error    string    `json:"error,omitempty"`
}

type parentMsg struct {
	StartUnixNano int64 `json:"start_unix_nano"`
}

// startLead is how far ahead the parent sets the common start: enough for
// every worker to read it before its first frame is due.
const startLead = 100 * time.Millisecond

// ServeWorker is the body of a worker process: it reads its Config from
// in, runs it, and writes JSON lines to out (see workerMsg). Cancel ctx
// (SIGINT) to make it end its devices' streams early.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	var cfg Config
	dec := json.NewDecoder(in)
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("loadgen worker: read config: %w", err)
	}
	cfg.Procs, cfg.Progress = 0, nil
	starts := make(chan int64, 1)
	go func() {
		defer close(starts)
		for {
			var m parentMsg
			if dec.Decode(&m) != nil {
				return // parent gone: start now rather than hang
			}
			if m.StartUnixNano != 0 {
				starts <- m.StartUnixNano
			}
		}
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m workerMsg) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	awaitStart := func(start chan<- int64) {
		send(workerMsg{Ready: true})
		go func() {
			t, ok := <-starts
			if !ok {
				t = time.Now().UnixNano()
			}
			start <- t
		}()
	}
	var rep *Report
	err := cfg.validate()
	if err == nil {
		rep, err = runLocal(ctx, &cfg, func(p Progress) { send(workerMsg{Progress: &p}) }, awaitStart)
	}
	m := workerMsg{Report: rep}
	if err != nil {
		m.Error = err.Error()
	}
	if serr := send(m); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

type worker struct {
	idx   int
	stdin io.WriteCloser
	ready bool // connected, or gone
	last  Progress
	rep   *Report
	err   error
}

// runProcs splits the fleet over cfg.Procs worker processes: disjoint
// device-number ranges (so disjoint ids and, through them, source
// addresses), a share of the connect rate each. It merges their reports.
func runProcs(ctx context.Context, cfg *Config) (*Report, error) {
	if cfg.WorkerCommand == nil {
		return nil, errors.New("loadgen: --procs needs Config.WorkerCommand")
	}
	n := cfg.Procs
	// Workers inherit the raised limit; refuse here rather than in each.
	if err := checkSockets(cfg.sockets(), n); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	workers := make([]*worker, n)
	readyc := make(chan struct{}, n)
	var mu sync.Mutex // guards workers' last and rep
	var wg sync.WaitGroup
	started := time.Now()
	offset := cfg.IDOffset
	var procs []*os.Process
	for i := range n {
		wc := *cfg
		wc.Procs = 0
		wc.Devices = cfg.Devices / n
		if i < cfg.Devices%n {
			wc.Devices++
		}
		wc.IDOffset = offset
		offset += wc.Devices
		wc.ConnectRate = cfg.ConnectRate / float64(n)
		if wc.Loops == 0 {
			// The workers share the machine's cores: more loop threads
			// than cores only add context switches.
			wc.Loops = max(1, runtime.NumCPU()/n)
		}
		if cfg.UDPSockets > 0 {
			wc.UDPSockets = max(1, (cfg.UDPSockets+n-1)/n)
		}
		in, err := json.Marshal(&wc)
		if err != nil {
			return nil, fmt.Errorf("loadgen: worker config: %w", err)
		}
		cmd := cfg.WorkerCommand()
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("loadgen: worker %d: %w", i, err)
		}
		if cmd.Stderr == nil {
			cmd.Stderr = os.Stderr
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("loadgen: worker %d: %w", i, err)
		}
		if err := cmd.Start(); err != nil {
			for _, p := range procs {
				p.Kill()
			}
			return nil, fmt.Errorf("loadgen: start worker %d: %w", i, err)
		}
		procs = append(procs, cmd.Process)
		w := &worker{idx: i, stdin: stdin}
		workers[i] = w
		// The config is small: the pipe takes it without blocking.
		if _, err := stdin.Write(append(in, '\n')); err != nil {
			w.err = fmt.Errorf("send config: %w", err)
		}
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<30) // the report lists every device
			for sc.Scan() {
				var m workerMsg
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					continue // not ours: a worker's stray output
				}
				mu.Lock()
				if m.Ready && !w.ready {
					w.ready = true
					readyc <- struct{}{}
				}
				if m.Progress != nil {
					w.last = *m.Progress
				}
				if m.Report != nil {
					w.rep = m.Report
				}
				if m.Error != "" {
					w.err = errors.New(m.Error)
				}
				mu.Unlock()
			}
			werr := cmd.Wait()
			mu.Lock()
			if w.rep == nil && w.err == nil {
				w.err = fmt.Errorf("exited without a report: %v", werr)
			}
			if !w.ready {
				w.ready = true
				readyc <- struct{}{}
			}
			mu.Unlock()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progress := newTextProgress(cfg.Progress, cfg.Ack)
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	ctxDone := ctx.Done()
	sumProgress := func() Progress {
		mu.Lock()
		defer mu.Unlock()
		p := Progress{Elapsed: time.Since(started), Devices: cfg.Devices}
		for _, w := range workers {
			p.add(w.last)
		}
		return p
	}
	nready := 0
wait:
	for {
		select {
		case <-readyc:
			if nready++; nready == n {
				// Every worker has connected its devices: start together.
				msg, _ := json.Marshal(parentMsg{StartUnixNano: time.Now().Add(startLead).UnixNano()})
				for _, w := range workers {
					w.stdin.Write(append(msg, '\n'))
				}
			}
		case <-ctxDone:
			ctxDone = nil
			for _, p := range procs {
				p.Signal(os.Interrupt)
			}
		case <-tick.C:
			progress(sumProgress())
		case <-done:
			break wait
		}
	}
	progress(sumProgress())
	for _, w := range workers {
		w.stdin.Close()
	}
	var parts []*Report
	var errs []error
	for _, w := range workers {
		if w.err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", w.idx, w.err))
		}
		if w.rep != nil {
			parts = append(parts, w.rep)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("loadgen: no worker reported: %w", errors.Join(errs...))
	}
	rep, err := Merge(parts)
	if err != nil {
		return nil, err
	}
	rep.Procs = n
	rep.WallSeconds = time.Since(started).Seconds()
	return rep, errors.Join(errs...)
}
