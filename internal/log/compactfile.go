package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/heraldevents/herald/internal/storage"
)

// compactWriteChunk is how many bytes of batches a segmentWriter gathers
// before it writes them out.
const compactWriteChunk = 1 << 20

// segmentWriter writes the compacted copy of a sealed segment to
// <base>.log.compacting, and its index files beside it. The batches it
// writes cover every offset of the segment: each batch's LastOffsetDelta
// reaches to the offset before the next batch, and empty batches cover a
// run of removed records that no batch can reach (before the first kept
// record, or more than 2^31 offsets). So batches stay contiguous, the
// scanner's continuity check stays exact, and a damaged FirstOffset is
// still caught.
type segmentWriter struct {
	out      *segment // the new file; noteBatch keeps its index, end and max time
	paths    [3]string
	interval int
	buf      []byte           // encoded batches not yet written
	written  int64            // bytes of out written to its file
	group    []storage.Record // kept records gathered for the next batch
	bytes    int              // their payload bytes
}

func newSegmentWriter(p *partition, old *segment) (*segmentWriter, error) {
	offPath, timPath := old.indexPaths()
	w := &segmentWriter{interval: p.opts.IndexInterval,
		paths: [3]string{old.path + compactingSuffix, offPath + compactingSuffix, timPath + compactingSuffix}}
	f, err := p.opts.FS.OpenFile(w.paths[0], os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", w.paths[0], err)
	}
	w.out = &segment{base: old.base, path: w.paths[0], fs: p.opts.FS, f: f, next: old.base, maxTime: -1}
	return w, nil
}

// add gathers a kept record; records come in offset order.
func (w *segmentWriter) add(r *storage.Record) error {
	full := w.bytes+recordBytes(r) > compactBatchBytes
	if len(w.group) > 0 && (full || r.Offset-w.group[0].Offset > math.MaxInt32) {
		if err := w.flush(r.Offset); err != nil {
			return err
		}
	}
	if len(w.group) == 0 {
		if err := w.cover(r.Offset); err != nil {
			return err
		}
	}
	w.group = append(w.group, *r)
	w.bytes += recordBytes(r)
	return nil
}

// flush writes the gathered records as one batch that covers the offsets
// up to end (exclusive), or as far as its LastOffsetDelta reaches, and
// covers the rest with empty batches.
func (w *segmentWriter) flush(end int64) error {
	first := w.group[0].Offset
	err := w.emit(w.group, first, min(end-1, first+math.MaxInt32))
	w.group, w.bytes = w.group[:0], 0
	if err != nil {
		return err
	}
	return w.cover(end)
}

// cover writes empty batches for the offsets from the end of the last
// batch up to end (exclusive).
func (w *segmentWriter) cover(end int64) error {
	for w.out.next < end {
		if err := w.emit(nil, w.out.next, min(end-1, w.out.next+math.MaxInt32)); err != nil {
			return err
		}
	}
	return nil
}

// emit encodes one batch, notes it in the new segment's index and writes
// the gathered batches once there are enough.
func (w *segmentWriter) emit(recs []storage.Record, first, last int64) error {
	start := len(w.buf)
	w.buf = encodeSpan(w.buf, recs, first, last)
	info, err := parseBatchHeader(w.buf[start:])
	if err != nil {
		return fmt.Errorf("compacted batch at offset %d: %w", first, err)
	}
	w.out.noteBatch(w.written+int64(start), info, w.interval)
	if len(w.buf) >= compactWriteChunk {
		return w.write()
	}
	return nil
}

