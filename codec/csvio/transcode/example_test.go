package transcode_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio/transcode"
	"github.com/fleetwire/fleetwire/codec/wire"
)

// What `fleetwire encode --codec text --batch 60` and `fleetwire decode
// --columns t,h` do: the text frames show how rows became frames, and
// decoding with the header's names gives the CSV back.
func Example() {
	csv := `device,seq,unix_ms,t,h
mote-3,42,1700000000000,21.5,40
mote-3,43,1700000005000,21.6,41
mote-3,44,1700000010000,21.60,41
mote-4,7,,19.0,55
`
	var frames bytes.Buffer
	enc := wire.NewEncoder(codec.Codec{Format: codec.FormatText}, 0, nil)
	if _, err := transcode.Encode(&frames, strings.NewReader(csv), enc, transcode.EncodeOptions{Batch: 60}); err != nil {
		fmt.Println(err)
	}
	fmt.Print(frames.String())

	dec := wire.NewDecoder(codec.Limits{}, 0, nil)
	if _, err := transcode.Decode(os.Stdout, &frames, dec, transcode.DecodeOptions{Columns: []string{"t", "h"}}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// mote-3;42;1700000000000;21.5:40,21.6:41@5000,21.60:41
	// mote-4;7;19.0:55
	// device,seq,unix_ms,t,h
	// mote-3,42,1700000000000,21.5,40
	// mote-3,43,1700000005000,21.6,41
	// mote-3,44,1700000010000,21.60,41
	// mote-4,7,,19.0,55
}
