package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldevents/herald/internal/storage"
)

// Kafka v2 record batch layout. These constants are part of the on-disk
// format (see the package comment).
const (
	batchHeaderSize = 61 // bytes before the first record
	lengthFieldEnd  = 12 // FirstOffset (8) + Length (4); Length counts what follows
	crcOffset       = 17 // position of the CRC field
	crcCoveredFrom  = 21 // CRC-32C covers Attributes .. end of batch
	batchMagic      = 2
	// maxBatchSize bounds the Length field a reader will trust; anything
	// larger is framing damage, not data.
	maxBatchSize = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchInfo is what the engine needs from a batch header without decoding
// its records.
type batchInfo struct {
	baseOffset int64
	size       int   // whole batch, header included
	lastOffset int64 // baseOffset + LastOffsetDelta
	maxTime    int64 // MaxTimestamp, ms
}

// encodeBatch encodes records as one uncompressed Kafka v2 record batch
// with FirstOffset 0; the committer patches the offset (which the CRC does
// not cover) when it assigns one. A zero Timestamp means now.
func encodeBatch(dst []byte, recs []storage.Record, now time.Time) []byte {
	first, maxTs := timestamps(recs, now)
	return appendBatch(dst, recs, batchShape{lastDelta: int32(len(recs) - 1), firstTs: first, maxTs: maxTs}, now)
}

// encodeSpan encodes a batch of compacted records that keep their offsets
// and timestamps: FirstOffset first, each record's OffsetDelta its Offset
// minus first, LastOffsetDelta last minus first. recs must have offsets in
// [first, last], increasing, and last-first must fit an int32. With no
// records it is an empty batch (NumRecords 0, timestamps -1) that only
// carries the offsets [first, last] forward: the gap some removed records
// left.
func encodeSpan(dst []byte, recs []storage.Record, first, last int64) []byte {
	shape := batchShape{first: first, lastDelta: int32(last - first), firstTs: -1, maxTs: -1, keepOffsets: true}
	if len(recs) > 0 {
		// Stored records never have a zero Timestamp, so now is not used.
		shape.firstTs, shape.maxTs = timestamps(recs, time.Time{})
	}
	return appendBatch(dst, recs, shape, time.Time{})
}

// batchShape is what varies between the batches the engine writes.
type batchShape struct {
	first          int64 // FirstOffset
	lastDelta      int32 // LastOffsetDelta
	firstTs, maxTs int64 // FirstTimestamp and MaxTimestamp, ms
	keepOffsets    bool  // record i's OffsetDelta is its Offset-first, not i
}

func appendBatch(dst []byte, recs []storage.Record, shape batchShape, now time.Time) []byte {
	start := len(dst)
	b := kmsg.RecordBatch{
		FirstOffset:     shape.first,
		Magic:           batchMagic,
		LastOffsetDelta: shape.lastDelta,
		FirstTimestamp:  shape.firstTs,
		MaxTimestamp:    shape.maxTs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
	}
	dst = b.AppendTo(dst)
	for i := range recs {
		delta := int32(i)
		if shape.keepOffsets {
			delta = int32(recs[i].Offset - shape.first)
		}
		dst = appendRecord(dst, &recs[i], delta, shape.firstTs, now)
	}
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-lengthFieldEnd))
	binary.BigEndian.PutUint32(batch[crcOffset:], crc32.Checksum(batch[crcCoveredFrom:], castagnoli))
	return dst
}

func timestamps(recs []storage.Record, now time.Time) (first, max int64) {
	for i := range recs {
		ts := recordMillis(&recs[i], now)
		if i == 0 {
			first = ts
		}
		if i == 0 || ts > max {
			max = ts
		}
	}
	return first, max
}

func recordMillis(r *storage.Record, now time.Time) int64 {
	if r.Timestamp.IsZero() {
		return now.UnixMilli()
	}
	return r.Timestamp.UnixMilli()
}

// batchSizeHint is an upper bound of encodeBatch's output for recs, so
// the batch is built in one allocation.
func batchSizeHint(recs []storage.Record) int {
	n := batchHeaderSize
	for i := range recs {
		r := &recs[i]
		n += 3*binary.MaxVarintLen64 + 1 + len(r.Key) + len(r.Value) + binary.MaxVarintLen32
		for _, h := range r.Headers {
			n += 2*binary.MaxVarintLen32 + len(h.Key) + len(h.Value)
		}
	}
	return n
}

