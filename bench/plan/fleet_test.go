package plan

import (
	"strings"
	"testing"
	"time"
)

func TestParseFleet_Success(t *testing.T) {
	f := func(s string, want FleetSpec) {
		t.Helper()
		got, err := ParseFleet(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got != want {
			t.Fatalf("%q: got %+v, want %+v", s, got, want)
		}
		again, err := ParseFleet(got.String())
		if err != nil || again != got {
			t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
		}
	}
	tcp := FleetSpec{Devices: 10000, Interval: time.Second, Batch: 5, Readings: 4, Transport: "tcp", Codec: "text", Session: "plain"}
	f("devices=10000,interval=1s,batch=5,readings=4,transport=tcp,codec=text,session=plain", tcp)
	f("# a file\ndevices = 1e4\ninterval=1s # every second\nbatch=5, readings=4\nTransport=TCP\ncodec=text\nsession=plain\n", tcp)
	f("devices=1000000,interval=100s,batch=10,readings=2,transport=udp,codec=compact+zstd,session=ack",
		FleetSpec{Devices: 1e6, Interval: 100 * time.Second, Batch: 10, Readings: 2, Transport: "udp", Codec: "compact+zstd", Session: "ack"})
}

func TestParseFleet_Failure(t *testing.T) {
	f := func(s, want string) {
		t.Helper()
		_, err := ParseFleet(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: got %v, want an error with %q", s, err, want)
		}
	}
	ok := "interval=1s,batch=5,readings=4,transport=tcp,codec=text,session=plain"
	f(ok, "devices missing")
	f("devices=10,"+ok+",devices=20", "devices given twice")
	f("devices=10.5,"+ok, "whole number")
	f("devices=0,"+ok, "devices 0")
	f("devices=ten,"+ok, `devices="ten"`)
	f("devices=10,"+ok+",colour=red", "unknown key")
	f("devices=10,"+ok+",oops", "want key=value")
	f(strings.Replace("devices=10,"+ok, "interval=1s", "interval=0s", 1), "interval 0s")
	f(strings.Replace("devices=10,"+ok, "tcp", "sctp", 1), `transport "sctp"`)
	f(strings.Replace("devices=10,"+ok, "text", "morse", 1), `codec "morse"`)
	f(strings.Replace("devices=10,"+ok, "plain", "reconnect", 1), `session "reconnect"`)
	f(strings.Replace("devices=10,"+ok, "batch=5", "batch=0", 1), "batch 0")
}
