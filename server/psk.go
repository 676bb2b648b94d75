package server

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// PSK key files. One key a line:
//
//	# comment
//	boiler-1   000102030405060708090a0b0c0d0e0f
//	meter-17   5f1e...                         # comment
//
// The identity is the device id the key authenticates (1-64 bytes of
// [A-Za-z0-9._-]), the key 1-64 bytes in hex (16 or more recommended).
// Blank lines and text from a '#' on are ignored. A file with an error
// is refused whole: on a reload the keys already loaded stay in force.
const (
	maxPSKLen  = 64
	minPSKWarn = 16
)

// LoadPSKFile reads a PSK key file (see above): identity → key. Keys are
// never logged; the error names a line, not its content.
func LoadPSKFile(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("psk file: %w", err)
	}
	keys, short, err := parsePSK(b)
	if err != nil {
		return nil, fmt.Errorf("psk file %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		slog.Warn("psk file is world-readable: anyone on this host can read the devices' keys; chmod o-r it", "file", path, "mode", fi.Mode().Perm().String())
	}
	if short > 0 {
		slog.Warn("psk file holds keys shorter than 16 bytes", "file", path, "keys", short)
	}
	return keys, nil
}

func parsePSK(b []byte) (keys map[string][]byte, short int, err error) {
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
		if err != nil || len(k) == 0 || len(k) > maxPSKLen {
			return nil, 0, fmt.Errorf("line %d: key of %s: want 1-%d bytes in hex", n, f[0], maxPSKLen)
		}
		if len(k) < minPSKWarn {
			short++
		}
		keys[f[0]] = k
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	return keys, short, nil
}

// pskStore holds a listener's keys, swapped whole on reload: a handshake
// reads them without a lock.
type pskStore struct {
	path string
	keys atomic.Pointer[map[string][]byte]

	mu      sync.Mutex // reloads
	modTime time.Time
	size    int64
}

func newPSKStore(path string) (*pskStore, error) {
	p := &pskStore{path: path}
	if _, err := p.reload(true); err != nil {
		return nil, err
	}
	return p, nil
}

// lookup returns the key of identity, nil if none.
func (p *pskStore) lookup(identity []byte) []byte {
	return (*p.keys.Load())[string(identity)]
}

// reload reads the file again if it changed since the last load (or
// always, with force). It returns whether the keys changed.
func (p *pskStore) reload(force bool) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fi, err := os.Stat(p.path)
	if err != nil {
		return false, fmt.Errorf("psk file: %w", err)
	}
	if !force && fi.ModTime().Equal(p.modTime) && fi.Size() == p.size {
		return false, nil
	}
	keys, err := LoadPSKFile(p.path)
	if err != nil {
		return false, err
	}
	p.modTime, p.size = fi.ModTime(), fi.Size()
	old := p.keys.Swap(&keys)
	return old == nil || !samePSKs(*old, keys), nil
}

func samePSKs(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for id, k := range a {
		if o, ok := b[id]; !ok || subtle.ConstantTimeCompare(o, k) != 1 {
			return false
		}
	}
	return true
}
