// Package attack has one job: run hostile traffic against a real
// `fleetwire serve` process, on both engines, and check from the outside
// that it survives, counts each attack by its true reason, serves a canary
// device in full meanwhile, and keeps its resident memory under a bound
// derived from the server's own limits. It holds tests only; the traffic
// goes to loopback only.
//
// The in-process tests of package server check the same rules one by one
// with the Go heap as their measure; these check the process as an
// operator sees it: RSS, /healthz, /api/stats.
package attack
