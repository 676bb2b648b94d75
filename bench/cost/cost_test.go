package cost

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/text"
)

// textEncoder is the text codec without the wire dispatcher, so these
// tests check the cost model against frames whose bytes are known.
type textEncoder struct{}

func (textEncoder) Append(dst []byte, f *codec.Frame) []byte { return text.Append(dst, f, '\n') }
func (textEncoder) Codec() codec.Codec                       { return codec.Codec{Format: codec.FormatText} }

func run(t *testing.T, csv string, batches ...int) *Report {
	t.Helper()
	rep, err := Run(strings.NewReader(csv), Options{Batches: batches, Encoders: []Encoder{textEncoder{}}, References: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func find(t *testing.T, rep *Report, name string, batch int) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Name == name && r.Batch == batch {
			return r
		}
	}
	t.Fatalf("no row %s batch %d in %+v", name, batch, rep.Results)
	return Result{}
}

func TestTransportModel(t *testing.T) {
	f := func(got, want int64) {
		t.Helper()
		if got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	}
	f(int64(UDPWire(11)), 11+28)
	f(int64(UDPWire(1472)), 1500)              // the largest unfragmented datagram
	f(int64(UDPWire(1473)), 1473+8+2*20)       // 1481 B of UDP datagram: two fragments
	f(int64(UDPWire(1480*2-8)), 1480*2+2*20)   // two full fragments
	f(int64(UDPWire(1480*2-7)), 1480*2+1+3*20) // one byte more: a third
	f(TCPExchange(11, 0, false), 11+52+52)     // one segment, one delayed ACK
	f(TCPExchange(1448, 0, false), 1448+2*52)
	f(TCPExchange(1449, 0, false), 1449+3*52)     // two segments, one ACK
	f(TCPExchange(3*1448, 0, false), 3*1448+5*52) // three segments, two ACKs
	f(TCPExchange(22, 4, false), 26+3*52)         // MQTT QoS 1: PUBLISH, PUBACK on the ACK, ACK of the PUBACK
	f(TCPExchange(10*1448, 40, true), 10*1448+40+(10+5+1)*52)
	f(TCPExchange(0, 0, false), 0)
}

func TestMQTTLen(t *testing.T) {
	f := func(topic, payload, qos, want int) {
		t.Helper()
		if got := MQTTPublishLen(topic, payload, qos); got != want {
			t.Fatalf("MQTTPublishLen(%d, %d, %d) = %d, want %d", topic, payload, qos, got, want)
		}
	}
	f(8, 8, 0, 1+1+2+8+8)            // fixed header, 1-byte remaining length, topic, payload
	f(8, 8, 1, 1+1+2+8+2+8)          // + packet identifier
	f(8, 117, 0, 1+1+127)            // remaining length 127: one byte
	f(8, 118, 0, 1+2+128)            // 128: two bytes (§2.2.3)
	f(8, 16384-10, 0, 1+3+16384)     // 16384: three bytes
	f(8, 2097152-10, 0, 1+4+2097152) // four
}

// TestRun_OneReading: one reading of one device, every figure by hand.
//
//	text frame   "m1;42;21.5\n"                    11 B
//	  udp        11 + 28                           39
//	  tcp        11 + 52 data segment + 52 ACK     115 (a stream of one frame: the same)
//	mqtt qos0    topic "fleet/m1" (8), payload ";42;21.5" (8):
//	             remaining length 2+8+8 = 18, packet 1+1+18 = 20; tcp 20+104 = 124
//	mqtt qos1    remaining length 20, packet 22, + PUBACK 4 = 26 payload;
//	             tcp 26 + 52 (PUBLISH) + 52 (PUBACK on the ACK) + 52 (ACK of the PUBACK) = 182
//	senml json   [{"bn":"m1/t","v":21.5}]          24 B; udp 52, tcp 128
//	senml cbor   81 A2 21 64 "m1/t" 02 F9 4D60     12 B (21.5 is exact in float16: 3 bytes
//	             beat tag 4 [-1, 215]: 5 bytes); udp 40, tcp 116
func TestRun_OneReading(t *testing.T) {
	rep := run(t, "device,seq,unix_ms,t\nm1,42,,21.5\n", 1)
	if rep.Samples != 1 || rep.Readings != 1 || rep.Devices != 1 {
		t.Fatalf("counts %+v", rep)
	}
	f := func(name string, payload, udp, tcp, stream int64) {
		t.Helper()
		r := find(t, rep, name, 1)
		if r.Frames != 1 || r.Payload != payload || r.UDP != udp || r.TCP != tcp || r.TCPStream != stream {
			t.Fatalf("%s: got %+v, want payload %d udp %d tcp %d stream %d", name, r, payload, udp, tcp, stream)
		}
	}
	f("text", 11, 39, 115, 115)
	f(RefMQTT0, 20, -1, 124, 124)
	f(RefMQTT1, 26, -1, 182, 182)
	f(RefSenMLJSON, 24, 52, 128, 128)
	f(RefSenMLCBOR, 12, 40, 116, 116)
}

func TestSenML(t *testing.T) {
	frame := codec.Frame{Device: []byte("m1"), Seq: 1, Flags: codec.HasSeq | codec.HasTime, Channels: 2,
		Times:  []int64{1700000000000, 1700000001500},
		Values: []codec.Value{codec.Decimal(215, 1), codec.Decimal(40, 0), codec.Decimal(2160, 2), codec.Decimal(-1, 0)}}
	names := []string{"a", "b"}
	js := string(SenMLJSON(nil, &frame, names))
	want := `[{"bn":"m1/","bt":1700000000,"n":"a","v":21.5},{"n":"b","v":40},{"n":"a","v":21.60,"t":1.5},{"n":"b","v":-1,"t":1.5}]`
	if js != want {
		t.Fatalf("SenML JSON\n got  %s\n want %s", js, want)
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(js), &recs); err != nil || len(recs) != 4 {
		t.Fatalf("not JSON: %v", err)
	}

	enc, err := NewSenMLCBOR()
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Append(nil, &frame, names)
	if err != nil {
		t.Fatal(err)
	}
	// 84                      array(4)
	// A4 21 63 6D312F         {-2: "m1/",
	//    22 1A 6553F100       -3: 1700000000,
	//    00 61 61             0: "a",
	//    02 F9 4D60           2: 21.5 (float16)}
	// A2 00 61 62 02 18 28    {0: "b", 2: 40}
	// A3 00 61 61             {0: "a",
	//    02 C4 82 21 19 0870  2: 4(-2, 2160): 21.60 is no float16/32; tag 4 (6 B) beats float64 (9 B)
	//    06 F9 3E00           6: 1.5}
	// A3 00 61 62 02 20 06 F93E00   {0: "b", 2: -1, 6: 1.5}
	wantHex := "84" + "a421636d312f221a6553f100006161" + "02f94d60" + "a2006162021828" +
		"a3006161" + "02c48221190870" + "06f93e00" + "a30061620220" + "06f93e00"
	if got := hex.EncodeToString(b); got != wantHex {
		t.Fatalf("SenML CBOR\n got  %s\n want %s", got, wantHex)
	}
	var back []map[int]any
	if err := cbor.Unmarshal(b, &back); err != nil || len(back) != 4 || back[0][-2] != "m1/" {
		t.Fatalf("CBOR does not decode: %v %v", err, back)
	}

	// Without times: the last sample is "now", the others one second
	// apart before it.
	frame.Flags = codec.HasSeq
	js = string(SenMLJSON(nil, &frame, names))
	want = `[{"bn":"m1/","bt":-1,"n":"a","v":21.5},{"n":"b","v":40},{"n":"a","v":21.60,"t":1},{"n":"b","v":-1,"t":1}]`
	if js != want {
		t.Fatalf("SenML JSON without times\n got  %s\n want %s", js, want)
	}
}

func TestRun_BatchingPerDevice(t *testing.T) {
	// Two devices interleaved: per device, each batches its own samples.
	csv := "device,seq,unix_ms,v\na,1,,1\nb,1,,2\na,2,,3\nb,2,,4\na,3,,5\n"
	rep := run(t, csv, 1, 2, 600)
	f := func(batch int, frames, payload int64) {
		t.Helper()
		r := find(t, rep, "text", batch)
		if r.Frames != frames || r.Payload != payload {
			t.Fatalf("batch %d: %+v, want %d frames, %d B", batch, r, frames, payload)
		}
	}
	f(1, 5, int64(5*len("a;1;1\n")))
	f(2, 3, int64(len("a;1;1,3\n")+len("b;1;2,4\n")+len("a;3;5\n")))
	f(600, 2, int64(len("a;1;1,3,5\n")+len("b;1;2,4\n")))
	// The stream model sums per device connection.
	r := find(t, rep, "text", 1)
	if want := TCPExchange(18, 0, true) + TCPExchange(12, 0, true); r.TCPStream != want {
		t.Fatalf("tcp-stream %d, want %d", r.TCPStream, want)
	}
}

func TestReport_Write(t *testing.T) {
	rep := run(t, "device,seq,unix_ms,t\nm1,42,,21.5\n", 1)
	var b bytes.Buffer
	if err := rep.Write(&b, FormatTable); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 samples, 1 readings, 1 devices, channels t", "text", "11.000  39.000  115.000", "mqtt-qos0 (ref)", "tcp-stream"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := rep.Write(&b, FormatCSV); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[1], "text,false,1,1,1,11.000,39.000,115.000,115.000,11,39,115,115") ||
		!strings.HasPrefix(lines[2], "mqtt-qos0,true,1,1,1,20.000,,124.000") {
		t.Fatalf("csv:\n%s", b.String())
	}
	b.Reset()
	if err := rep.Write(&b, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Readings int
		Results  []struct {
			Name          string
			UDPBytes      *int64   `json:"udp_bytes"`
			UDPPerReading *float64 `json:"udp_per_reading"`
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || got.Readings != 1 || len(got.Results) != 5 ||
		*got.Results[0].UDPBytes != 39 || got.Results[1].UDPBytes != nil {
		t.Fatalf("json: %v\n%s", err, b.String())
	}
	if err := rep.Write(&b, "xml"); err == nil {
		t.Fatal("unknown format must fail")
	}
}
