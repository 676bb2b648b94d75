// Package linkemu is a user-space network link emulator for benchmarks on
// a kernel without netem: two network namespaces, each with a TUN device
// whose fd this process holds, and between them, per direction, a loss
// model (random or Gilbert-Elliott), a rate limit with a bounded drop-tail
// queue, a delay with jitter (in order unless asked), and optional
// reordering and duplication.
//
// It is a link kind beside bench/netns (veth + tbf + nft loss), which it
// does not replace: use netns where rate and random loss are enough, and
// this package where delay, jitter, bursty loss, reordering or
// duplication matter.
//
// Contracts: Setup may be called concurrently (unique namespace names and
// addresses per link); a Link's methods are safe for concurrent use;
// Close (idempotent) stops the emulator's threads, kills what still runs
// in the namespaces and deletes them. Setup needs root and /dev/net/tun.
package linkemu
