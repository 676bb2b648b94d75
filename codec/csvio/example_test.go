package csvio_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
)

// A foreign CSV (multihop.csv's layout) read through a Mapping and
// written in the interchange schema.
func ExampleConvert() {
	in := `reading,mote_id,indoor,humidity,temperature,label
1,1,0,43.82,30.21,0
2,1,0,43.79,30.20,0
`
	m := csvio.Mapping{DeviceCol: "mote_id", SeqCol: "reading", Columns: []string{"humidity", "temperature"}}
	if err := csvio.Convert(os.Stdout, strings.NewReader(in), m); err != nil {
		fmt.Println(err)
	}
	// Output:
	// device,seq,unix_ms,humidity,temperature
	// 1,1,,43.82,30.21
	// 1,2,,43.79,30.20
}

// Rows grouped into frames the way `fleetwire encode` does: consecutive
// rows of one device with consecutive seq numbers share a frame.
func ExampleFramer() {
	in := `device,seq,unix_ms,t
m1,1,1700000000000,21.5
m1,2,1700000001000,21.7
m1,3,1700000002000,21.9
m2,9,1700000002500,18.0
`
	r := csvio.NewReader(strings.NewReader(in), csvio.Mapping{})
	fr := csvio.NewFramer(60, false, func(f *codec.Frame) error {
		fmt.Printf("%s seq %d: %d samples %v\n", f.Device, f.Seq, f.Samples(), f.Values)
		return nil
	})
	for r.Next() {
		if err := fr.Add(r.Row()); err != nil {
			fmt.Println(err)
		}
	}
	if err := fr.Flush(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(r.Err())
	// Output:
	// m1 seq 1: 3 samples [21.5 21.7 21.9]
	// m2 seq 9: 1 samples [18.0]
	// <nil>
}

// Errors say where: line, column and the offending field.
func ExampleReader_errors() {
	r := csvio.NewReader(strings.NewReader("device,seq,unix_ms,t\nm1,1,,21.5\nm1,2,,21,7\n"), csvio.Mapping{})
	for r.Next() {
	}
	fmt.Println(r.Err())
	// Output:
	// csv line 3: 5 fields, the header has 4
}
