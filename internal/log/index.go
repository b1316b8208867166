package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"

	"github.com/heraldevents/herald/internal/vfs"
)

// Index entry sizes. Part of the on-disk format.
const (
	offsetEntrySize = 8  // rel uint32, pos uint32
	timeEntrySize   = 12 // maxTimeBefore int64, rel uint32
)

// indexEntry marks a batch boundary inside a segment: the batch starting at
// byte pos has first offset base+rel, and every record before it has a
// timestamp <= maxBefore (ms).
type indexEntry struct {
	rel       uint32
	pos       uint32
	maxBefore int64
}

// sparseIndex is a segment's index: in memory for the active segment, in
// two files (.index and .timeindex) for sealed ones. Entries are in offset
// order and maxBefore never decreases. The time index has two more entries
// than the offset index: a trailer (segment max time, offset span: the
// segment's end offset minus its base) and a seal (log size, checksums).
type sparseIndex interface {
	// count is the number of offset entries.
	count() int
	// entry returns offset entry i with its time.
	entry(i int) (indexEntry, error)
}

type memIndex []indexEntry

func (m memIndex) count() int                      { return len(m) }
func (m memIndex) entry(i int) (indexEntry, error) { return m[i], nil }

// fileIndex reads a sealed segment's index files on demand, so indexes are
// never held wholly in memory.
type fileIndex struct {
	off, tim vfs.File
	n        int
}

func (f *fileIndex) count() int { return f.n }

func (f *fileIndex) entry(i int) (indexEntry, error) {
	var ob [offsetEntrySize]byte
	var tb [timeEntrySize]byte
	if _, err := f.off.ReadAt(ob[:], int64(i)*offsetEntrySize); err != nil {
		return indexEntry{}, fmt.Errorf("read %s entry %d: %w", f.off.Name(), i, err)
	}
	if _, err := f.tim.ReadAt(tb[:], int64(i)*timeEntrySize); err != nil {
		return indexEntry{}, fmt.Errorf("read %s entry %d: %w", f.tim.Name(), i, err)
	}
	return indexEntry{
		rel:       binary.BigEndian.Uint32(ob[0:]),
		pos:       binary.BigEndian.Uint32(ob[4:]),
		maxBefore: int64(binary.BigEndian.Uint64(tb[0:])),
	}, nil
}

// floorByOffset returns the last entry with rel <= rel, or the zero entry
// (the segment start) when there is none.
func floorByOffset(idx sparseIndex, rel uint32) (indexEntry, error) {
	return floor(idx, func(e indexEntry) bool { return e.rel > rel })
}

// floorByTime returns the last entry whose maxBefore < ms: no record before
// it can have a timestamp >= ms.
func floorByTime(idx sparseIndex, ms int64) (indexEntry, error) {
	return floor(idx, func(e indexEntry) bool { return e.maxBefore >= ms })
}

// floor returns the last entry before the first one for which past is
// true (past must be false, then true, along the index), or the zero
// entry when there is none.
func floor(idx sparseIndex, past func(indexEntry) bool) (indexEntry, error) {
	var err error
	i := sort.Search(idx.count(), func(i int) bool {
		e, e2 := idx.entry(i)
		if e2 != nil {
			err = e2
			return true
		}
		return past(e)
	})
	if err != nil || i == 0 {
		return indexEntry{}, err
	}
	return idx.entry(i - 1)
}

// encodeIndexes renders the two index files of a sealed segment of
// logSize bytes whose offsets span span (its end offset minus its base).
func encodeIndexes(entries []indexEntry, maxTime int64, span uint32, logSize int64) (off, tim []byte) {
	off = make([]byte, 0, len(entries)*offsetEntrySize)
	tim = make([]byte, 0, (len(entries)+2)*timeEntrySize)
	for _, e := range entries {
		off = binary.BigEndian.AppendUint32(off, e.rel)
		off = binary.BigEndian.AppendUint32(off, e.pos)
		tim = binary.BigEndian.AppendUint64(tim, uint64(e.maxBefore))
		tim = binary.BigEndian.AppendUint32(tim, e.rel)
	}
	tim = binary.BigEndian.AppendUint64(tim, uint64(maxTime))
	tim = binary.BigEndian.AppendUint32(tim, span)
	tim = binary.BigEndian.AppendUint32(tim, uint32(logSize))
	tim = binary.BigEndian.AppendUint32(tim, crc32.Checksum(off, castagnoli))
	return off, binary.BigEndian.AppendUint32(tim, crc32.Checksum(tim, castagnoli))
}

// indexSeal is what the end of a time index says about its segment.
type indexSeal struct {
	maxTime int64  // the segment's max record timestamp (ms), -1 if none
	span    uint32 // end offset minus base
	logSize int64  // bytes of the .log file when it was sealed
	entries int    // offset index entries
}

// readIndexes reads a sealed segment's two index files whole and checks
// their sizes and checksums. Any error means the files cannot be trusted
// (the caller rebuilds them); it never means the log is damaged.
func readIndexes(off, tim vfs.File) (indexSeal, error) {
	ob, err := readAll(off)
	if err != nil {
		return indexSeal{}, err
	}
	tb, err := readAll(tim)
	if err != nil {
		return indexSeal{}, err
	}
	return parseIndexes(ob, tb, off.Name(), tim.Name())
}

// parseIndexes checks the bytes of a segment's .index and .timeindex.
func parseIndexes(ob, tb []byte, offName, timName string) (indexSeal, error) {
	n := len(ob) / offsetEntrySize
	if len(ob)%offsetEntrySize != 0 {
		return indexSeal{}, &indexError{offName, fmt.Errorf("size %d is not a whole number of entries", len(ob))}
	}
	if len(tb) != (n+2)*timeEntrySize {
		return indexSeal{}, &indexError{timName, fmt.Errorf("size %d, want %d for the %d entries of its .index", len(tb), (n+2)*timeEntrySize, n)}
	}
	seal := tb[len(tb)-timeEntrySize:]
	if got, want := crc32.Checksum(tb[:len(tb)-4], castagnoli), binary.BigEndian.Uint32(seal[8:]); got != want {
		return indexSeal{}, &indexError{timName, fmt.Errorf("checksum mismatch: stored %08x, computed %08x", want, got)}
	}
	if got, want := crc32.Checksum(ob, castagnoli), binary.BigEndian.Uint32(seal[4:]); got != want {
		return indexSeal{}, &indexError{offName, fmt.Errorf("checksum mismatch: its .timeindex says %08x, computed %08x", want, got)}
	}
	trailer := tb[len(tb)-2*timeEntrySize:]
	return indexSeal{
		maxTime: int64(binary.BigEndian.Uint64(trailer[0:])),
		span:    binary.BigEndian.Uint32(trailer[8:]),
		logSize: int64(binary.BigEndian.Uint32(seal[0:])),
		entries: n,
	}, nil
}

// indexError says which index file cannot be trusted, and why.
type indexError struct {
	path string
	err  error
}

func (e *indexError) Error() string { return e.path + ": " + e.err.Error() }
func (e *indexError) Unwrap() error { return e.err }

// readAll reads a whole (small) file.
func readAll(f vfs.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if st.Size() > maxIndexFile {
		return nil, fmt.Errorf("%s: %d bytes is more than any index of a segment holds", f.Name(), st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return b, nil
}

// maxIndexFile bounds an index file's size: a segment's positions are
// uint32, and an entry marks at least one batch of 61 bytes or more.
const maxIndexFile = (1<<32)/batchHeaderSize*timeEntrySize + 2*timeEntrySize
