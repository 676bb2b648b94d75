package csvio

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetwire/fleetwire/codec"
)

// rowString renders a row as "line:device,seq,time,v1,v2".
func rowString(r *Row) string {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(r.Line) + ":" + string(r.Device) + ",")
	if r.HasSeq {
		sb.WriteString(strconv.FormatUint(r.Seq, 10))
	}
	sb.WriteString(",")
	if r.HasTime {
		sb.WriteString(strconv.FormatInt(r.Time, 10))
	}
	for _, v := range r.Values {
		sb.WriteString("," + v.String())
	}
	return sb.String()
}

func readAll(in string, m Mapping) ([]string, []string, error) {
	r := NewReader(strings.NewReader(in), m)
	var rows []string
	for r.Next() {
		rows = append(rows, rowString(r.Row()))
	}
	return r.Channels(), rows, r.Err()
}

func TestReader_Success(t *testing.T) {
	f := func(m Mapping, in, wantNames string, want ...string) {
		t.Helper()
		names, rows, err := readAll(in, m)
		if err != nil {
			t.Fatalf("read %q: %v", in, err)
		}
		if got := strings.Join(names, ","); got != wantNames {
			t.Fatalf("read %q: channels %q, want %q", in, got, wantNames)
		}
		if strings.Join(rows, "|") != strings.Join(want, "|") {
			t.Fatalf("read %q:\n got  %q\n want %q", in, rows, want)
		}
	}
	var interchange Mapping
	f(interchange, "device,seq,unix_ms,t,h\nm1,42,1700000000000,21.50,40\n", "t,h", "2:m1,42,1700000000000,21.50,40")
	// Empty fields: no device, no seq, no time.
	f(interchange, "device,seq,unix_ms,t\n,,,1\nm1,,5,2\nm1,7,,3\n", "t", "2:,,,1", "3:m1,,5,2", "4:m1,7,,3")
	// Header only, with or without channels: an empty recording.
	f(interchange, "device,seq,unix_ms,a,b\n", "a,b")
	f(interchange, "device,seq,unix_ms\n", "")
	// CRLF, blank lines, BOM, spaces and quotes around fields.
	f(interchange, "\xef\xbb\xbfdevice,seq,unix_ms,\"a\"\r\n\r\n m1 ,1, -5 ,\"0.10\"\r\n", "a", "3:m1,1,-5,0.10")
	// Interchange columns in any order; missing ones are simply absent.
	f(interchange, "a,unix_ms,b\n1,2,3\n", "a,b", "2:,,2,1,3")
	// Values as printed: scale, negative zero, long decimals, floats.
	f(interchange, "v\n30.20\n-0.00\n0.123456789012345678\n1e3\n", "v", "2:,,,30.20", "3:,,,-0.00", "4:,,,0.123456789012345678", "5:,,,1000")
	// Foreign CSV: multihop.csv's layout.
	multihop := Mapping{DeviceCol: "mote_id", SeqCol: "reading", Columns: []string{"humidity", "temperature"}}
	f(multihop, "reading,mote_id,indoor,humidity,temperature,label\n1,1,0,43.82,30.21,0\n2,1,0,43.79,30.2,0\n",
		"humidity,temperature", "2:1,1,,43.82,30.21", "3:1,2,,43.79,30.2")
	// Columns pick and reorder channels.
	f(Mapping{Columns: []string{"b", "a"}}, "a,b,c\n1,2,x\n", "b,a", "2:,,,2,1")
	// A constant device for rows without one; None ignores a column.
	f(Mapping{Device: "gw-1"}, "device,v\n,1\nm2,2\n", "v", "2:gw-1,,,1", "3:m2,,,2")
	f(Mapping{DeviceCol: None, SeqCol: None}, "device,seq,v\n1,2,3\n", "device,seq,v", "2:,,,1,2,3")
}

