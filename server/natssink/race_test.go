//go:build race

package natssink_test

// The race detector slows the NATS servers and the fleetwire server
// several times over: the end-to-end tests run a fifth of the devices,
// so that loopback UDP is not overrun and CI stays within its time.
const raceScale = 5
