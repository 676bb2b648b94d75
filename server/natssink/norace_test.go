//go:build !race

package natssink_test

const raceScale = 1