func TestReader_Failure(t *testing.T) {
	f := func(m Mapping, in string, wantErr string, wantReason codec.Reason) {
		t.Helper()
		_, _, err := readAll(in, m)
		if err == nil {
			t.Fatalf("read %q: no error, want %q", in, wantErr)
		}
		if err.Error() != wantErr {
			t.Fatalf("read %q:\n got  %q\n want %q", in, err.Error(), wantErr)
		}
		if wantReason != codec.ReasonNone {
			if !errors.Is(err, &codec.Error{Reason: wantReason}) {
				t.Fatalf("read %q: %v is not %s", in, err, wantReason)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("read %q: %T is not a *ParseError", in, err)
			}
		}
	}
	var ic Mapping
	f(ic, "", "csv: empty input, want a header line", 0)
	f(ic, "device,seq,unix_ms\nm1,1,2\n", `csv line 2: a row, but no channel columns in header ["device" "seq" "unix_ms"]`, 0)
	f(ic, "device,seq,unix_ms,v\nm1,1,2\n", "csv line 2: 3 fields, the header has 4", codec.ReasonBadSyntax)
	f(ic, "device,seq,unix_ms,v\nm1,1,2,3,4\n", "csv line 2: 5 fields, the header has 4", codec.ReasonBadSyntax)
	f(ic, "device,seq,unix_ms,v\nm1,1,2,\n", `csv line 2, column "v": empty value`, codec.ReasonBadNumber)
	f(ic, "device,seq,unix_ms,v\nm1,1,2,3o.2\n", `csv line 2, column "v": not a finite decimal number: "3o.2"`, codec.ReasonBadNumber)
	f(ic, "v\n1\n\nNaN\n", `csv line 4, column "v": not a finite decimal number: "NaN"`, codec.ReasonNonFinite)
	f(ic, "v\n1e999\n", `csv line 2, column "v": not a finite decimal number: "1e999"`, codec.ReasonNonFinite)
	f(ic, "device,seq,unix_ms,v\nm1,-1,2,3\n", `csv line 2, column "seq": seq must be an unsigned integer: "-1"`, codec.ReasonBadNumber)
	f(ic, "device,seq,unix_ms,v\nm1,1,2.5,3\n", `csv line 2, column "unix_ms": unix_ms must be an integer number of milliseconds: "2.5"`, codec.ReasonBadNumber)
	f(ic, "device,v\nm 1,3\n", `csv line 2, column "device": device id must be 1-64 bytes of [A-Za-z0-9._-]: "m 1"`, codec.ReasonBadID)
	f(ic, "device,v\n"+strings.Repeat("d", 65)+",3\n", `csv line 2, column "device": device id must be 1-64 bytes of [A-Za-z0-9._-]: "`+strings.Repeat("d", 64)+`"`, codec.ReasonBadID)
	f(Mapping{DeviceCol: "mote"}, "mote_id,v\n1,2\n", `csv line 1: no device column "mote" in header ["mote_id" "v"]`, 0)
	f(Mapping{SeqCol: "n"}, "v\n1\n", `csv line 1: no seq column "n" in header ["v"]`, 0)
	f(Mapping{Columns: []string{"humidity"}}, "v\n1\n", `csv line 1: no channel column "humidity" in header ["v"]`, 0)
	f(Mapping{Columns: []string{"v"}}, "v,v\n1,2\n", `csv line 1: column "v" appears twice in the header`, 0)
	f(Mapping{Device: "a b"}, "v\n1\n", `csv: device "a b": want 1-64 bytes of [A-Za-z0-9._-]`, 0)
	f(ic, ",a\n0,1\n", "csv line 1: column 1 has no name; name the channel columns with a Mapping (--columns)", 0)
	f(ic, strings.Repeat("c,", 64)+"c\n", "csv line 1: 65 channel columns, at most 64 allowed", 0)
	f(ic, "v\n"+strings.Repeat("1", MaxLine+1)+"\n", "csv line 2: longer than 1048576 bytes", 0)
}
