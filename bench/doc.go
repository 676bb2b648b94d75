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
package bench
