package compress

import (
	"embed"
	"fmt"
	"sync"

	"github.com/fleetwire/fleetwire/codec"
)

// The default dictionaries, trained on the multihop sensor data set (see
// dicts/README.md). Regenerate them with
//
//	go test ./codec/compress -run TestGenerateDicts -update-dicts
//
// which must reproduce these exact files; a dictionary whose bytes change
// needs a new id, because frames carry only the id.
//
//go:generate go test -run TestGenerateDicts -update-dicts
//go:embed dicts/*.zdict
var dictFiles embed.FS

// DefaultDictSize is the history size of the default dictionaries: on the
// held-out data 16 KiB beat 2-8 KiB by 0.3-1.3 B/reading at batch 1 and
// 32 KiB gained under 0.3 more.
const DefaultDictSize = 16 << 10

// defaultDicts lists the embedded dictionaries. IDs are stable: never
// reuse one for other bytes (SHA-256 pins them in the tests).
var defaultDicts = []struct {
	id     uint32
	format codec.Format
	file   string
	sha256 string
}{
	{1, codec.FormatText, "dicts/text.zdict", "d31e892b4255a59d5a081c2e06c3e37211bd009d50e50e4a81d8d65c4c9f1c45"},
	{2, codec.FormatBinary, "dicts/binary.zdict", "25845472753423201643bff37080a63fc2046d680cc363339a7a05ef24d68821"},
	{3, codec.FormatCompact, "dicts/compact.zdict", "12303d60b80ff5458a5ea43d36e4efe4588e73ab110db1ac3b37779eb78b8672"},
}

// DefaultDicts returns the embedded dictionaries, for a Compressor that
// adds its own to them.
func DefaultDicts() []Dict {
	var ds []Dict
	for _, d := range defaultDicts {
		b, err := dictFiles.ReadFile(d.file)
		if err != nil {
			continue // not generated yet
		}
		ds = append(ds, Dict{ID: d.id, Format: d.format, Data: b})
	}
	return ds
}

var defaultCompressor = sync.OnceValue(func() *Compressor {
	c, err := New(Options{Dicts: DefaultDicts()})
	if err != nil {
		// The embedded dictionaries are part of the binary: the tests load them.
		panic(fmt.Sprintf("compress: default dictionaries: %v", err))
	}
	return c
})

// Default returns the process-wide Compressor with the default options and
// the embedded dictionaries, built on first use.
func Default() *Compressor { return defaultCompressor() }
