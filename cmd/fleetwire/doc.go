// Command fleetwire is the one binary of fleetwire: a thin command line over
// the packages, one subcommand each.
//
//	fleetwire serve     the ingest server (package server, server/sink, server/natssink, server/web)
//	fleetwire load      the fleet simulator (package loadgen)
//	fleetwire bench     benchmark scenarios and their reports (package bench)
//	fleetwire plan      where one server core saturates; what a fleet needs (package bench/plan)
//	fleetwire cost      bytes per reading of every codec on recorded data (package bench/cost)
//	fleetwire export    the stored readings as CSV; verify checks every stored frame (server/sink)
//	fleetwire consume   the readings of the JetStream stream as CSV (server/natssink)
//	fleetwire command   a downlink command through a running server's API
//	fleetwire encode, decode, csv   CSV to wire frames and back; foreign CSVs to the interchange schema
//
// Its job is flags, defaults, validation and wiring: the behaviour lives in
// the packages, and every subcommand's --help explains its flags.
// Subcommands that run a process-wide
// service (serve, load) stop on SIGINT or SIGTERM after finishing what they
// received or sent; bench and plan start fleetwire processes of the same
// binary and stop each one by its own PID. Exit status: 0 on success, 1 on
// failure, including a damaged segment found by export or verify.
//
// README.md and docs/ say how to use it.
package main
