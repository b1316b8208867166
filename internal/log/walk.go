package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/heraldevents/herald/internal/vfs"
)

// walk reads a whole segment for the offline tools (check and repair).
// Unlike the engine's scan, which stops at the first bad batch, it goes
// on past damage to the next good batch, so that every problem is found
// and the good batches after damage can be kept.

// walkedBatch is a good batch: whole, CRC-checked, continuing the offsets.
type walkedBatch struct {
	pos     int64
	info    batchInfo
	records int64 // NumRecords
}

// badRange is a run of bytes that holds no good batch.
type badRange struct {
	from, to int64 // bytes [from, to)
	kind     string
	reason   error
	lost     OffsetRange // the offsets whose records were in it, when known
	torn     bool        // an unfinished last write, which Open cuts
	unsynced bool        // torn: written after the last fsync, and lost in part to a power cut
	mended   bool        // a batch whose FirstOffset alone was damaged: kept, with the offset put right
}

// OffsetRange is the offsets [First, Last]; Known is false when the end
// cannot be told (damage at the end of the last segment).
type OffsetRange struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"` // meaningful when Known
	Known bool  `json:"known"`
}

func (r OffsetRange) String() string {
	switch {
	case !r.Known:
		return fmt.Sprintf("offsets from %d on (how many is unknown)", r.First)
	case r.First == r.Last:
		return fmt.Sprintf("offset %d", r.First)
	}
	return fmt.Sprintf("offsets %d to %d", r.First, r.Last)
}

// segWalk is what walkSegment found.
type segWalk struct {
	size    int64
	good    []walkedBatch
	bad     []badRange
	end     int64 // the offset the next batch must start at: after the last good batch or lost range
	maxTime int64 // max timestamp of the good batches, -1 if none
	records int64
}

// Kinds of problem the offline tools report. Part of `herald check
// --json` output.
const (
	kindBadCRC        = "bad_crc"        // a batch's CRC-32C does not match
	kindBadBatch      = "bad_batch"      // a batch's framing (length, magic, offset delta) is wrong
	kindOffsetBreak   = "offset_break"   // a batch does not continue the offsets before it
	kindOffsetGap     = "offset_gap"     // offsets are missing: bytes or files were removed
	kindTornTail      = "torn_tail"      // an unfinished last write; cut on open
	kindSizeMismatch  = "size_mismatch"  // a sealed segment is not the size it was sealed at
	kindIndexMismatch = "index_mismatch" // index files disagree with their segment; rebuilt on open
	kindMissingFile   = "missing_file"   // a file Herald needs is gone
	kindBadMetadata   = "bad_metadata"   // topic.json cannot be read or does not describe its topic
	kindReadError     = "read_error"     // the disk failed to read a file
	kindStrayFile     = "stray_file"     // a file Herald did not write where it keeps its own
)

// walkSegment reads the segment at path, whose first offset is base.
// nextBase is the next segment's base, or -1 for the last (active) segment.
// synced is, for the last segment, the length its sync mark says was
// fsynced, or -1: what is bad from there on Open cuts.
func walkSegment(fsys vfs.FS, path string, base, nextBase, synced int64) (segWalk, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return segWalk{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return segWalk{}, err
	}
	s := &segment{base: base, path: path, fs: fsys, f: f, size: st.Size(), marked: nextBase < 0 && synced >= 0, synced: synced}
	w := segWalk{size: s.size, end: base, maxTime: -1}
	c := &chunkReader{s: s, limit: s.size, fresh: true} // fresh: a batch outlives the look-ahead reads after it
	for pos := int64(0); pos < s.size; {
		info, batch, err := c.batch(pos)
		kind := w.judge(info, batch, err, nextBase)
		if kind != "" && kind != kindReadError && s.marked && pos >= s.synced {
			if err == nil {
				err = checkCRC(batch)
			}
			if err == nil {
				err = w.breakErr(info)
			}
			w.bad = append(w.bad, badRange{from: pos, to: s.size, kind: kindTornTail, torn: true, unsynced: true,
				reason: err, lost: OffsetRange{First: w.end}})
			break
		}
		switch kind {
		case "":
			w.add(pos, info, batch)
			pos += int64(info.size)
		case kindOffsetGap, kindOffsetBreak:
			fixed, ok := w.offsets(c, pos, info, s.size, nextBase)
			if !ok {
				pos = w.skip(s, c, pos, nextBase, badRange{from: pos, kind: kind, reason: w.breakErr(info)})
				continue
			}
			w.add(pos, fixed, batch)
			pos += int64(info.size)
		case kindReadError:
			w.bad = append(w.bad, badRange{from: pos, to: s.size, kind: kind, reason: err, lost: OffsetRange{First: w.end}})
			pos = s.size
		default:
			if err == nil {
				err = checkCRC(batch)
			}
			pos = w.skip(s, c, pos, nextBase, badRange{from: pos, kind: kind, reason: err})
		}
	}
	return w, nil
}

