package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldevents/herald/internal/vfs"
)

// The segment and index checks of the offline tools.

func (in *inspection) segment(t *topicInspection, p *partInspection, base, next int64) *segInspection {
	s := &segInspection{path: filepath.Join(p.dir, segmentName(base)+".log"), base: base, nextBase: next}
	in.report.Segments++
	synced := int64(-1)
	if m, ok := readSyncMark(in.fs, p.dir); ok && next < 0 && m.base == base {
		synced = m.length
	}
	w, err := walkSegment(in.fs, s.path, base, next, synced)
	if err != nil {
		in.whole(s.path, kindReadError, "", "%v", trimPath(err, s.path))
		s.unreadable = true
		return s
	}
	s.walk = w
	in.report.Records += w.records
	in.report.Bytes += w.size
	for _, b := range w.bad {
		in.badRange(s, b)
	}
	if next < 0 {
		return s
	}
	// Only compaction leaves a sealed segment's batches ending before the
	// next segment begins.
	covered := s.covered()
	gap := covered < next && !t.compact
	sized := in.index(s, gap)
	if gap {
		s.fillTo = next
		if !sized {
			in.find(Finding{File: in.rel(s.path), Byte: w.size, Kind: kindOffsetGap, FixedBy: fixedByRepair,
				Detail: fmt.Sprintf("the segment's batches end at offset %d but the next segment starts at %d: a segment file was deleted or this one cut short", covered, next),
				Lost:   &OffsetRange{First: covered, Last: next - 1, Known: true}})
		}
	}
	return s
}

// covered returns the offset after the last one the segment's batches,
// good or lost in bad bytes, account for.
func (s *segInspection) covered() int64 {
	end := s.walk.end
	for _, b := range s.walk.bad {
		if b.lost.Known && b.lost.Last+1 > end {
			end = b.lost.Last + 1
		}
	}
	return end
}

func (in *inspection) badRange(s *segInspection, b badRange) {
	f := Finding{File: in.rel(s.path), Byte: b.from, Kind: b.kind, Detail: trimPath(b.reason, s.path), FixedBy: fixedByRepair}
	if b.to > b.from {
		f.EndByte = b.to
	}
	if b.lost != (OffsetRange{}) {
		lost := b.lost
		f.Lost = &lost
	}
	switch {
	case b.unsynced:
		f.FixedBy, f.Detail = fixedByOpen, "writes made after the last fsync the sync mark records, which a power cut lost in part: "+f.Detail
	case b.torn:
		f.FixedBy, f.Detail = fixedByOpen, "an unfinished last write, never acknowledged: "+f.Detail
	case b.mended:
		f.Detail += "; herald repair puts the offset right and loses nothing"
	case b.kind == kindReadError:
		f.FixedBy = ""
	}
	in.find(f)
}

// index checks a sealed segment's index files against what the walk
// found; gap says the segment's offsets end before the next segment's
// begin. It reports whether it found the log file's size wrong.
func (in *inspection) index(s *segInspection, gap bool) (sized bool) {
	offPath, timPath := (&segment{path: s.path}).indexPaths()
	ob, err := readFile(in.fs, offPath)
	if err == nil {
		var tb []byte
		if tb, err = readFile(in.fs, timPath); err == nil {
			return in.indexBytes(s, ob, tb, offPath, timPath, gap)
		}
	}
	s.badIndex = true
	var pe *os.PathError
	switch {
	case errors.Is(err, os.ErrNotExist) && errors.As(err, &pe):
		in.whole(pe.Path, kindMissingFile, fixedByOpen, "the index file of a sealed segment is missing (it is rebuilt from the segment)")
	default:
		in.whole(offPath, kindReadError, fixedByOpen, "%v", err)
	}
	return false
}

func (in *inspection) indexBytes(s *segInspection, ob, tb []byte, offPath, timPath string, gap bool) (sized bool) {
	seal, err := parseIndexes(ob, tb, offPath, timPath)
	if ie := (*indexError)(nil); errors.As(err, &ie) {
		s.badIndex = true
		in.whole(ie.path, kindIndexMismatch, fixedByOpen, "%v (the index files are rebuilt from the segment)", ie.err)
		return false
	}
	if seal.logSize != s.walk.size {
		s.badIndex = true
		f := Finding{File: in.rel(s.path), Byte: min(seal.logSize, s.walk.size), Kind: kindSizeMismatch, FixedBy: fixedByRepair,
			Detail: fmt.Sprintf("the segment is %d bytes but was sealed at %d bytes", s.walk.size, seal.logSize)}
		if covered := s.covered(); len(s.walk.bad) == 0 && covered < s.nextBase {
			f.Lost = &OffsetRange{First: covered, Last: s.nextBase - 1, Known: true}
		}
		in.find(f)
		return true
	}
	if len(s.walk.bad) > 0 || gap && s.base+int64(seal.span) == s.covered() {
		s.badIndex = true // repair rewrites the segment, and its index with it
		return false
	}
	if err := s.compareIndex(ob, tb, seal); err != nil {
		s.badIndex = true
		fixedBy := fixedByRepair
		if s.base+int64(seal.span) != s.nextBase {
			fixedBy = fixedByOpen
		}
		in.whole(offPath, kindIndexMismatch, fixedBy, "%v", err)
	}
	return false
}

// compareIndex checks every index entry against the walked batches: each
// points at a batch with its offset, maxBefore is the largest timestamp
// before that batch, and the trailer's span and max time are right.
func (s *segInspection) compareIndex(ob, tb []byte, seal indexSeal) error {
	if end := s.base + int64(seal.span); end != s.nextBase {
		return fmt.Errorf("its span ends at offset %d, but the next segment starts at %d", end, s.nextBase)
	}
	if seal.maxTime != s.walk.maxTime {
		return fmt.Errorf("it gives the segment's latest timestamp as %d, the batches say %d", seal.maxTime, s.walk.maxTime)
	}
	type at struct{ rel, maxBefore int64 }
	batches := map[int64]at{}
	maxBefore := int64(-1)
	for _, b := range s.walk.good {
		batches[b.pos] = at{b.info.baseOffset - s.base, maxBefore}
		maxBefore = max(maxBefore, b.info.maxTime)
	}
	last := int64(-1)
	for i := 0; i < seal.entries; i++ {
		rel := int64(binary.BigEndian.Uint32(ob[i*offsetEntrySize:]))
		pos := int64(binary.BigEndian.Uint32(ob[i*offsetEntrySize+4:]))
		mb := int64(binary.BigEndian.Uint64(tb[i*timeEntrySize:]))
		trel := int64(binary.BigEndian.Uint32(tb[i*timeEntrySize+8:]))
		b, ok := batches[pos]
		switch {
		case pos == 0 || !ok || b.rel != rel || pos <= last:
			return fmt.Errorf("entry %d (offset %d at byte %d) does not point at its batch", i, s.base+rel, pos)
		case trel != rel || mb != b.maxBefore:
			return fmt.Errorf("time index entry %d (offset %d, time %d) does not match its batch (offset %d, time %d)", i, s.base+trel, mb, s.base+rel, b.maxBefore)
		}
		last = pos
	}
	return nil
}

// readFile reads a whole index file.
func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f)
}
