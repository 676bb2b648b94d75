package server

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetwire/fleetwire/internal/pskfile"
)

// LoadPSKFile reads a PSK key file (package internal/pskfile: one
// "identity hex-key" a line, the identity a device id): identity → key.
// Keys are never logged; an error names a line, not its content. A
// world-readable file, and keys under 16 bytes, are warned about.
func LoadPSKFile(path string) (map[string][]byte, error) {
	keys, short, err := pskfile.Load(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		slog.Warn("psk file is world-readable: anyone on this host can read the devices' keys; chmod o-r it", "file", path, "mode", fi.Mode().Perm().String())
	}
	if short > 0 {
		slog.Warn("psk file holds keys shorter than 16 bytes", "file", path, "keys", short)
	}
	return keys, nil
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