// appendRecord encodes one record with its varint length prefix. The body
// is encoded once after a one-byte length placeholder, then the prefix is
// widened in place when the body needs a longer varint.
func appendRecord(dst []byte, r *storage.Record, delta int32, first int64, now time.Time) []byte {
	p := len(dst)
	rec := kmsg.Record{
		TimestampDelta64: recordMillis(r, now) - first,
		OffsetDelta:      delta,
		Key:              r.Key,
		Value:            r.Value,
		Headers:          r.Headers,
	}
	dst = rec.AppendTo(dst) // Length 0 encodes as one byte
	body := len(dst) - p - 1
	var prefix [binary.MaxVarintLen32]byte
	n := binary.PutVarint(prefix[:], int64(body))
	if n > 1 {
		dst = append(dst, prefix[:n-1]...)
		copy(dst[p+n:], dst[p+1:p+1+body])
	}
	copy(dst[p:], prefix[:n])
	return dst
}

// parseBatchHeader reads and checks a batch's framing (not its CRC) from
// the start of b. It needs only the first lengthFieldEnd bytes to learn the
// size; errIncomplete means b ends before the batch does.
func parseBatchHeader(b []byte) (batchInfo, error) {
	if len(b) < lengthFieldEnd {
		return batchInfo{}, errIncomplete
	}
	length := int32(binary.BigEndian.Uint32(b[8:]))
	if length < batchHeaderSize-lengthFieldEnd || length > maxBatchSize {
		return batchInfo{}, fmt.Errorf("batch length %d out of range", length)
	}
	size := int(length) + lengthFieldEnd
	if len(b) < batchHeaderSize {
		return batchInfo{size: size}, errIncomplete
	}
	if b[16] != batchMagic {
		return batchInfo{}, fmt.Errorf("batch magic %d, want %d", b[16], batchMagic)
	}
	info := batchInfo{
		baseOffset: int64(binary.BigEndian.Uint64(b[0:])),
		size:       size,
		maxTime:    int64(binary.BigEndian.Uint64(b[35:])),
	}
	delta := int32(binary.BigEndian.Uint32(b[23:]))
	if delta < 0 {
		return batchInfo{}, fmt.Errorf("batch last offset delta %d is negative", delta)
	}
	info.lastOffset = info.baseOffset + int64(delta)
	if len(b) < size {
		return info, errIncomplete
	}
	return info, nil
}

// checkCRC verifies a whole batch's CRC-32C.
func checkCRC(batch []byte) error {
	want := binary.BigEndian.Uint32(batch[crcOffset:])
	if got := crc32.Checksum(batch[crcCoveredFrom:], castagnoli); got != want {
		return fmt.Errorf("batch CRC mismatch: stored %08x, computed %08x", want, got)
	}
	return nil
}

// decodeBatch decodes the records of one CRC-checked batch, appending those
// at or after offset min to dst. The records alias batch's memory.
func decodeBatch(dst []storage.Record, batch []byte, min int64) ([]storage.Record, error) {
	var b kmsg.RecordBatch
	if err := b.UnsafeReadFrom(batch); err != nil {
		return dst, fmt.Errorf("batch header: %w", err)
	}
	if b.Attributes&0x07 != 0 {
		return dst, fmt.Errorf("batch compression %d is not supported", b.Attributes&0x07)
	}
	src := b.Records
	for i := int32(0); i < b.NumRecords; i++ {
		var rec kmsg.Record
		n, err := readRecord(&rec, src)
		if err != nil {
			return dst, fmt.Errorf("record %d: %w", i, err)
		}
		src = src[n:]
		off := b.FirstOffset + int64(rec.OffsetDelta)
		if off < min {
			continue
		}
		dst = append(dst, storage.Record{
			Offset:    off,
			Timestamp: time.UnixMilli(b.FirstTimestamp + rec.TimestampDelta64),
			Key:       rec.Key,
			Value:     rec.Value,
			Headers:   rec.Headers,
		})
	}
	return dst, nil
}

// readRecord decodes one length-prefixed record from src and returns how
// many bytes it used.
func readRecord(rec *kmsg.Record, src []byte) (int, error) {
	body, n := binary.Varint(src)
	if n <= 0 || body < 0 || int64(len(src)-n) < body {
		return 0, fmt.Errorf("record length out of range")
	}
	total := n + int(body)
	if err := rec.UnsafeReadFrom(src[:total]); err != nil {
		return 0, err
	}
	return total, nil
}
