package web

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fleetwire/fleetwire/codec"
	"github.com/fleetwire/fleetwire/server"
)

// Paging bounds of /api/devices.
const (
	DefaultLimit = 100
	MaxLimit     = 500
	maxQuery     = 64 // bytes of the id substring filter
	maxBody      = 4 << 10
)

var sortKeys = map[string]bool{"id": true, "readings": true, "lost": true, "duplicates": true,
	"reordered": true, "last_seen": true, "transport": true}

// DevicePage is the answer of GET /api/devices.
type DevicePage struct {
	Total   int             `json:"total"` // devices that match, over all pages
	Offset  int             `json:"offset"`
	Limit   int             `json:"limit"`
	Sort    string          `json:"sort"`
	Devices []server.Device `json:"devices"`
}

// Command is a server.Command as the API shows it: payload_hex carries
// the exact bytes when the payload is not printable text.
type Command struct {
	server.Command
	PayloadHex string `json:"payload_hex"`
}

// Device is a server.Device as GET /api/devices/{id} shows it.
type Device struct {
	server.Device
	Commands []Command `json:"commands"`
}

func apiCommand(c server.Command) Command {
	return Command{Command: c, PayloadHex: hex.EncodeToString([]byte(c.Payload))}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "encode: "+err.Error())
		return
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	writeRaw(w, code, b)
}

// apiStats answers this node's snapshot, or with scope=cluster every
// node's as they published them.
func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("scope") {
	case "", "node":
		smp, _ := s.rec.current()
		writeRaw(w, http.StatusOK, smp.json)
	case "cluster":
		if s.cluster == nil {
			jsonError(w, http.StatusNotFound, errNoCluster)
			return
		}
		_, b := s.cluster.current()
		writeRaw(w, http.StatusOK, b)
	default:
		jsonError(w, http.StatusBadRequest, "scope must be node (the default) or cluster")
	}
}

const errNoCluster = "no cluster view: this node has no NATS sink (--sink nats://...) and no --cluster-nats"

// apiCluster answers the cluster view. Without one it still answers 200,
// {"enabled": false, ...}: the dashboard asks every node, and a 404 would
// be an error in every browser console.
func (s *Server) apiCluster(w http.ResponseWriter, _ *http.Request) {
	if s.cluster == nil {
		writeJSON(w, http.StatusOK, Cluster{SampledAt: time.Now(), Self: s.nodeName(), Nodes: []ClusterNode{}, Reason: errNoCluster})
		return
	}
	b, _ := s.cluster.current()
	writeRaw(w, http.StatusOK, b)
}

func (s *Server) apiHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		IntervalSec float64 `json:"interval_s"`
		Points      []Point `json:"points"`
	}{s.cfg.Interval.Seconds(), s.rec.history()})
}

// apiDeviceHistory answers a device's last minutes (history.go), as
// bounded as the history: at most histPoints points of histChannels
// values. A device the server does not know is a 404; one it knows
// without a history (silent for the window, or past the bound) has no
// points.
func (s *Server) apiDeviceHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := deviceID(w, r)
	if !ok {
		return
	}
	if _, ok := s.srv.Device(id); !ok {
		jsonError(w, http.StatusNotFound, "unknown device")
		return
	}
	writeRaw(w, http.StatusOK, s.hist.appendJSON(nil, id, s.cfg.Interval))
}

// parseDeviceQuery reads offset, limit, sort, q and transport; an
// unknown sort key or transport is an error rather than a silent default.
func parseDeviceQuery(r *http.Request) (server.DeviceQuery, error) {
	v := r.URL.Query()
	q := server.DeviceQuery{Limit: DefaultLimit, Sort: v.Get("sort"), Filter: v.Get("q"), Transport: v.Get("transport")}
	num := func(name string, dst *int) error {
		s := v.Get(name)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%s must be a non-negative integer", name)
		}
		*dst = n
		return nil
	}
	if err := num("offset", &q.Offset); err != nil {
		return q, err
	}
	if err := num("limit", &q.Limit); err != nil {
		return q, err
	}
	if q.Limit == 0 || q.Limit > MaxLimit {
		q.Limit = min(max(q.Limit, DefaultLimit), MaxLimit)
	}
	if q.Sort == "" {
		q.Sort = "id"
	}
	key := q.Sort
	if key[0] == '-' {
		key = key[1:]
	}
	if !sortKeys[key] {
		return q, errors.New("sort must be one of id, readings, lost, duplicates, reordered, last_seen, transport, optionally prefixed with -")
	}
	switch q.Transport {
	case "", "tcp", "udp", "tls", "dtls":
	default:
		return q, errors.New("transport must be tcp, udp, tls or dtls")
	}
	if len(q.Filter) > maxQuery {
		return q, fmt.Errorf("q is at most %d bytes", maxQuery)
	}
	return q, nil
}

