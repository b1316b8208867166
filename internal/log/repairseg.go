package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/heraldevents/herald/internal/vfs"
)

// The segment part of Repair: rewriting a damaged segment without its bad
// bytes, and writing index files anew.

func (r *repairer) segment(s *segInspection) error {
	if s.unreadable || s.readError() {
		r.report.Unrepaired = append(r.report.Unrepaired, Finding{File: r.in.rel(s.path), Byte: -1, Kind: kindReadError,
			Detail: "the disk could not read the segment; copy what can be read, or restore it, and run repair again"})
		return nil
	}
	rewrite := len(s.walk.bad) > 0 || s.fillTo > s.covered()
	if rewrite {
		if err := r.rewrite(s); err != nil {
			return err
		}
	}
	if s.nextBase >= 0 && (rewrite || s.badIndex) {
		return r.reindex(s)
	}
	return nil
}

func (s *segInspection) readError() bool {
	for _, b := range s.walk.bad {
		if b.kind == kindReadError {
			return true
		}
	}
	return false
}

// piece is one part of a rewritten segment, in file order: a good batch
// copied, or bad bytes set aside and the offsets they held covered.
type piece struct {
	pos  int64
	good *walkedBatch
	bad  *badRange
}

func (s *segInspection) pieces() []piece {
	var ps []piece
	for i := range s.walk.bad {
		if b := &s.walk.bad[i]; !b.mended {
			ps = append(ps, piece{pos: b.from, bad: b})
		}
	}
	for i := range s.walk.good {
		ps = append(ps, piece{pos: s.walk.good[i].pos, good: &s.walk.good[i]})
	}
	// A gap (an empty bad range) comes before the good batch at its position.
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].pos < ps[j].pos || ps[i].pos == ps[j].pos && ps[i].bad != nil })
	return ps
}

// maxCoverBatches bounds the empty batches one lost range takes: a
// segment spans fewer than 2^32 offsets (its index says so in a uint32).
const maxCoverBatches = 4

// segmentRewrite writes the new copy of a segment.
type segmentRewrite struct {
	r       *repairer
	s       *segInspection
	src     vfs.File
	dst     vfs.File
	written int64
}

// rewrite writes the segment anew without its bad bytes, which it sets
// aside first, and swaps the new file in: the old index files are set
// aside, the new log renamed over the old, each step made durable.
func (r *repairer) rewrite(s *segInspection) error {
	src, err := r.fs.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := s.path + compactingSuffix
	dst, err := r.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := &segmentRewrite{r: r, s: s, src: src, dst: dst}
	err = w.run()
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.fs.Remove(tmp)
		return err
	}
	if err := r.setAsideIndexes(s); err != nil {
		return err
	}
	if err := r.fs.Rename(tmp, s.path); err != nil {
		return err
	}
	return r.fs.SyncDir(filepath.Dir(s.path))
}

func (w *segmentRewrite) run() error {
	for _, p := range w.s.pieces() {
		var err error
		if p.good != nil {
			err = w.copyBatch(p.good)
		} else {
			err = w.cut(p.bad)
		}
		if err != nil {
			return err
		}
	}
	if covered := w.s.covered(); w.s.fillTo > covered {
		lost := OffsetRange{First: covered, Last: w.s.fillTo - 1, Known: true}
		w.r.act(RepairAction{File: w.r.in.rel(w.s.path), Action: "filled", Byte: w.s.walk.size, Lost: &lost,
			Reason: "the offsets between this segment's last batch and the next segment were missing; covered with empty batches"})
		return w.cover(lost)
	}
	return nil
}

// copyBatch copies a good batch, putting its FirstOffset right.
func (w *segmentRewrite) copyBatch(b *walkedBatch) error {
	buf := make([]byte, b.info.size)
	if _, err := w.src.ReadAt(buf, b.pos); err != nil {
		return fmt.Errorf("read %s at byte %d: %w", w.s.path, b.pos, err)
	}
	if old := int64(binary.BigEndian.Uint64(buf)); old != b.info.baseOffset {
		binary.BigEndian.PutUint64(buf, uint64(b.info.baseOffset))
		w.r.act(RepairAction{File: w.r.in.rel(w.s.path), Action: "mended", Byte: b.pos, EndByte: b.pos + int64(b.info.size),
			Reason: fmt.Sprintf("the batch's FirstOffset was %d; set to %d, which the batches around it show (no record lost)", old, b.info.baseOffset)})
	}
	return w.write(buf)
}