// judge says what is wrong with the batch c.batch returned (info, batch,
// err) where the walk stands: "" when nothing.
func (w *segWalk) judge(info batchInfo, batch []byte, err error, nextBase int64) string {
	switch {
	case isIOError(err):
		return kindReadError
	case err != nil:
		return kindBadBatch
	case checkCRC(batch) != nil:
		return kindBadCRC
	case info.baseOffset > w.end && (nextBase < 0 || info.lastOffset < nextBase):
		return kindOffsetGap
	case info.baseOffset != w.end || (nextBase >= 0 && info.lastOffset >= nextBase):
		return kindOffsetBreak
	}
	return ""
}

func (w *segWalk) breakErr(info batchInfo) error {
	return fmt.Errorf("batch offsets %d to %d do not continue the offsets before it (next is %d)", info.baseOffset, info.lastOffset, w.end)
}

// offsets decides about a whole batch at pos (its CRC holds) whose first
// offset does not continue the log. FirstOffset is the one field the CRC
// does not cover, so when what follows the batch continues from where the
// log stands plus the batch's records, the field is what was damaged: the
// batch is kept with its offsets put right, and the problem is reported as
// mended. When what follows continues from the batch's own offsets, the
// offsets in between are missing (a gap). Otherwise it reports false and
// the batch is skipped as damage.
func (w *segWalk) offsets(c *chunkReader, pos int64, info batchInfo, size, nextBase int64) (batchInfo, bool) {
	count := info.lastOffset - info.baseOffset + 1
	end := pos + int64(info.size)
	following, known := nextBase, nextBase >= 0 // the first offset of what follows the batch
	if end < size {
		h, err := parseBatchHeader(mustAt(c, end))
		following, known = h.baseOffset, err == nil || (errors.Is(err, errIncomplete) && h.baseOffset != 0)
	}
	lastOfActive := end >= size && nextBase < 0
	switch {
	case (known && following == w.end+count) || lastOfActive:
		w.bad = append(w.bad, badRange{from: pos, to: end, kind: kindOffsetBreak, mended: true,
			reason: fmt.Errorf("batch FirstOffset is %d, want %d (the field is not covered by the CRC; the batch is otherwise whole)", info.baseOffset, w.end)})
		info.lastOffset, info.baseOffset = w.end+count-1, w.end
		return info, true
	case info.baseOffset > w.end && info.baseOffset-w.end <= maxSpan(0) && known && following == info.lastOffset+1:
		w.bad = append(w.bad, badRange{from: pos, to: pos, kind: kindOffsetGap,
			reason: fmt.Errorf("batch starts at offset %d, want %d: the batches between are gone", info.baseOffset, w.end),
			lost:   OffsetRange{First: w.end, Last: info.baseOffset - 1, Known: true}})
		return info, true
	}
	return info, false
}

func (w *segWalk) add(pos int64, info batchInfo, batch []byte) {
	n := int64(int32(binary.BigEndian.Uint32(batch[57:])))
	w.good = append(w.good, walkedBatch{pos: pos, info: info, records: n})
	w.records += n
	w.end = info.lastOffset + 1
	w.maxTime = max(w.maxTime, info.maxTime)
}

