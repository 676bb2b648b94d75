// Package plan answers capacity questions from measurements: how much
// offered load one server (on a known number of cores) takes before
// readings are lost or late or its CPU runs out, which resource gives out
// first, and what a fleet of N devices would need in cores, memory and
// bandwidth, and cost on the wire.
//
// A sweep raises the offered load (devices x rate) of one transport x
// codec x batch step by step until a limit is crossed, then bisects
// between the last good and the first bad step (Search). Each step runs
// `fleetwire serve` and `fleetwire load --json` as separate processes,
// pinned to different cores, and measures the server alone: its CPU from
// /proc/<pid>/task/*/schedstat over the generator's send phase, its
// counts from /api/stats (Runner). A step where the generator could not
// offer the load (its core full, or behind its schedule) proves nothing
// about the server: the sweep stops there and says so instead of
// reporting a knee. Project turns the inputs measured at the knee into
// the resources of a fleet.
//
// bench runs one list of scenarios; plan needs steps it chooses as it
// goes, the server's CPU over the send phase only, the generator's CPU
// beside it and the server limited to known cores, so it composes the
// phases of bench's runner (bench.Trial) with samplers of its own and
// reuses bench's counters, figures and chart library.
//
// Contracts: a search runs one step at a time, each with fresh processes
// that it stops by their own PIDs before the next step, also on error and
// cancellation. Project and the report are pure functions of the measured
// inputs (plan.json), so a report can be written again without measuring.
// The projection multiplies the knee's CPU per reading: it is a lower
// bound for a sparse fleet, and kernel socket memory is not in it
// (docs/capacity.md).
package plan