func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request) {
	q, err := parseDeviceQuery(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	devs, total := s.devs.get(s.srv, q)
	if devs == nil {
		devs = []server.Device{}
	}
	writeJSON(w, http.StatusOK, DevicePage{Total: total, Offset: q.Offset, Limit: q.Limit, Sort: q.Sort, Devices: devs})
}

// deviceID returns the {id} path value if it is a valid device id; else
// it answers 400 itself and returns false. The id is never echoed.
func deviceID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !codec.ValidID([]byte(id)) {
		jsonError(w, http.StatusBadRequest, "device id must be 1-64 bytes of [A-Za-z0-9._-]")
		return "", false
	}
	return id, true
}

func (s *Server) device(id string) (Device, bool) {
	d, ok := s.srv.Device(id)
	if !ok {
		return Device{}, false
	}
	out := Device{Device: d, Commands: make([]Command, len(d.Commands))}
	for i, c := range d.Commands {
		out.Commands[i] = apiCommand(c)
	}
	if out.LastValues == nil {
		out.LastValues = []string{}
	}
	return out, true
}

func (s *Server) apiDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := deviceID(w, r)
	if !ok {
		return
	}
	d, ok := s.device(id)
	if !ok {
		jsonError(w, http.StatusNotFound, "unknown device")
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// commandPayload reads a command body: JSON {"payload": "LED ON"} or
// {"payload_hex": "4c4544"}, or the raw bytes of a text/plain or
// application/octet-stream body.
// commandPayload reads a command's payload and, from a JSON body, whether
// it goes raw (nil: as the device's listener says).
func commandPayload(w http.ResponseWriter, r *http.Request) ([]byte, *bool, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("read body (at most %d bytes): %w", maxBody, err)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "text/plain", "application/octet-stream":
		return body, nil, nil
	case "application/json", "":
	default:
		return nil, nil, fmt.Errorf("content type %q: want application/json, text/plain or application/octet-stream", ct)
	}
	var req struct {
		Payload    *string `json:"payload"`
		PayloadHex *string `json:"payload_hex"`
		Raw        *bool   `json:"raw"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, nil, fmt.Errorf("body must be JSON {\"payload\": \"...\"} or {\"payload_hex\": \"...\"}, optionally with \"raw\": true: %w", err)
	}
	switch {
	case req.Payload != nil && req.PayloadHex != nil:
		return nil, nil, errors.New("give payload or payload_hex, not both")
	case req.Payload != nil:
		if !utf8.ValidString(*req.Payload) {
			return nil, nil, errors.New("payload must be UTF-8 text; use payload_hex for binary")
		}
		return []byte(*req.Payload), req.Raw, nil
	case req.PayloadHex != nil:
		b, err := hex.DecodeString(*req.PayloadHex)
		if err != nil {
			return nil, nil, fmt.Errorf("payload_hex: %w", err)
		}
		return b, req.Raw, nil
	}
	return nil, nil, errors.New("body must be JSON {\"payload\": \"...\"} or {\"payload_hex\": \"...\"}")
}

func (s *Server) apiSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := deviceID(w, r)
	if !ok {
		return
	}
	payload, raw, err := commandPayload(w, r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	var cmd server.Command
	if raw != nil {
		cmd, err = s.srv.SubmitRaw(id, payload, *raw)
	} else {
		cmd, err = s.srv.SubmitCommand(id, payload)
	}
	switch {
	case err == nil:
		w.Header().Set("Location", "/api/commands/"+strconv.FormatUint(cmd.ID, 10))
		writeJSON(w, http.StatusAccepted, apiCommand(cmd))
	case errors.Is(err, server.ErrUnknownDev):
		jsonError(w, http.StatusNotFound, "unknown device")
	case errors.Is(err, server.ErrBadCommand), errors.Is(err, server.ErrBadDeviceID), errors.Is(err, server.ErrUnframable):
		jsonError(w, http.StatusBadRequest, trimPkg(err.Error()))
	case errors.Is(err, server.ErrQueueFull):
		// The queue drains as devices come back or commands expire.
		w.Header().Set("Retry-After", "5")
		jsonError(w, http.StatusTooManyRequests, trimPkg(err.Error()))
	default:
		jsonError(w, http.StatusServiceUnavailable, trimPkg(err.Error()))
	}
}

func (s *Server) apiCommand(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "command id must be an unsigned integer")
		return
	}
	cmd, err := s.srv.Command(n)
	if err != nil {
		jsonError(w, http.StatusNotFound, "no such command (unknown, or forgotten from the bounded history)")
		return
	}
	writeJSON(w, http.StatusOK, apiCommand(cmd))
}

func trimPkg(msg string) string {
	const p = "server: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}
