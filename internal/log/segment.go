package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/heraldevents/herald/internal/vfs"
)

// segment is one log file of a partition with its index. Fields marked
// "writer" are touched only by the topic's committer (under topic.wmu);
// committed is read by readers without locks.
type segment struct {
	base int64  // offset of the first record; the file name
	path string // path of the .log file
	fs   vfs.FS
	f    vfs.File

	committed atomic.Int64 // bytes readers may read
	refs      atomic.Int32 // 1 while listed in the partition, +1 per reader

	// writer
	size         int64      // bytes written, including an unpublished group
	next         int64      // end of the segment's offsets: after its last record, or (sealed) the next segment's base
	maxTime      int64      // max record timestamp (ms) of committed batches
	firstTime    int64      // timestamp of the first batch, for roll by age
	lastIdx      int64      // position of the last index entry (or 0)
	mem          memIndex   // index of the active segment
	file         *fileIndex // index of a sealed segment, nil while active
	sealed       bool
	pendingIndex *fileIndex // written by sealIO, installed by finishSeal
	damage       error      // set when the bytes after committed failed their checks

	// recovery of the active segment: the length its sync mark says was
	// fsynced, when it has one (see syncmark.go)
	marked bool
	synced int64
}

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

func (s *segment) indexPaths() (off, tim string) {
	stem := s.path[:len(s.path)-len(".log")]
	return stem + ".index", stem + ".timeindex"
}

// index returns the segment's current index.
func (s *segment) index() sparseIndex {
	if s.file != nil {
		return s.file
	}
	return s.mem
}

// createSegment creates an empty active segment file and makes its
// directory entry durable.
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base)+".log")
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync directory %s: %w", dir, err)
	}
	s := &segment{base: base, path: path, fs: fsys, f: f, next: base, maxTime: -1}
	s.refs.Store(1)
	return s, nil
}

// openSegmentFile opens an existing segment's log file.
func openSegmentFile(fsys vfs.FS, path string, base int64) (*segment, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat segment: %w", err)
	}
	s := &segment{base: base, path: path, fs: fsys, f: f, next: base, maxTime: -1, size: st.Size()}
	s.committed.Store(st.Size())
	s.refs.Store(1)
	return s, nil
}

// noteBatch records a committed batch at pos in the writer state and the
// in-memory index.
func (s *segment) noteBatch(pos int64, info batchInfo, interval int) {
	if s.next == s.base {
		s.firstTime = info.maxTime
	}
	if pos > 0 && pos-s.lastIdx >= int64(interval) {
		s.mem = append(s.mem, indexEntry{rel: uint32(info.baseOffset - s.base), pos: uint32(pos), maxBefore: s.maxTime})
		s.lastIdx = pos
	}
	if info.maxTime > s.maxTime {
		s.maxTime = info.maxTime
	}
	s.next = info.lastOffset + 1
}

// sealIO writes the segment's index files and fsyncs them; the caller has
// fsynced the log. finishSeal, under partition.mu, then switches readers
// to the files.
func (s *segment) sealIO() error {
	if s.pendingIndex != nil { // a roll that failed after writing them
		s.pendingIndex.off.Close()
		s.pendingIndex.tim.Close()
		s.pendingIndex = nil
	}
	off, tim := encodeIndexes(s.mem, s.maxTime, uint32(s.next-s.base), s.size)
	offPath, timPath := s.indexPaths()
	of, err := writeSynced(s.fs, offPath, off)
	if err != nil {
		return err
	}
	tf, err := writeSynced(s.fs, timPath, tim)
	if err != nil {
		of.Close()
		return err
	}
	s.pendingIndex = &fileIndex{off: of, tim: tf, n: len(s.mem)}
	return nil
}

// finishSeal makes the segment read-only with its index read from files.
func (s *segment) finishSeal() {
	s.file, s.pendingIndex, s.mem, s.sealed = s.pendingIndex, nil, nil, true
}

// writeSynced creates path with data and fsyncs it, returning the file
// open for reading.
func writeSynced(fsys vfs.FS, path string, data []byte) (vfs.File, error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync %s: %w", path, err)
	}
	return f, nil
}

// loadSealedIndex opens a sealed segment's index files and checks them
// against the log file. An error means the index cannot be used: the
// caller rebuilds it by scanning. errLogSize means the index is sound but
// the log is not the size it was sealed at.
func (s *segment) loadSealedIndex() error {
	offPath, timPath := s.indexPaths()
	of, err := s.fs.OpenFile(offPath, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	tf, err := s.fs.OpenFile(timPath, os.O_RDONLY, 0)
	if err != nil {
		of.Close()
		return err
	}
	fi := &fileIndex{off: of, tim: tf}
	if err := s.checkIndex(fi); err != nil {
		of.Close()
		tf.Close()
		return err
	}
	s.file, s.sealed = fi, true
	return nil
}

// errLogSize: a sealed segment's index is intact but its log file is not
// the size it was sealed at (truncated or grown since).
type errLogSize struct {
	path       string
	size, want int64
}

func (e *errLogSize) Error() string {
	return fmt.Sprintf("%s is %d bytes, but it was sealed at %d bytes", e.path, e.size, e.want)
}

func (s *segment) checkIndex(fi *fileIndex) error {
	seal, err := readIndexes(fi.off, fi.tim)
	if err != nil {
		return err
	}
	if seal.logSize != s.size {
		return &errLogSize{path: s.path, size: s.size, want: seal.logSize}
	}
	fi.n = seal.entries
	if fi.n > 0 {
		last, err := fi.entry(fi.n - 1)
		if err != nil {
			return err
		}
		if int64(last.pos) >= s.size || last.rel >= seal.span {
			return fmt.Errorf("index entry points past the segment end")
		}
		if err := s.checkEntry(last); err != nil {
			return err
		}
	}
	s.maxTime, s.next = seal.maxTime, s.base+int64(seal.span)
	return nil
}

// checkEntry checks that the batch at an index entry's position has the
// entry's first offset. Entries are never at position 0.
func (s *segment) checkEntry(e indexEntry) error {
	var b [8]byte
	if _, err := s.readAt(b[:], int64(e.pos)); err != nil {
		return err
	}
	if e.pos == 0 || int64(binary.BigEndian.Uint64(b[:])) != s.base+int64(e.rel) {
		return fmt.Errorf("index entry (offset %d at byte %d) does not point at its batch", s.base+int64(e.rel), e.pos)
	}
	return nil
}

// release drops a reference; the last one closes the segment's files.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

func (s *segment) closeFiles() error {
	err := s.f.Close()
	for _, fi := range []*fileIndex{s.file, s.pendingIndex} { // pendingIndex: a roll failed after writing it
		if fi != nil {
			err = errors.Join(err, fi.off.Close(), fi.tim.Close())
		}
	}
	return err
}

// remove deletes the segment's files (the caller syncs the directory).
// The indexes go first: a crash part way leaves a log without an index,
// which recovery rebuilds, never an index file that nothing removes.
func (s *segment) remove() error {
	offPath, timPath := s.indexPaths()
	var errs []error
	for _, p := range []string{offPath, timPath, s.path} {
		if err := s.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readAt reads len(buf) bytes at pos, allowing a short read at the end.
func (s *segment) readAt(buf []byte, pos int64) (int, error) {
	n, err := s.f.ReadAt(buf, pos)
	if err == io.EOF {
		err = nil
	}
	return n, err
}
