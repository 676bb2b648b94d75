// Package logging builds the process's slog logger from --log-level and
// --log-format: logfmt-like text for people, JSON lines for collectors
// (journald's JSON export, Loki, Vector). In both, a map or a struct is
// logged as an object, never as Go's map[k:v] or {Field:v}.
package logging

import (
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
)

// Format is how records are written: Text or JSON.
type Format string

const (
	Text Format = "text" // key=value pairs (slog.TextHandler); maps as key.sub=value
	JSON Format = "json" // one JSON object per line (slog.JSONHandler)
)

// ParseFormat accepts exactly "text" or "json".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Text, JSON:
		return f, nil
	}
	return "", fmt.Errorf("%q: want text or json", s)
}

// New returns a logger writing records at level and above to w in format.
//
// The JSON handler already writes maps and structs as objects; a value
// with a String method (a codec, a transport) is written as that string,
// as the text handler writes it, not as its Go fields. The text
// handler would write them with fmt ("map[refused:3]"), so there a
// non-empty map becomes a group, one key=value per entry in key order
// ("connect_failures.refused=3", nested maps nest), an empty map "{}",
// and a struct or a slice its JSON encoding. Values that are errors,
// fmt.Stringers or encoding.TextMarshalers keep their own text.
func New(w io.Writer, format Format, level slog.Leveler) *slog.Logger {
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonValue}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: textValue}))
}

// jsonValue is the JSON handler's ReplaceAttr: a fmt.Stringer that does
// not marshal itself is its String(), not an object of its fields.
func jsonValue(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case json.Marshaler, encoding.TextMarshaler, error:
		return a
	case fmt.Stringer:
		return slog.String(a.Key, v.String())
	}
	return a
}

// textValue is the text handler's ReplaceAttr: it sees every attribute
// but groups (which it is called on the members of), values resolved.
func textValue(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	v := a.Value.Any()
	switch v.(type) {
	case nil, error, fmt.Stringer, encoding.TextMarshaler, []byte:
		return a
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map:
		if rv.Len() == 0 {
			return slog.String(a.Key, "{}")
		}
		attrs := make([]slog.Attr, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			// Members are passed to textValue again: nested maps nest.
			attrs = append(attrs, slog.Any(fmt.Sprint(it.Key().Interface()), it.Value().Interface()))
		}
		slices.SortFunc(attrs, func(x, y slog.Attr) int { return strings.Compare(x.Key, y.Key) })
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(attrs...)}
	case reflect.Struct, reflect.Slice, reflect.Array:
		b, err := json.Marshal(v)
		if err != nil {
			return slog.String(a.Key, fmt.Sprintf("!ERROR: %v", err))
		}
		return slog.String(a.Key, string(b))
	}
	return a
}
