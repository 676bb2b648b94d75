// Package bench runs fleetwire's benchmark scenarios and writes reports
// that say, for each wire choice (transport x codec x batch), what it cost
// in bytes, lost readings and server CPU, on a clean link and on lossy,
// narrow ones.
//
// Every scenario runs `fleetwire serve` and `fleetwire load` as separate
// processes of the same binary, so each one's CPU is measured alone, once
// per engine (gnet, then the standard-library baseline, alternately). Every
// figure is computed from a named counter (Figures says which); nothing
// that a counter can give is estimated. A run goes through the phases of
// Trial (runner.go), which bench/plan composes too.
//
// Contracts: Run runs scenarios one at a time (they share the host's
// cores) and stops every process it started by its own PID before it
// returns, on error and cancellation too (Proc); one failed run is recorded
// and the rest go on. Compute is a pure function of a Scenario and its
// Counters, so a report can be recomputed from results.json (Render)
// without running anything. Report files go to the directory the caller
// names; nothing else on the host is changed, except the network
// namespaces a netns profile creates and removes.
package bench
