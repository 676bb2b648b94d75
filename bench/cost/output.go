package cost

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Formats of WriteTo.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// Write writes the report in format: an aligned table with the model
// under it, CSV (one row per Result, bytes per reading and totals), or
// JSON (the Report).
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatTable, "":
		return r.writeTable(w)
	case FormatCSV:
		return r.writeCSV(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r.jsonReport())
	}
	return fmt.Errorf("unknown format %q: want table, csv or json", format)
}

func (r *Report) perReadingCells(res *Result) []string {
	f := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return strconv.FormatFloat(r.PerReading(n), 'f', 3, 64)
	}
	return []string{f(res.Payload), f(res.UDP), f(res.TCP), f(res.TCPStream)}
}

func (r *Report) writeTable(w io.Writer) error {
	head := []string{"codec", "batch", "frames", "payload", "udp", "tcp", "tcp-stream"}
	rows := [][]string{head}
	prev := ""
	for i := range r.Results {
		res := &r.Results[i]
		name := res.Name
		if res.Reference {
			name += " (ref)"
		}
		if name == prev {
			name = "" // the codec once per group
		} else {
			prev = name
		}
		row := append([]string{name, strconv.Itoa(res.Batch), strconv.FormatInt(res.Frames, 10)}, r.perReadingCells(res)...)
		rows = append(rows, row)
	}
	widths := make([]int, len(head))
	for _, row := range rows {
		for c, cell := range row {
			widths[c] = max(widths[c], len(cell))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d samples, %d readings, %d devices, channels %s. Bytes per reading:\n\n",
		r.Samples, r.Readings, r.Devices, strings.Join(r.Channels, ","))
	for i, row := range rows {
		for c, cell := range row {
			if c > 0 {
				sb.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[c]-len(cell))
			if c == 0 {
				sb.WriteString(cell + pad) // names left, numbers right
			} else {
				sb.WriteString(pad + cell)
			}
		}
		sb.WriteString("\n")
		if i == 0 {
			for c, wd := range widths {
				if c > 0 {
					sb.WriteString("  ")
				}
				sb.WriteString(strings.Repeat("-", wd))
			}
			sb.WriteString("\n")
		}
	}
	sb.WriteString("\n" + r.Model + "\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"codec", "reference", "batch", "frames", "readings",
		"payload_per_reading", "udp_per_reading", "tcp_per_reading", "tcp_stream_per_reading",
		"payload_bytes", "udp_bytes", "tcp_bytes", "tcp_stream_bytes"})
	for i := range r.Results {
		res := &r.Results[i]
		per := r.perReadingCells(res)
		for j := range per {
			if per[j] == "-" {
				per[j] = ""
			}
		}
		udp := strconv.FormatInt(res.UDP, 10)
		if res.UDP < 0 {
			udp = ""
		}
		row := []string{res.Name, strconv.FormatBool(res.Reference), strconv.Itoa(res.Batch),
			strconv.FormatInt(res.Frames, 10), strconv.FormatInt(r.Readings, 10)}
		row = append(row, per...)
		row = append(row, strconv.FormatInt(res.Payload, 10), udp,
			strconv.FormatInt(res.TCP, 10), strconv.FormatInt(res.TCPStream, 10))
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// jsonResult is a Result with its per-reading figures; a protocol without
// a UDP mapping has null UDP fields.
type jsonResult struct {
	Result
	UDP                 *int64   `json:"udp_bytes"`
	PayloadPerReading   float64  `json:"payload_per_reading"`
	UDPPerReading       *float64 `json:"udp_per_reading"`
	TCPPerReading       float64  `json:"tcp_per_reading"`
	TCPStreamPerReading float64  `json:"tcp_stream_per_reading"`
}

func (r *Report) jsonReport() any {
	type report struct {
		*Report
		Results []jsonResult `json:"results"`
	}
	out := report{Report: r}
	for _, res := range r.Results {
		j := jsonResult{Result: res, PayloadPerReading: r.PerReading(res.Payload),
			TCPPerReading: r.PerReading(res.TCP), TCPStreamPerReading: r.PerReading(res.TCPStream)}
		if res.UDP >= 0 {
			udp, per := res.UDP, r.PerReading(res.UDP)
			j.UDP, j.UDPPerReading = &udp, &per
		}
		out.Results = append(out.Results, j)
	}
	return out
}
