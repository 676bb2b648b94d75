//go:build race

package compact

// raceEnabled: the race detector makes sync.Pool drop items on purpose, so
// allocation counts are not meaningful under -race.
const raceEnabled = true