// skip records the bad bytes from b.from up to the next good batch and
// returns where that batch starts (the end of the file if none does).
func (w *segWalk) skip(s *segment, c *chunkReader, from, nextBase int64, b badRange) int64 {
	next, info, found := resync(c, from+1, w.end, nextBase)
	b.to = next
	switch {
	case found:
		b.lost = OffsetRange{First: w.end, Last: info.baseOffset - 1, Known: true}
		w.end = info.baseOffset // the bad range accounts for the offsets before
	case nextBase >= 0:
		b.lost = OffsetRange{First: w.end, Last: nextBase - 1, Known: true}
	default:
		b.lost = tailLoss(c, from, w.end, s.size)
		h, _ := parseBatchHeader(mustAt(c, from))
		b.torn = s.classify(from, h, b.reason).torn
		if b.torn { // never acknowledged: no offsets were lost
			b.kind, b.lost = kindTornTail, OffsetRange{}
		}
	}
	if b.lost.Known && b.lost.Last < b.lost.First {
		b.lost = OffsetRange{} // the bytes held no offsets of the log
	}
	w.bad = append(w.bad, b)
	return next
}

// resync finds the first position at or after from where a good batch
// starts: whole, CRC-checked, with a first offset at or after want and,
// in a sealed segment, ending before nextBase; and followed by the end of
// the file or by a batch header that continues its offsets, so that a
// batch carried inside a record's value is not taken for one of the log.
func resync(c *chunkReader, from, want, nextBase int64) (int64, batchInfo, bool) {
	for pos := from; pos+batchHeaderSize <= c.limit; pos++ {
		b, err := c.at(pos, batchHeaderSize)
		if err != nil || len(b) < batchHeaderSize || b[16] != batchMagic {
			continue
		}
		if first := int64(binary.BigEndian.Uint64(b)); first < want || first-want > maxSpan(pos-from) || (nextBase >= 0 && first >= nextBase) {
			continue
		}
		info, batch, err := c.batch(pos)
		if err != nil || (nextBase >= 0 && info.lastOffset >= nextBase) || checkCRC(batch) != nil {
			continue
		}
		if !continued(c, pos+int64(info.size), info.lastOffset+1) {
			continue
		}
		return pos, info, true
	}
	return c.limit, batchInfo{}, false
}

// maxSpan is the most offsets n bytes of batches can cover: each batch,
// at least a header long, covers at most 2^31 offsets (an empty batch of
// a compacted segment). A jump in offsets beyond it is damage, not a gap.
func maxSpan(n int64) int64 {
	return (n/batchHeaderSize + 1) * math.MaxInt32
}

// continued reports whether the bytes at pos start with FirstOffset next,
// or are too few to tell (the end of the file, or a tail shorter than that
// field).
func continued(c *chunkReader, pos, next int64) bool {
	b := mustAt(c, pos)
	return len(b) < 8 || int64(binary.BigEndian.Uint64(b)) == next
}

// tailLoss says which offsets bad bytes at the end of the last segment
// held. Their batch's header is not covered by a good CRC, so it is
// believed only when it is plausible: it continues the offsets, runs
// exactly to the end of the file and holds as many records as its offset
// delta says, each of at least the smallest size a record can have.
func tailLoss(c *chunkReader, pos, want, size int64) OffsetRange {
	const minRecord = 7 // length, attributes, timestamp and offset deltas, key, value, header count
	info, err := parseBatchHeader(mustAt(c, pos))
	if err != nil && !errors.Is(err, errIncomplete) {
		return OffsetRange{First: want}
	}
	b := mustAt(c, pos)
	if len(b) < batchHeaderSize || info.baseOffset != want || pos+int64(info.size) != size {
		return OffsetRange{First: want}
	}
	n := int64(int32(binary.BigEndian.Uint32(b[57:])))
	if n != info.lastOffset-info.baseOffset+1 || n*minRecord > int64(info.size-batchHeaderSize) {
		return OffsetRange{First: want}
	}
	return OffsetRange{First: want, Last: info.lastOffset, Known: true}
}

// mustAt returns the bytes at pos, or none when they cannot be read.
func mustAt(c *chunkReader, pos int64) []byte {
	b, err := c.at(pos, batchHeaderSize)
	if err != nil {
		return nil
	}
	return b
}
