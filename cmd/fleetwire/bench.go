package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetwire/fleetwire/bench"
	"github.com/fleetwire/fleetwire/bench/linkemu"
	"github.com/fleetwire/fleetwire/bench/netns"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var (
		matrixPath, suite, out, name, codecBenchDir, codecBenchTime, render string
		quick, noPin, hostLoopback                                          bool
		engines, merge                                                      []string
		g                                                                   benchFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure bytes, loss and server CPU per reading of each wire choice; write a report",
		Long: `Run benchmark scenarios and write a report. A scenario is transport x codec
x batch x devices x per-device rate x network profile x duration; each runs
'fleetwire serve --sink none' and 'fleetwire load --json' as two processes of
this binary, once per engine (gnet, then the standard-library baseline,
alternately, or only the engines its matrix group names), server and
generator pinned to different cores when there are two. Transports tcp+ack
and udp+ack are acknowledged delivery: 'fleetwire load --ack' against
'fleetwire serve --sink files'. Figures come from counters: the generator's report, the server's
/api/stats (TCP_INFO at each close), /proc (CPU, RSS, net/snmp, net/dev).

Without --matrix or scenario flags it runs a built-in suite: default (every
transport and codec, lossy and cellular links, a duty-cycled device on each
emulated link; about half an hour), quick (a smoke run of under a minute; also
--quick), acked (acknowledged delivery beside the same fleets without it on
every emulated link, and a 3-minute steady state on a clean link; about 40
minutes), devices (devices reporting every 10 s and 60 s, every transport and
session mode, on every emulated link; about 2 hours in sequence) or
devices-10min (a device reporting every 10 minutes; 30-minute runs). Network
profiles other than "loopback" are network-namespace links (bench/netns, and
bench/linkemu for the *-emu ones; root, ip, tc, nft/iptables, /dev/net/tun):
they are skipped with a message where unavailable. Profiles: ` + profileNames() + `.

The report goes to --out (default bench/results/<date>-<name>): report.md,
results.csv, results.json, SVG charts, and with --codec-bench the codecs'
go test -bench output.`,
		Example: `  fleetwire bench --quick
  fleetwire bench --suite acked
  fleetwire bench --out bench/results/2026-11-25-default --codec-bench .
  fleetwire bench --matrix my.yaml
  fleetwire bench --render bench/results/2026-11-25-default
  fleetwire bench --merge /tmp/nbiot,/tmp/ltem --name devices --out bench/results/2026-12-06-devices-full
  fleetwire bench --transport tcp,udp --codec text,compact --batch 1,10 --profile loopback,loss-1 --duration 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			if len(merge) > 0 {
				if out == "" || name == "" {
					return errors.New("--merge needs --out and --name")
				}
				if _, err := bench.Merge(out, name, merge); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(out, "report.md"))
				return nil
			}
			if render != "" {
				if _, err := bench.Render(render); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(render, "report.md"))
				return nil
			}
			var m *bench.Matrix
			var err error
			if quick {
				if cmd.Flags().Changed("suite") && suite != "quick" {
					return fmt.Errorf("--quick is --suite quick: not with --suite %s", suite)
				}
				suite = "quick"
			}
			picked := quick || cmd.Flags().Changed("suite")
			switch {
			case matrixPath != "" && (picked || g.set(cmd)):
				return errors.New("--matrix goes alone: not with --suite, --quick or scenario flags")
			case picked && g.set(cmd):
				return errors.New("--suite goes alone: not with scenario flags (write a --matrix instead)")
			case matrixPath != "":
				m, err = bench.ReadMatrix(matrixPath)
			case g.set(cmd):
				m, err = g.matrix()
			default:
				m, err = bench.Suite(suite)
			}
			if err != nil {
				return err
			}
			if name == "" {
				name = m.Name
			}
			if name == "" {
				name = "custom"
			}
			scenarios, err := m.Scenarios()
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join("bench", "results", started.Format("2006-01-02")+"-"+name)
			}
			work, err := os.MkdirTemp("", "fleetwire-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			o := bench.Options{Engines: engines, WorkDir: work, PrivateLoopback: !hostLoopback}
			if err := o.Defaults(); err != nil {
				return err
			}
			pin := "none (fewer than 2 usable cores, or --no-pin)"
			if noPin {
				o.Pin = false
			}
			if o.Pin {
				pin = fmt.Sprintf("server on CPU %d, generator on CPU %d (taskset -c, i.e. sched_setaffinity)", o.ServerCPU, o.GenCPU)
			}
			runs := 0
			for i := range scenarios {
				runs += len(scenarios[i].RunsOn(o.Engines))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "bench %s: %d scenarios, %d runs on engines %s -> %s\n", name, len(scenarios), runs, strings.Join(o.Engines, ","), out)
			rep := &bench.Report{Name: name, Started: started, Command: "fleetwire " + strings.Join(os.Args[1:], " "),
				Machine: bench.ThisMachine("."), Pinning: pin}
			results, runErr := bench.Run(cmd.Context(), o, scenarios)
			rep.Results = results
			rep.Links, rep.Profiles = bench.LinksAndProfiles(results)
			if codecBenchDir != "" && runErr == nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "bench: codec micro-benchmarks")
				rep.CodecBench, rep.CodecBenchCommand, err = bench.CodecBench(cmd.Context(), codecBenchDir, codecBenchTime)
				if err != nil {
					return err
				}
			}
			rep.Seconds = time.Since(started).Seconds()
			if err := rep.WriteFiles(out); err != nil {
				return errors.Join(runErr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(out, "report.md"))
			if runErr != nil {
				return runErr
			}
			if n := bench.Failed(results); n > 0 {
				return fmt.Errorf("%d runs failed (see the report)", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&matrixPath, "matrix", "", "YAML file of scenario groups (see bench/suites/default.yaml)")
	f.StringVar(&suite, "suite", "default", "built-in suite: default, quick, acked, devices or devices-10min (see above)")
	f.BoolVar(&quick, "quick", false, "the quick suite: a smoke run of under a minute (--suite quick)")
	f.StringVar(&out, "out", "", "report directory (default bench/results/<date>-<name>)")
	f.StringVar(&name, "name", "", "report name (default: the matrix's)")
	f.StringSliceVar(&engines, "engines", nil, "engines to run each scenario on (default gnet,std)")
	f.BoolVar(&noPin, "no-pin", false, "do not pin the server and the generator to different cores")
	f.BoolVar(&hostLoopback, "host-loopback", false, `run "loopback" scenarios on the host's loopback instead of a private namespace`)
	f.StringVar(&codecBenchDir, "codec-bench", "", "module directory: also run go test -bench on ./codec/... there and add it to the report")
	f.StringSliceVar(&merge, "merge", nil, "write one report into --out from the report directories given, run side by side by the same binary (one matrix each); runs nothing")
	f.StringVar(&render, "render", "", "recompute the figures of the report in this directory from its results.json and write its files again (runs nothing)")
	f.StringVar(&codecBenchTime, "codec-benchtime", "100ms", "-benchtime of the codec micro-benchmarks")
	g.register(f)
	return cmd
}

func profileNames() string {
	names := []string{bench.Loopback}
	for _, p := range netns.Profiles() {
		names = append(names, p.Name)
	}
	for _, p := range linkemu.Profiles() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}
