// Package faults has one job: prove from the outside that acknowledged
// delivery (PROTOCOL.md, "Acknowledged delivery") neither loses nor
// duplicates a reading when things break. It starts real `fleetwire serve`
// and `fleetwire load --ack` processes, breaks them (kill -9 of the server
// mid-run, 5 % random loss both ways on an emulated link, an outage long
// enough to overflow the devices' buffers), and compares what the
// generators report they produced and gave up with what `fleetwire export`
// reads from the sink, sample by sample.
//
// It holds tests only. Traffic goes to loopback or across the network
// namespaces a test creates with bench/netns; the tests that need
// namespaces skip, with the reason, when they are not available.
package faults
