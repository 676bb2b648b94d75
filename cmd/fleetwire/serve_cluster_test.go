package main

import "testing"

func TestClusterURL(t *testing.T) {
	f := func(sink, flag, want string) {
		t.Helper()
		if got := clusterURL(sink, flag); got != want {
			t.Fatalf("--sink %q --cluster-nats %q: %q, want %q", sink, flag, got, want)
		}
	}
	f("nats://n1:4222,n2:4222", "", "nats://n1:4222,n2:4222")
	f("tls://n1:4222", "", "tls://n1:4222")
	f("nats://n1:4222", "nats://watch:4222", "nats://watch:4222")
	f("nats://n1:4222", "none", "")
	f("files", "", "")
	f("none", "", "")
	f("files", "nats://n1:4222", "nats://n1:4222")
}
