package loadgen

import "testing"

// TestDeviceByID: a #stored on a shared UDP socket finds its device from
// the id alone: loop (n-IDOffset) mod nloops, index (n-IDOffset)/nloops.
func TestDeviceByID(t *testing.T) {
	c := DefaultConfig()
	c.Samples, c.Devices, c.IDOffset = 1, 10, 100
	r, err := newRunner(&c, &targets{list: []target{{}}, perSource: c.PerSource})
	if err != nil {
		t.Fatal(err)
	}
	r.nloops = 3
	l, err := newLoop(r, 1, []int{101, 104, 107}) // device numbers i with i-100 = 1 mod 3
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	f := func(id string, want int32) {
		t.Helper()
		if got := l.deviceByID([]byte(id)); got != want {
			t.Fatalf("%s: %d, want %d", id, got, want)
		}
	}
	f("dev-000102", 0)
	f("dev-000105", 1)
	f("dev-000108", 2)
	f("dev-000103", -1) // another loop's
	f("dev-000111", -1) // past the fleet
	f("dev-000100", -1) // before it
	f("dev-00105", -1)  // not how this fleet writes it
	f("dev-", -1)
	f("mote-000102", -1)
	f("dev-00010x", -1)
	f("dev-99999999999999999999", -1)
}
