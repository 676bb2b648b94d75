package loadgen

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/codec/csvio"
)

// loadReplay reads a recording: one template per recorded device, samples
// in sequence order when the CSV has a sequence column, in file order
// otherwise. Values keep the decimals the recording printed.
func loadReplay(path string, m ReplayMapping) (*replaySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	r := csvio.NewReader(f, csvio.Mapping{DeviceCol: m.DeviceCol, SeqCol: m.SeqCol, Columns: m.Columns, Device: "recorded"})
	if err := r.ReadHeader(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	set := &replaySet{channels: slices.Clone(r.Channels())}
	type rec struct {
		seq    uint64
		values []codec.Value
	}
	byDev := map[string]int{}
	var rows [][]rec
	for r.Next() {
		row := r.Row()
		i, ok := byDev[string(row.Device)]
		if !ok {
			i = len(set.templates)
			byDev[string(row.Device)] = i
			set.templates = append(set.templates, template{name: string(row.Device)})
			rows = append(rows, nil)
		}
		seq := uint64(len(rows[i]))
		if row.HasSeq {
			seq = row.Seq
		}
		rows[i] = append(rows[i], rec{seq, slices.Clone(row.Values)})
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	if len(set.channels) == 0 || len(set.templates) == 0 {
		return nil, fmt.Errorf("replay %s: no channels or no rows (columns: %s)", path, strings.Join(r.Header(), ","))
	}
	for i, rs := range rows {
		slices.SortStableFunc(rs, func(a, b rec) int {
			switch {
			case a.seq < b.seq:
				return -1
			case a.seq > b.seq:
				return 1
			}
			return 0
		})
		t := &set.templates[i]
		t.samples = len(rs)
		t.values = make([]codec.Value, 0, len(rs)*len(set.channels))
		for _, r := range rs {
			t.values = append(t.values, r.values...)
		}
	}
	return set, nil
}
