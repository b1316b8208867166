package log

import (
	"encoding/binary"
	"fmt"
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
// order and maxBefore never decreases. The time index has one more entry
// than the offset index, a trailer (segment max time, offset span: the
// segment's end offset minus its base).
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

// floorByOffset returns the position of the last entry with rel <= rel, or
// 0 (the segment start) when there is none.
func floorByOffset(idx sparseIndex, rel uint32) (int64, error) {
	return floor(idx, func(e indexEntry) bool { return e.rel > rel })
}

// floorByTime returns the position of the last entry whose maxBefore < ms:
// no record before it can have a timestamp >= ms.
func floorByTime(idx sparseIndex, ms int64) (int64, error) {
	return floor(idx, func(e indexEntry) bool { return e.maxBefore >= ms })
}

// floor returns the position of the last entry before the first one for
// which past is true (past must be false, then true, along the index), or
// 0 when there is none.
func floor(idx sparseIndex, past func(indexEntry) bool) (int64, error) {
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
		return 0, err
	}
	e, err := idx.entry(i - 1)
	return int64(e.pos), err
}

// encodeIndexes renders the two index files of a segment being sealed.
func encodeIndexes(entries []indexEntry, maxTime int64, span uint32) (off, tim []byte) {
	off = make([]byte, 0, len(entries)*offsetEntrySize)
	tim = make([]byte, 0, (len(entries)+1)*timeEntrySize)
	for _, e := range entries {
		off = binary.BigEndian.AppendUint32(off, e.rel)
		off = binary.BigEndian.AppendUint32(off, e.pos)
		tim = binary.BigEndian.AppendUint64(tim, uint64(e.maxBefore))
		tim = binary.BigEndian.AppendUint32(tim, e.rel)
	}
	tim = binary.BigEndian.AppendUint64(tim, uint64(maxTime))
	tim = binary.BigEndian.AppendUint32(tim, span)
	return off, tim
}

// readTrailer reads the time index trailer of a sealed segment: its max
// timestamp and its offset span (end offset minus base).
func readTrailer(tim vfs.File, size int64) (maxTime int64, span uint32, err error) {
	if size < timeEntrySize || size%timeEntrySize != 0 {
		return 0, 0, fmt.Errorf("%s: size %d is not a whole number of entries", tim.Name(), size)
	}
	var tb [timeEntrySize]byte
	if _, err := tim.ReadAt(tb[:], size-timeEntrySize); err != nil && err != io.EOF {
		return 0, 0, fmt.Errorf("read %s trailer: %w", tim.Name(), err)
	}
	return int64(binary.BigEndian.Uint64(tb[0:])), binary.BigEndian.Uint32(tb[8:]), nil
}
