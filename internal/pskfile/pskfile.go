// Package pskfile reads DTLS pre-shared key files, one key a line:
//
//	# comment
//	boiler-1   000102030405060708090a0b0c0d0e0f
//	meter-17   5f1e...                         # comment
//
// The identity is the device id the key authenticates (1-64 bytes of
// [A-Za-z0-9._-]), the key 1-64 bytes in hex (16 or more recommended).
// Blank lines and text from a '#' on are ignored. A file with an error is
// refused whole. Errors name a line and an identity, never a key.
package pskfile

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/fleetwire/fleetwire/codec"
)

// MaxKey is the longest key; keys shorter than MinKey are allowed and
// counted (Load's short), for a warning.
const (
	MaxKey = 64
	MinKey = 16
)

// Load reads the file at path: identity -> key, and how many keys are
// shorter than MinKey.
func Load(path string) (keys map[string][]byte, short int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("psk file: %w", err)
	}
	keys, short, err = Parse(b)
	if err != nil {
		return nil, 0, fmt.Errorf("psk file %s: %w", path, err)
	}
	return keys, short, nil
}

// Parse reads a key file's content.
func Parse(b []byte) (keys map[string][]byte, short int, err error) {
	keys = map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case len(f) != 2:
			return nil, 0, fmt.Errorf("line %d: want \"identity hex-key\"", n)
		case !codec.ValidID([]byte(f[0])):
			return nil, 0, fmt.Errorf("line %d: identity is not a device id (1-64 bytes of [A-Za-z0-9._-])", n)
		case keys[f[0]] != nil:
			return nil, 0, fmt.Errorf("line %d: identity %s given twice", n, f[0])
		}
		k, err := hex.DecodeString(f[1])
		if err != nil || len(k) == 0 || len(k) > MaxKey {
			return nil, 0, fmt.Errorf("line %d: key of %s: want 1-%d bytes in hex", n, f[0], MaxKey)
		}
		if len(k) < MinKey {
			short++
		}
		keys[f[0]] = k
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	return keys, short, nil
}
