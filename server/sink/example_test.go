package sink_test

import (
	"fmt"
	"log"
	"os"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
	"github.com/fleetwire/fleetwire/server/sink"
)

// An event loop decodes into a reused Batch that aliases its network
// buffer, copies the frames into a Chunk and hands it over; the writer
// goroutine stores it. Export reads it back as interchange CSV.
func Example() {
	dir, err := os.MkdirTemp("", "sink-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := sink.OpenFiles(sink.FileConfig{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}

	var batch codec.Batch
	for _, line := range []string{
		"mote-3;42;1764000000000;21.50:40,21.6:41@5000",
		"21.7,21.80", // no header: the connection's hello names the device
	} {
		if err := text.Decode(&batch, []byte(line), &codec.DefaultLimits); err != nil {
			log.Fatal(err)
		}
	}
	c := sink.GetChunk()
	for i := range batch.Frames {
		c.Add(&batch.Frames[i], []byte("mote-9"))
	}
	batch.Reset() // the network buffer can be reused now
	if !s.Submit(c) {
		c.Release() // and count its readings as dropped
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := sink.OpenReader(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if _, err := sink.Export(os.Stdout, r, sink.Filter{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Stats().Stored, "readings stored")
	// Output:
	// device,seq,unix_ms,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8
	// mote-3,42,1764000000000,21.50,40,,,,,,
	// mote-3,43,1764000005000,21.6,41,,,,,,
	// mote-9,,,21.7,,,,,,,
	// mote-9,,,21.80,,,,,,,
	// 6 readings stored
}
