package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

func TestParseFormat_Success(t *testing.T) {
	f := func(s string, want Format) {
		t.Helper()
		got, err := ParseFormat(s)
		if err != nil || got != want {
			t.Fatalf("ParseFormat(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	f("text", Text)
	f("json", JSON)
}

func TestParseFormat_Failure(t *testing.T) {
	f := func(s string) {
		t.Helper()
		if got, err := ParseFormat(s); err == nil || !strings.Contains(err.Error(), "want text or json") {
			t.Fatalf("ParseFormat(%q) = %q, %v; want an error", s, got, err)
		}
	}
	f("")
	f("JSON")
	f("logfmt")
	f("json ")
}

type point struct {
	X, Y int
}

// codecID has its own name, as the codecs do, and fields that are not it.
type codecID struct{ Format, Compression int }

func (c codecID) String() string { return "compact+zstd" }

// logOne writes one record with a map, a nested map, an empty map, a
// struct, a slice, an error and an address in format.
func logOne(format Format) string {
	var b bytes.Buffer
	log := New(&b, format, slog.LevelInfo)
	log.Debug("hidden")
	log.Info("load: done",
		"connect_failures", map[string]uint64{"timeout": 2, "refused": 3},
		"by_node", map[string]map[string]int{"n1": {"lost": 1}},
		"empty", map[string]int{},
		"at", point{1, 2},
		"targets", []string{"a", "b"},
		"err", errors.New("boom"),
		"addr", netip.MustParseAddrPort("127.0.0.1:7070"),
		"codec", codecID{3, 1},
		"n", 7)
	return b.String()
}

func TestTextObjects(t *testing.T) {
	got := logOne(Text)
	want := `level=INFO msg="load: done" connect_failures.refused=3 connect_failures.timeout=2 by_node.n1.lost=1 empty={} ` +
		`at="{\"X\":1,\"Y\":2}" targets="[\"a\",\"b\"]" err=boom addr=127.0.0.1:7070 codec=compact+zstd n=7` + "\n"
	// Drop the time=... field.
	if _, rest, ok := strings.Cut(got, " "); !ok || rest != want {
		t.Fatalf("text:\n%s\nwant (after time=...):\n%s", got, want)
	}
	if strings.Contains(got, "map[") {
		t.Fatalf("text has Go's map syntax: %s", got)
	}
}

func TestJSONObjects(t *testing.T) {
	got := logOne(JSON)
	if strings.Count(got, "\n") != 1 {
		t.Fatalf("want one line, got %q", got)
	}
	var rec struct {
		Level, Msg      string
		ConnectFailures map[string]uint64         `json:"connect_failures"`
		ByNode          map[string]map[string]int `json:"by_node"`
		Empty           map[string]int            `json:"empty"`
		At              point                     `json:"at"`
		Targets         []string                  `json:"targets"`
		Err, Addr       string
		Codec           string
		N               int
	}
	if err := json.Unmarshal([]byte(got), &rec); err != nil {
		t.Fatalf("not a JSON object of the expected shape: %v\n%s", err, got)
	}
	if rec.Level != "INFO" || rec.Msg != "load: done" || rec.ConnectFailures["refused"] != 3 || rec.ConnectFailures["timeout"] != 2 ||
		rec.ByNode["n1"]["lost"] != 1 || rec.Empty == nil || rec.At != (point{1, 2}) || len(rec.Targets) != 2 ||
		rec.Err != "boom" || rec.Addr != "127.0.0.1:7070" || rec.Codec != "compact+zstd" || rec.N != 7 {
		t.Fatalf("json record: %+v\n%s", rec, got)
	}
}
