//go:build race

package server

// raceEnabled: the race detector makes every goroutine several times
// slower; the heaviest DTLS tests do less under it, so as not to starve
// the packages tested beside them.
const raceEnabled = true
