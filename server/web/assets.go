package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/fleetwire/fleetwire/codec"
)

// The UI is plain HTML, CSS and JavaScript with no build step and no
// third-party code, embedded so the binary serves it offline.
//
//go:embed static
var staticFS embed.FS

type asset struct {
	body  []byte
	etag  string
	ctype string
}

// assets are loaded once: content-hash ETags let browsers revalidate
// cheaply (embedded files have no modification time).
var assets = func() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		m[path.Base(p)] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
		return nil
	})
	if err != nil {
		panic("web: embedded assets: " + err.Error()) // a build defect, not input
	}
	return m
}()

func writeAsset(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("file")]
	if !ok || path.Ext(r.PathValue("file")) == ".html" {
		http.NotFound(w, r)
		return
	}
	writeAsset(w, r, a)
}

// page serves one HTML page; the device page only for a valid id (the id
// itself is read by the page's script and shown with textContent).
func (s *Server) page(name string) http.Handler {
	a, ok := assets[name]
	if !ok {
		panic("web: no embedded page " + name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "" && !codec.ValidID([]byte(id)) {
			http.Error(w, "invalid device id: 1-64 bytes of [A-Za-z0-9._-]", http.StatusNotFound)
			return
		}
		writeAsset(w, r, a)
	})
}
