package netns_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fleetwire/fleetwire/bench/netns"
)

// A run on an NB-IoT-like link: start the server with Command(Server, ...),
// the load generator with Command(Client, ...), and read the counters
// before and after; Sub gives the run's own figures.
func ExampleSetup() {
	if err := netns.Available(); err != nil {
		fmt.Println("skip:", err) // not root, or a tool is missing
		return
	}
	p, err := netns.ProfileByName("nbiot")
	if err != nil {
		log.Fatal(err)
	}
	l, err := netns.Setup(context.Background(), p)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	before, err := l.Counters(netns.Server)
	if err != nil {
		log.Fatal(err)
	}
	// Any program runs inside a side; the server would listen on
	// l.ServerAddr and the generator send to it.
	out, err := l.Command(netns.Client, "ip", "-brief", "address", "show", "dev", l.ClientIface).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("client side: %s", out)
	after, err := l.Counters(netns.Server)
	if err != nil {
		log.Fatal(err)
	}
	run := after.Sub(before)
	fmt.Printf("uplink: %d packets arrived, %d of them dropped by the loss rule\n", run.RxPackets, run.LossDropped)
}
