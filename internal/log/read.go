package log

import (
	"fmt"

	"github.com/heraldevents/herald/internal/storage"
)

// read returns records from offset on, at most maxN of them and about
// maxBytes of batch bytes, at least one record when any is readable. Every
// batch is CRC-checked before its records are served; a damaged batch ends
// the read with what came before it, or with ErrCorrupt when nothing did.
func (p *partition) read(offset int64, maxN, maxBytes int) ([]storage.Record, error) {
	segs, end, err := p.snapshot(offset)
	if err != nil {
		return nil, err
	}
	defer releaseAll(segs)
	if offset == end {
		if d := segs[len(segs)-1].damage; d != nil {
			return nil, errPastDamage(offset, d)
		}
		return nil, nil
	}
	var recs []storage.Record
	read := 0
	for _, s := range segs {
		if offset >= end || len(recs) >= maxN || (read >= maxBytes && len(recs) > 0) {
			break
		}
		recs, read, err = s.readFrom(recs, offset, maxN, maxBytes, read)
		if err != nil {
			if len(recs) > 0 {
				return recs, nil
			}
			return nil, err
		}
		if n := len(recs); n > 0 {
			offset = recs[n-1].Offset + 1
		}
	}
	if len(recs) > maxN {
		recs = recs[:maxN]
	}
	return recs, nil
}

// errPastDamage answers a read at or past the end of a partition whose
// active segment is damaged: the log goes on past the damage but cannot be
// read, which an empty read or ErrOffsetOutOfRange would hide.
func errPastDamage(offset int64, damage error) error {
	return damaged(fmt.Errorf("offset %d is at or past data that cannot be read: %w", offset, damage))
}

// readFrom appends the segment's records at or after offset to recs,
// stopping at maxN records or maxBytes bytes read (counting from read).
func (s segView) readFrom(recs []storage.Record, offset int64, maxN, maxBytes, read int) ([]storage.Record, int, error) {
	var e indexEntry
	var err error
	if offset >= s.base {
		e, err = floorByOffset(s.idx, uint32(offset-s.base))
	}
	if err != nil {
		return recs, read, damaged(ioError{err})
	}
	limit := s.limit
	c := &chunkReader{s: s.segment, limit: limit, fresh: true, chunk: min(max(maxBytes, 16<<10), scanChunk)}
	pos, want := s.landing(c, e)
	for pos < limit && len(recs) < maxN && (read < maxBytes || len(recs) == 0) {
		info, batch, err := c.batch(pos)
		if err == nil {
			err = checkBatch(info, batch, want)
		}
		if err != nil {
			return recs, read, damaged(atByte(s.path, pos, err))
		}
		if info.baseOffset >= s.next {
			break // bytes past the segment's last record are not data
		}
		pos, want = pos+int64(info.size), info.lastOffset+1
		if info.lastOffset < offset {
			continue
		}
		n := len(recs)
		if recs, err = decodeBatch(recs, batch, offset); err != nil {
			return recs[:n], read, damaged(atByte(s.path, pos-int64(info.size), err))
		}
		recs, read = budget(recs, n, read, maxN, maxBytes)
	}
	if pos >= limit && s.damage != nil && len(recs) < maxN {
		return recs, read, damaged(s.damage)
	}
	return recs, read, nil
}

// landing returns where a scan for index entry e's offset starts, and
// the first offset of the batch there: e's position, once the batch there
// is seen to have e's offset. An entry that does not point at its batch
// (an index damaged since it was checked, or the batch's FirstOffset
// damaged) is logged and the scan starts at the segment's start, which is
// slower but right, and meets the damage if it is in the log.
func (s segView) landing(c *chunkReader, e indexEntry) (int64, int64) {
	if e.pos == 0 {
		return 0, s.base
	}
	want := s.base + int64(e.rel)
	info, _, err := c.batch(int64(e.pos))
	if err == nil && info.baseOffset == want && int64(e.pos) < s.limit {
		return int64(e.pos), want
	}
	offPath, _ := s.indexPaths()
	s.logger.Error("index entry does not point at its batch; reading the segment from its start",
		"index", offPath, "offset", want, "byte", e.pos)
	return 0, s.base
}

// checkBatch checks what a reader checks of every batch: its CRC, and
// that its first offset continues the batches before it (the CRC does not
// cover FirstOffset).
func checkBatch(info batchInfo, batch []byte, want int64) error {
	if info.baseOffset != want {
		return fmt.Errorf("batch offset %d, want %d", info.baseOffset, want)
	}
	return checkCRC(batch)
}

// budget keeps the records from recs[n:] that fit: at most maxN in all,
// and no record after the bytes read reach maxBytes (the first record
// always fits). It returns the records kept and the bytes read.
func budget(recs []storage.Record, n, read, maxN, maxBytes int) ([]storage.Record, int) {
	for i := n; i < len(recs); i++ {
		if i >= maxN || (i > 0 && read >= maxBytes) {
			return recs[:i], read
		}
		read += recordBytes(&recs[i])
	}
	return recs, read
}

// recordBytes is a record's payload size: key, value and headers.
func recordBytes(r *storage.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// offsetForTime returns the first offset with a timestamp at or after ms,
// or the end offset.
func (p *partition) offsetForTime(ms int64) (int64, error) {
	segs, end, err := p.snapshotFromStart()
	if err != nil {
		return 0, err
	}
	defer releaseAll(segs)
	for _, s := range segs {
		if s.sealed && s.maxTime < ms {
			continue
		}
		off, found, err := s.offsetForTime(ms)
		if err != nil || found {
			return off, err
		}
	}
	return end, nil
}

func (s segView) offsetForTime(ms int64) (int64, bool, error) {
	e, err := floorByTime(s.idx, ms)
	if err != nil {
		return 0, false, damaged(ioError{err})
	}
	limit := s.limit
	c := &chunkReader{s: s.segment, limit: limit}
	for pos, want := s.landing(c, e); pos < limit; {
		info, batch, err := c.batch(pos)
		if err == nil {
			err = checkBatch(info, batch, want)
		}
		if err != nil {
			return 0, false, damaged(atByte(s.path, pos, err))
		}
		pos, want = pos+int64(info.size), info.lastOffset+1
		if info.maxTime < ms {
			continue
		}
		recs, err := decodeBatch(nil, batch, 0)
		if err != nil {
			return 0, false, damaged(atByte(s.path, pos-int64(info.size), err))
		}
		for _, r := range recs {
			if r.Timestamp.UnixMilli() >= ms {
				return r.Offset, true, nil
			}
		}
	}
	return 0, false, nil
}