// cut sets bad bytes aside and covers the offsets they held.
func (w *segmentRewrite) cut(b *badRange) error {
	a := RepairAction{File: w.r.in.rel(w.s.path), Action: "cut", Byte: b.from, Reason: b.kind + ": " + trimPath(b.reason, w.s.path)}
	if b.to > b.from {
		a.EndByte = b.to
		saved, err := w.r.saveBytes(w.s.path, w.src, b.from, b.to)
		if err != nil {
			return err
		}
		a.SavedAs = saved
	}
	if b.lost != (OffsetRange{}) {
		lost := b.lost
		a.Lost = &lost
	}
	switch {
	case b.unsynced:
		a.Reason = "torn_tail: writes made after the last fsync, which a power cut lost in part"
	case b.torn:
		a.Reason = "torn_tail: an unfinished last write, never acknowledged"
	case b.to == b.from:
		a.Action = "filled"
	}
	w.r.act(a)
	if b.lost.Known {
		return w.cover(b.lost)
	}
	return nil
}

// cover writes empty batches for the offsets of lost.
func (w *segmentRewrite) cover(lost OffsetRange) error {
	if (lost.Last-lost.First)/math.MaxInt32 > maxCoverBatches {
		return fmt.Errorf("%s spans more offsets than a segment can hold: are the segment files named right?", lost)
	}
	for first := lost.First; first <= lost.Last; {
		last := min(lost.Last, first+math.MaxInt32)
		if err := w.write(encodeSpan(nil, nil, first, last)); err != nil {
			return err
		}
		first = last + 1
	}
	return nil
}

func (w *segmentRewrite) write(b []byte) error {
	if _, err := w.dst.WriteAt(b, w.written); err != nil {
		return fmt.Errorf("write %s: %w", w.s.path+compactingSuffix, err)
	}
	w.written += int64(len(b))
	return nil
}

// saveBytes copies bytes [from, to) of the file at path into the
// quarantine directory, durably, and returns the copy's name.
func (r *repairer) saveBytes(path string, src vfs.File, from, to int64) (string, error) {
	rel := fmt.Sprintf("%s.bytes-%d-%d", r.in.rel(path), from, to)
	dst := filepath.Join(r.in.dir, filepath.FromSlash(r.qrel), filepath.FromSlash(rel))
	if err := r.makeDirs(filepath.Dir(dst)); err != nil {
		return "", err
	}
	f, err := r.fs.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	err = copyRange(f, src, from, to)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.fs.SyncDir(filepath.Dir(dst))
	}
	if err != nil {
		return "", fmt.Errorf("set aside bytes %d to %d of %s: %w", from, to, r.in.rel(path), err)
	}
	return r.in.rel(dst), nil
}

// copyRange copies bytes [from, to) of src to the start of dst.
func copyRange(dst, src vfs.File, from, to int64) error {
	buf := make([]byte, min(to-from, 1<<20))
	for pos := from; pos < to; {
		n := min(int64(len(buf)), to-pos)
		if _, err := src.ReadAt(buf[:n], pos); err != nil {
			return err
		}
		if _, err := dst.WriteAt(buf[:n], pos-from); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// setAsideIndexes moves a sealed segment's index files, if any, into the
// quarantine directory, so a rewritten log never meets its old index.
func (r *repairer) setAsideIndexes(s *segInspection) error {
	offPath, timPath := (&segment{path: s.path}).indexPaths()
	for _, path := range []string{offPath, timPath} {
		if _, err := r.fs.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		saved, err := r.move(path)
		if err != nil {
			return err
		}
		r.act(RepairAction{File: r.in.rel(path), Action: "set_aside", Byte: -1, SavedAs: saved,
			Reason: "the index of a segment being rewritten (written anew from it)"})
	}
	return nil
}

// reindex writes a sealed segment's index files anew from the segment,
// which it scans (and so checks) once more.
func (r *repairer) reindex(s *segInspection) error {
	if err := r.setAsideIndexes(s); err != nil {
		return err
	}
	f, err := r.fs.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	seg := &segment{base: s.base, path: s.path, fs: r.fs, f: f, size: st.Size()}
	if res := seg.scan(r.opts.IndexInterval); res.stop != nil || seg.next > s.nextBase {
		return fmt.Errorf("the repaired segment does not check out (ends at offset %d, next segment at %d): %v", seg.next, s.nextBase, res.stop)
	}
	off, tim := encodeIndexes(seg.mem, seg.maxTime, uint32(s.nextBase-s.base), seg.size)
	offPath, timPath := seg.indexPaths()
	for path, data := range map[string][]byte{offPath: off, timPath: tim} {
		if err := r.writeFile(path, data); err != nil {
			return err
		}
	}
	if err := r.fs.SyncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	r.act(RepairAction{File: r.in.rel(offPath), Action: "index_rebuilt", Byte: -1,
		Reason: "the segment's .index and .timeindex were written anew from the segment"})
	return nil
}

// writeFile writes path through a temporary file renamed over it.
func (r *repairer) writeFile(path string, data []byte) error {
	f, err := writeSynced(r.fs, path+compactingSuffix, data)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.fs.Rename(path+compactingSuffix, path)
}
