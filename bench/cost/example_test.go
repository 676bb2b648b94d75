package cost_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/fleetwire/fleetwire/bench/cost"
	"github.com/fleetwire/fleetwire/codec"
)

// One reading in an MQTT 3.1.1 PUBLISH: topic "fleet/m1", payload
// ";42;21.5" (the text frame without device and END).
func ExampleMQTTPublishLen() {
	fmt.Println(cost.MQTTPublishLen(len(cost.MQTTTopic([]byte("m1"))), len(";42;21.5"), 0))
	fmt.Println(cost.MQTTPublishLen(len(cost.MQTTTopic([]byte("m1"))), len(";42;21.5"), 1))
	// Output:
	// 20
	// 22
}

// A frame of two samples of two channels as a SenML JSON pack.
func ExampleSenMLJSON() {
	f := codec.Frame{Device: []byte("mote-3"), Flags: codec.HasTime, Channels: 2,
		Times:  []int64{1700000000000, 1700000030000},
		Values: []codec.Value{codec.Decimal(4382, 2), codec.Decimal(3021, 2), codec.Decimal(4379, 2), codec.Decimal(302, 1)}}
	fmt.Println(string(cost.SenMLJSON(nil, &f, []string{"humidity", "temperature"})))
	// Output:
	// [{"bn":"mote-3/","bt":1700000000,"n":"humidity","v":43.82},{"n":"temperature","v":30.21},{"n":"humidity","v":43.79,"t":30},{"n":"temperature","v":30.2,"t":30}]
}

// What the transport model charges for one 11-byte frame.
func ExampleUDPWire() {
	fmt.Println(cost.UDPWire(11), cost.TCPExchange(11, 0, false))
	// Output: 39 115
}

// Run on a tiny recording, with the codecs of your choice (here none: the
// reference rows alone), printed as CSV.
func ExampleRun() {
	csv := "device,seq,unix_ms,t\nm1,42,,21.5\n"
	rep, err := cost.Run(strings.NewReader(csv), cost.Options{Batches: []int{1}, References: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rep.Write(os.Stdout, cost.FormatCSV); err != nil {
		fmt.Println(err)
	}
	// Output:
	// codec,reference,batch,frames,readings,payload_per_reading,udp_per_reading,tcp_per_reading,tcp_stream_per_reading,payload_bytes,udp_bytes,tcp_bytes,tcp_stream_bytes
	// mqtt-qos0,true,1,1,1,20.000,,124.000,124.000,20,,124,124
	// mqtt-qos1,true,1,1,1,26.000,,182.000,182.000,26,,182,182
	// senml-json,true,1,1,1,24.000,52.000,128.000,128.000,24,52,128,128
	// senml-cbor,true,1,1,1,12.000,40.000,116.000,116.000,12,40,116,116
}
