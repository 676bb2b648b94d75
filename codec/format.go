package codec

import (
	"fmt"
	"strings"
)

// Format names a wire format. The first byte of every frame says which one
// it is (see FormatOf), so a receiver needs no negotiation: it can tell
// formats apart per connection, per datagram, even per frame.
type Format uint8

// Formats.
const (
	FormatUnknown  Format = iota
	FormatText            // delimiter text, first byte ASCII (0x00-0x7f), '#' lines are control
	FormatBinary          // fixed-layout binary, first byte MagicBinary
	FormatCompact         // delta + bit-packed batches, first byte MagicCompact
	FormatControl         // hello / end-of-stream / command / ack, '#' text or MagicControl
	FormatZstd            // zstd-wrapped frames, MagicZstd
	FormatZstdDict        // zstd with a trained dictionary, MagicZstdDict
	FormatS2              // s2-wrapped frames, MagicS2
	NumFormats
)

// First bytes of the binary families. Text never uses a byte >= 0x80, so
// these can never be mistaken for the start of a text line. The low nibble
// is the version.
const (
	MagicControl  byte = 0xA1
	MagicBinary   byte = 0xB1
	MagicCompact  byte = 0xC1
	MagicZstd     byte = 0xD1
	MagicZstdDict byte = 0xD2
	MagicS2       byte = 0xD3

	// ControlPrefix starts a text control line: "#hello", "#eos", "#cmd", "#ack".
	ControlPrefix byte = '#'
)

var formatNames = [NumFormats]string{"unknown", "text", "binary", "compact", "control", "zstd", "zstd-dict", "s2"}

func (f Format) String() string {
	if f < NumFormats {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// FormatOf tells the format of a frame from its first byte.
func FormatOf(first byte) Format {
	switch {
	case first == ControlPrefix:
		return FormatControl
	case first < 0x80:
		return FormatText
	case first == MagicBinary:
		return FormatBinary
	case first == MagicCompact:
		return FormatCompact
	case first == MagicControl:
		return FormatControl
	case first == MagicZstd:
		return FormatZstd
	case first == MagicZstdDict:
		return FormatZstdDict
	case first == MagicS2:
		return FormatS2
	}
	return FormatUnknown
}

// Delimited reports whether frames starting with first end at an END byte
// (text and text control lines); all others carry a length prefix.
func Delimited(first byte) bool { return first < 0x80 }

// Compression names how a codec wraps its frames.
type Compression uint8

// Compressions.
const (
	CompressNone     Compression = iota
	CompressZstd                 // "+zstd"
	CompressS2                   // "+s2"
	CompressZstdDict             // "+zstd-dict": zstd with a dictionary trained on sample data
)

var compressionSuffix = [...]string{"", "+zstd", "+s2", "+zstd-dict"}

// Codec is a named wire choice: a format and how it is compressed, as
// written on every command line ("text", "binary", "compact+zstd", ...).
type Codec struct {
	Format      Format // FormatText, FormatBinary or FormatCompact
	Compression Compression
}

// Codecs lists every codec name in a stable order, for tables and sweeps.
func Codecs() []Codec {
	var cs []Codec
	for _, f := range []Format{FormatText, FormatBinary, FormatCompact} {
		for c := CompressNone; c <= CompressZstdDict; c++ {
			cs = append(cs, Codec{f, c})
		}
	}
	return cs
}

func (c Codec) String() string { return c.Format.String() + compressionSuffix[c.Compression] }

// ParseCodec parses a codec name such as "text", "binary+s2" or
// "compact+zstd-dict".
func ParseCodec(name string) (Codec, error) {
	base, suffix := name, ""
	if i := strings.IndexByte(name, '+'); i >= 0 {
		base, suffix = name[:i], name[i:]
	}
	var c Codec
	switch base {
	case "text":
		c.Format = FormatText
	case "binary":
		c.Format = FormatBinary
	case "compact":
		c.Format = FormatCompact
	default:
		return Codec{}, fmt.Errorf("unknown codec %q: want text, binary or compact, optionally with +zstd, +s2 or +zstd-dict", name)
	}
	found := false
	for i, s := range compressionSuffix {
		if s == suffix {
			c.Compression, found = Compression(i), true
			break
		}
	}
	if !found {
		return Codec{}, fmt.Errorf("unknown compression %q in codec %q: want +zstd, +s2 or +zstd-dict", suffix, name)
	}
	return c, nil
}

// Limits bound what a decoder accepts, so hostile input costs bounded
// memory. The zero value means DefaultLimits.
type Limits struct {
	MaxFrame int // bytes of one frame as it arrives, envelope and END byte included
	// MaxDecoded bounds what one frame may grow into: the bytes a
	// compressed frame decompresses to, and the memory its readings take
	// in a Batch (DecodedSize), the inner frames of a compressed frame
	// together. A frame above it is ReasonTooLarge, refused before its
	// values are appended wherever the format states its size up front
	// (binary, compact, compressed envelopes).
	MaxDecoded  int
	MaxChannels int // channels per sample
	MaxSamples  int // samples per frame
}

// Bytes of Batch memory per decoded reading (a Value) and per sample (its
// time): the unit of Limits.MaxDecoded for decoded readings.
const (
	DecodedValueBytes  = 16
	DecodedSampleBytes = 8
)

// DecodedSize returns the Batch memory that readings values in samples
// samples take.
func DecodedSize(readings, samples int) int {
	return readings*DecodedValueBytes + samples*DecodedSampleBytes
}

// Default limits, documented in PROTOCOL.md.
const (
	DefaultMaxFrame    = 64 << 10
	DefaultMaxDecoded  = 1 << 20
	DefaultMaxChannels = 64
	DefaultMaxSamples  = 4096
	MaxIDLen           = 64 // bytes of a device id; fixed by the formats
)

// DefaultLimits are the limits used when none are given.
var DefaultLimits = Limits{
	MaxFrame:    DefaultMaxFrame,
	MaxDecoded:  DefaultMaxDecoded,
	MaxChannels: DefaultMaxChannels,
	MaxSamples:  DefaultMaxSamples,
}

// OrDefault returns l with zero fields replaced by their defaults.
func (l Limits) OrDefault() Limits {
	if l.MaxFrame <= 0 {
		l.MaxFrame = DefaultMaxFrame
	}
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = DefaultMaxDecoded
	}
	if l.MaxChannels <= 0 {
		l.MaxChannels = DefaultMaxChannels
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = DefaultMaxSamples
	}
	return l
}

// ValidID reports whether id is a legal device id: 1 to 64 bytes of
// [A-Za-z0-9._-]. The set is small on purpose: ids appear unescaped in CSV,
// file names, metrics, NATS subjects and URLs.
func ValidID(id []byte) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for _, c := range id {
		if !idByte[c] {
			return false
		}
	}
	return true
}

var idByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	t['.'], t['_'], t['-'] = true, true, true
	return t
}()
