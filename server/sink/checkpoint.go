package sink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// A node's checkpoint is one file beside its segments,
// Dir/readings/checkpoint (checkpoint-<node> with a node name). With the
// body "mote-3 4690 4700-4705\n" (whatever FileConfig.Checkpoint wrote;
// TestCheckpoint_Format checks this example):
//
//	fleetwire-checkpoint 1 crc32c=ee5f679e bytes=00000000000000000070\n
//	segment seg-20261125T114331.143Z-000001.csv.zst\n
//	mote-3 4690 4700-4705\n
//
// The first line has a fixed width (66 bytes) so that it is written last,
// in place, once the body's checksum is known. bytes counts everything
// after it (the segment line and the body), and crc32c (Castagnoli, as
// hex) covers the same bytes, so a torn or corrupt file is detected
// whatever part of it was hit, the name of the segment included. The
// segment line names the sealed segment the checkpoint covers, with every
// earlier one of the node.
//
// It is written to .checkpoint[-<node>].tmp, fsynced, renamed over the
// previous one and the directory fsynced: a crash leaves the old
// checkpoint or the new one, never a mix.
const (
	checkpointName   = "checkpoint"
	checkpointMagic  = "fleetwire-checkpoint 1 "
	checkpointHeader = checkpointMagic + "crc32c=%08x bytes=%020d\n"
	checkpointHdrLen = len(checkpointMagic) + len("crc32c=") + 8 + len(" bytes=") + 20 + 1
	checkpointSeg    = "segment "
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadCheckpoint is a checkpoint file that is torn or corrupt: it is
// reported and not trusted.
var errBadCheckpoint = errors.New("torn or corrupt checkpoint")

// checkpointFile returns the file name of node's checkpoint and of the
// temporary file it is written to. The leading dot keeps the latter apart
// from any node's checkpoint ("checkpoint-a.tmp" is node a.tmp's).
func checkpointFile(node string) (name, tmp string) {
	name = checkpointName
	if node != "" {
		name += "-" + node
	}
	return name, "." + name + ".tmp"
}

// checkpoint writes the checkpoint that covers seg, which was just
// sealed. A failure keeps the previous checkpoint and does not stop the
// writer: Recover then replays from the earlier one.
func (w *writer) checkpoint(seg string) {
	if w.ckbuf == nil {
		w.ckbuf = bufio.NewWriterSize(nil, 64<<10)
	}
	if err := writeCheckpoint(w.s.dir, w.s.cfg.Node, seg, w.s.checkpointFn(), w.ckbuf); err != nil {
		w.s.c.checkpointErrors.Add(1)
		w.logError("sink: checkpoint failed; the previous one stays", "checkpoint after "+seg, err)
		return
	}
	w.s.c.checkpoints.Add(1)
}

// writeCheckpoint writes the checkpoint of node that covers seg, fn
// writing its body through bw.
func writeCheckpoint(dir, node, seg string, fn func(io.Writer) error, bw *bufio.Writer) (err error) {
	name, tmpName := checkpointFile(node)
	tmp := filepath.Join(dir, tmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	// The header goes in last, when the checksum is known.
	if _, err := f.Seek(int64(checkpointHdrLen), io.SeekStart); err != nil {
		return err
	}
	bw.Reset(f)
	defer bw.Reset(nil) // hold no file between checkpoints
	cw := &checksumWriter{w: bw, crc: crc32.New(castagnoli)}
	if _, err := fmt.Fprintf(cw, "%s%s\n", checkpointSeg, seg); err != nil {
		return err
	}
	if err := fn(cw); err != nil {
		return fmt.Errorf("FileConfig.Checkpoint: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if _, err := f.WriteAt(fmt.Appendf(nil, checkpointHeader, cw.crc.Sum32(), cw.n), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// checksumWriter passes writes on, counting and checksumming them.
type checksumWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   uint64
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += uint64(n)
	return n, err
}

// readCheckpoint returns the body of node's checkpoint in dir and the
// segment it covers; ok is false when there is none. A checkpoint that is
// torn or corrupt is an error wrapping errBadCheckpoint.
func readCheckpoint(dir, node string) (body []byte, seg segFile, ok bool, err error) {
	name, _ := checkpointFile(node)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, segFile{}, false, nil
	}
	if err != nil {
		return nil, segFile{}, false, err
	}
	body, seg, err = parseCheckpoint(b, node)
	if err != nil {
		return nil, segFile{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return body, seg, true, nil
}

// parseCheckpoint checks a checkpoint file of node and returns its body,
// which aliases b, and the segment it covers.
func parseCheckpoint(b []byte, node string) ([]byte, segFile, error) {
	bad := func(format string, args ...any) ([]byte, segFile, error) {
		return nil, segFile{}, fmt.Errorf("%w: "+format, append([]any{errBadCheckpoint}, args...)...)
	}
	if len(b) < checkpointHdrLen {
		return bad("%d bytes, shorter than its header", len(b))
	}
	hdr := b[:checkpointHdrLen]
	if !bytes.HasPrefix(hdr, []byte(checkpointMagic)) {
		return bad("header %.40q", hdr)
	}
	// Parse the two numbers where the format puts them, then require the
	// header to be exactly what the writer prints for them.
	at := len(checkpointMagic) + len("crc32c=")
	crc, err1 := strconv.ParseUint(string(hdr[at:at+8]), 16, 32)
	at += 8 + len(" bytes=")
	n, err2 := strconv.ParseUint(string(hdr[at:at+20]), 10, 64)
	if err1 != nil || err2 != nil || !bytes.Equal(hdr, fmt.Appendf(nil, checkpointHeader, crc, n)) {
		return bad("header %q", hdr)
	}
	rest := b[checkpointHdrLen:]
	if uint64(len(rest)) != n {
		return bad("%d bytes after the header, which says %d", len(rest), n)
	}
	if got := crc32.Checksum(rest, castagnoli); got != uint32(crc) {
		return bad("crc32c %08x, the header says %08x", got, crc)
	}
	line, body, found := bytes.Cut(rest, []byte{'\n'})
	name, isSeg := bytes.CutPrefix(line, []byte(checkpointSeg))
	seg, ok := parseSegName(string(name))
	if !found || !isSeg || !ok || seg.partial || seg.node != node {
		return bad("%q names no sealed segment of node %q", line, node)
	}
	return body, seg, nil
}
