//go:build race

package loadgen

// raceEnabled: allocation counts are not meaningful under -race (the
// detector changes what escapes and sync.Pool drops items on purpose).
const raceEnabled = true
