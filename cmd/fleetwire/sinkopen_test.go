package main

import "testing"

func TestRedactURL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := redactURL(in); got != want {
			t.Fatalf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	f("files", "files")
	f("nats://127.0.0.1:4222", "nats://127.0.0.1:4222")
	f("nats://alice:s3cret@h1:4222,nats://h2:4222", "nats://alice:xxxxx@h1:4222,nats://h2:4222")
	f("nats://tok3n@h1:4222", "nats://xxxxx@h1:4222")
}