func (w *segmentWriter) write() error {
	if _, err := w.out.f.WriteAt(w.buf, w.written); err != nil {
		return fmt.Errorf("write %s: %w", w.paths[0], err)
	}
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// finish covers the offsets up to end, the segment's end offset, then
// writes and fsyncs the new log and its index files.
func (w *segmentWriter) finish(end int64) error {
	var err error
	if len(w.group) > 0 {
		err = w.flush(end)
	} else {
		err = w.cover(end)
	}
	if err == nil {
		err = w.write()
	}
	if err != nil {
		return err
	}
	if err := w.out.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.paths[0], err)
	}
	off, tim := encodeIndexes(w.out.mem, w.out.maxTime, uint32(end-w.out.base), w.written)
	for i, data := range [][]byte{off, tim} {
		f, err := writeSynced(w.out.fs, w.paths[1+i], data)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// abandon removes what the writer left behind after a failure.
func (w *segmentWriter) abandon() {
	w.out.f.Close()
	for _, path := range w.paths {
		w.out.fs.Remove(path)
	}
}

// installCompacted swaps the files w wrote in for sealed segment old, in
// three durable steps, each leaving a state that Open reads correctly:
//
//  1. remove old's index files: the old log without an index, which Open
//     rebuilds (the fsync of the directory also makes w's files durable);
//  2. rename the new log over the old one: the new log without an index;
//  3. rename the new index files in.
//
// So an index never meets a log it was not made for (one could pass the
// index checks by chance). Readers holding old keep reading its files,
// open under names that are gone, until they release it.
func (p *partition) installCompacted(old *segment, w *segmentWriter) error {
	if err := w.out.f.Close(); err != nil {
		return err
	}
	fsys := p.opts.FS
	offPath, timPath := old.indexPaths()
	for _, path := range []string{offPath, timPath} {
		if err := fsys.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return err
	}
	if err := fsys.Rename(w.paths[0], old.path); err != nil {
		return err
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return err
	}
	if err := fsys.Rename(w.paths[1], offPath); err != nil {
		return err
	}
	if err := fsys.Rename(w.paths[2], timPath); err != nil {
		return err
	}
	if err := fsys.SyncDir(p.dir); err != nil {
		return err
	}
	return p.reload(old, old.next)
}

// reload replaces sealed segment old in the segment list with a segment
// opened from the files now at its path, checked to end at end.
func (p *partition) reload(old *segment, end int64) error {
	ns, err := openSegmentFile(p.opts.FS, old.path, old.base)
	if err != nil {
		return err
	}
	if err = ns.loadSealedIndex(); err == nil && ns.next != end {
		err = fmt.Errorf("it ends at offset %d, want %d", ns.next, end)
	}
	if err != nil {
		ns.closeFiles()
		return fmt.Errorf("reopen %s: %w", old.path, err)
	}
	p.mu.Lock()
	i := slices.Index(p.segs, old)
	if i >= 0 {
		p.segs[i] = ns
	}
	p.mu.Unlock()
	if i < 0 {
		ns.closeFiles()
		return fmt.Errorf("reopen %s: segment is no longer listed", old.path)
	}
	old.release()
	return nil
}

// dropSegment deletes a sealed segment that compaction emptied, durably,
// then unlists it. Readers holding it keep reading its files.
func (p *partition) dropSegment(s *segment) error {
	if err := s.remove(); err != nil {
		return err
	}
	if err := p.opts.FS.SyncDir(p.dir); err != nil {
		return err
	}
	p.mu.Lock()
	p.segs = slices.DeleteFunc(p.segs, func(x *segment) bool { return x == s })
	p.mu.Unlock()
	s.release()
	return nil
}

// closeGaps gives each sealed segment whose successors were deleted the
// span up to the next segment's base, so its trailer agrees with the
// segments around it and Open need not rebuild its index. Called under
// topic.wmu, which is what keeps p.segs still.
func (p *partition) closeGaps() error {
	for i := 0; i+1 < len(p.segs); i++ {
		if s, next := p.segs[i], p.segs[i+1].base; s.next < next {
			if err := p.extend(s, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// extend rewrites sealed segment s's time index with the span up to end:
// only the trailer changes. The new file replaces the old by one rename.
func (p *partition) extend(s *segment, end int64) error {
	entries := make([]indexEntry, s.file.count())
	for i := range entries {
		e, err := s.file.entry(i)
		if err != nil {
			return err
		}
		entries[i] = e
	}
	_, tim := encodeIndexes(entries, s.maxTime, uint32(end-s.base), s.size)
	_, timPath := s.indexPaths()
	tmp := timPath + compactingSuffix
	f, err := writeSynced(p.opts.FS, tmp, tim)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := p.opts.FS.Rename(tmp, timPath); err != nil {
		p.opts.FS.Remove(tmp)
		return err
	}
	if err := p.opts.FS.SyncDir(p.dir); err != nil {
		return err
	}
	return p.reload(s, end)
}
