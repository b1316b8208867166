package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const scanChunk = 1 << 20

// scanResult is where a segment scan stopped and why.
type scanResult struct {
	end  int64 // position after the last good batch
	stop error // nil at a clean end of file
	torn bool  // stop is a torn tail (an unfinished last write), safe to cut
	// unsynced: stop is past the sync mark, a write made after the last
	// fsync that a power cut lost in part; torn too
	unsynced bool
}

// scan reads the whole segment from the start, checking each batch's
// framing, offset continuity and CRC, and rebuilds the writer state and the
// in-memory index. It stops at the first bad batch.
func (s *segment) scan(interval int) scanResult {
	s.next, s.maxTime, s.lastIdx, s.mem = s.base, -1, 0, nil
	c := &chunkReader{s: s, limit: s.size}
	pos := int64(0)
	for pos < s.size {
		info, batch, err := c.batch(pos)
		if err == nil && info.baseOffset != s.next {
			err = fmt.Errorf("batch offset %d, want %d", info.baseOffset, s.next)
		}
		if err == nil {
			err = checkCRC(batch)
		}
		if err != nil {
			return s.classify(pos, info, err)
		}
		s.noteBatch(pos, info, interval)
		pos += int64(info.size)
	}
	return scanResult{end: pos}
}

// chunkReader reads a segment through a window of at least scanChunk
// bytes, so scanning costs one read per chunk, not one per batch.
type chunkReader struct {
	s     *segment
	limit int64 // bytes of the file that may be read
	start int64 // file position of buf[0]
	buf   []byte
	chunk int  // read size; scanChunk when zero
	fresh bool // never reuse buf: records returned alias it
}

// at returns the bytes from pos, at least n of them unless the limit comes
// first.
func (c *chunkReader) at(pos int64, n int) ([]byte, error) {
	if pos >= c.start && pos+int64(n) <= c.start+int64(len(c.buf)) {
		return c.buf[pos-c.start:], nil
	}
	chunk := c.chunk
	if chunk == 0 {
		chunk = scanChunk
	}
	size := max(min(int64(max(n, chunk)), c.limit-pos), 0) // nothing past the limit
	if c.fresh || int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	c.buf = c.buf[:size]
	got, err := c.s.readAt(c.buf, pos)
	if err != nil {
		return nil, ioError{fmt.Errorf("read error: %w", err)}
	}
	c.start, c.buf = pos, c.buf[:got]
	return c.buf, nil
}

// batch returns the batch at pos: its header info and its bytes.
func (c *chunkReader) batch(pos int64) (batchInfo, []byte, error) {
	b, err := c.at(pos, lengthFieldEnd)
	if err != nil {
		return batchInfo{}, nil, err
	}
	info, err := parseBatchHeader(b)
	if errors.Is(err, errIncomplete) && info.size > len(b) {
		if b, err = c.at(pos, info.size); err != nil {
			return batchInfo{}, nil, err
		}
		info, err = parseBatchHeader(b)
	}
	if err != nil {
		return info, nil, err
	}
	return info, b[:info.size], nil
}

// classify decides whether a bad batch at pos is a torn tail (the last
// write of a crash, which may be cut) or corruption of acknowledged data
// (which must be reported, never cut).
func (s *segment) classify(pos int64, info batchInfo, err error) scanResult {
	r := scanResult{end: pos, stop: atByte(s.path, pos, err)}
	switch {
	case isIOError(err):
		// The disk could not say what is there: never cut on that.
	case s.marked && pos >= s.synced:
		// Written after the last fsync the mark records (in mode always,
		// the group being written, or one the tick has not marked yet):
		// the power cut lost part of it, and what follows cannot be trusted.
		r.torn, r.unsynced = true, true
	case errors.Is(err, errIncomplete), info.size > 0 && pos+int64(info.size) >= s.size:
		// The batch runs to or past the end of the file: the last write,
		// partly done, unless the batch is whole and only its framing is
		// damaged.
		r.torn = !s.wholeBatch(pos, info)
	default:
		r.torn = s.zeroFrom(pos) // space the file system extended but never filled
	}
	return r
}

// wholeBatch reports whether the batch at pos, which by its Length runs to
// or past the end of the file, is in fact whole: its CRC matches where the
// file ends or where the next batch (continuing its offsets) starts. A torn
// write is a prefix of its batch and has no such end, so it is still cut;
// a batch with a damaged Length or FirstOffset is not. A read error
// counts as whole: only what is known to be torn is cut.
func (s *segment) wholeBatch(pos int64, info batchInfo) bool {
	if s.size-pos < batchHeaderSize {
		return false
	}
	buf := make([]byte, s.size-pos) // less than the batch's Length, so at most maxBatchSize
	if n, err := s.readAt(buf, pos); err != nil || n < len(buf) {
		return true // unreadable: not provably torn, so not cut
	}
	want := binary.BigEndian.Uint32(buf[crcOffset:])
	whole := func(end int) bool { return crc32.Checksum(buf[crcCoveredFrom:end], castagnoli) == want }
	var next [8]byte
	binary.BigEndian.PutUint64(next[:], uint64(info.lastOffset+1))
	for end := batchHeaderSize; end < len(buf); end++ {
		i := bytes.Index(buf[end:], next[:])
		if i < 0 {
			break
		}
		if end += i; whole(end) {
			return true
		}
	}
	return whole(len(buf))
}

// zeroFrom reports whether every byte from pos to the end is zero (false
// when they cannot be read).
func (s *segment) zeroFrom(pos int64) bool {
	buf := make([]byte, 64<<10)
	for pos < s.size {
		n, err := s.readAt(buf, pos)
		if err != nil || n == 0 {
			return false
		}
		if !bytes.Equal(buf[:n], make([]byte, n)) {
			return false
		}
		pos += int64(n)
	}
	return true
}
