// Package faults has one job: prove from the outside that acknowledged
// delivery (PROTOCOL.md, "Acknowledged delivery") neither loses nor
// duplicates a reading when things break. It starts real `fleetwire serve`
// and `fleetwire load --ack` processes, breaks them, and compares what the
// generators report they produced and gave up with what the sink holds,
// sample by sample (`fleetwire export` for the files sink; for NATS,
// natssink.Read, what `fleetwire consume` prints of the stream):
//
//   - TestKillMidRun, TestKillMidRunLossyLink: kill -9 of the server
//     mid-run, restarted on its data; on loopback, then with 5 % random
//     loss both ways on an emulated link.
//   - TestOverflowDuringOutage: an outage long enough to overflow the
//     devices' buffers: what they gave up is exactly what is missing.
//   - TestNATSNodeKill: two nodes publishing to one JetStream stream (a
//     NATS server in the test process), one killed with kill -9 mid-run:
//     its devices fail over to the other and resend; dead, and restarted
//     on its spool.
//
// It holds tests only. Traffic goes to loopback or across the network
// namespaces a test creates with bench/netns; the tests that need
// namespaces skip, with the reason, when they are not available.
package faults
