package sink

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStatsJSONRoundTrip(t *testing.T) {
	in := Stats{
		Accepted: 1, Stored: 2, Synced: 3, Pending: 4, Frames: 5, RawBytes: 6, Bytes: 7, Segments: 8,
		QueueChunks: 9, QueueHighWater: 10, QueueBytes: 11, WriteErrors: 12, Recovered: 13, RecoveredTrunc: 14,
		Checkpoints: 24, CheckpointErrors: 25, ReplayDamaged: 26,
		Refused:         ByReason{15, 16, 17, 18},
		RefusedReadings: ByReason{19, 20, 21, 22},
		Dropped:         ByReason{0, 0, 1 << 63, 23},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Stats
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal %s: %s", b, err)
	}
	if out != in {
		t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, out, in)
	}
}

func TestByReasonUnmarshal_Success(t *testing.T) {
	f := func(start ByReason, data string, want ByReason) {
		t.Helper()
		got := start
		if err := json.Unmarshal([]byte(data), &got); err != nil {
			t.Fatalf("%s: %s", data, err)
		}
		if got != want {
			t.Fatalf("%s over %v: got %v, want %v", data, start, got, want)
		}
	}
	f(ByReason{}, `{"queue_full":1,"closed":2,"write_error":3,"discarded_by_config":4}`, ByReason{1, 2, 3, 4})
	// Absent names are zero, not what the value held before.
	f(ByReason{9, 9, 9, 9}, `{"closed":2}`, ByReason{0, 2, 0, 0})
	f(ByReason{9, 9, 9, 9}, `{}`, ByReason{})
	// A reason a newer node counts is skipped.
	f(ByReason{}, `{"write_error":5,"reason_from_the_future":7}`, ByReason{0, 0, 5, 0})
	f(ByReason{}, `{"queue_full":18446744073709551615}`, ByReason{^uint64(0), 0, 0, 0})
	f(ByReason{1, 2, 3, 4}, `null`, ByReason{1, 2, 3, 4})
}

func TestByReasonUnmarshal_Failure(t *testing.T) {
	f := func(data string) {
		t.Helper()
		for range 2 { // the same value twice: a failure leaves nothing half-set that breaks the next
			var b ByReason
			err := json.Unmarshal([]byte(data), &b)
			if err == nil {
				t.Fatalf("%s: no error, got %v", data, b)
			}
			if !strings.Contains(err.Error(), "counts by reason") {
				t.Fatalf("%s: error %q does not say what failed", data, err)
			}
			if b != (ByReason{}) {
				t.Fatalf("%s: error left %v", data, b)
			}
		}
	}
	f(`[1,2,3,4]`)
	f(`{"queue_full":-1}`)
	f(`{"queue_full":1.5}`)
	f(`{"queue_full":"1"}`)
	f(`{"queue_full":18446744073709551616}`)
	f(`7`)
	f(`"queue_full"`)
}
