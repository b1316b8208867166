package log

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Fuzz targets for the engine's decoders of untrusted bytes: the record
// batch decoder of the read path, and segment recovery on Open.
//
//	go test ./internal/log -run='^$' -fuzz='^FuzzBatchDecode$' -fuzztime=60s
//	go test ./internal/log -run='^$' -fuzz='^FuzzSegmentRecovery$' -fuzztime=60s

// fuzzNow is the engine clock in fuzz targets, so encodings are
// reproducible.
var fuzzNow = time.UnixMilli(1_700_000_000_000)

const maxFuzzInput = 1 << 20

// FuzzBatchDecode feeds arbitrary bytes through the read path's decoders:
// parseBatchHeader, then checkCRC when the batch is complete, then
// decodeBatch when the CRC matches; and decodeBatch again with the CRC
// recomputed, so the fuzzer reaches the record decoder with damaged
// records too. None may panic. A batch produced by
// encodeBatch must decode to exactly the records encoded: checked for the
// seed batches as given, and for records built from the fuzz input itself.
func FuzzBatchDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	encoded := map[string][]storage.Record{}
	for i := 0; i < 8; i++ {
		recs := randomRecords(rng, 1+rng.IntN(6), 300)
		base := rng.Int64N(1 << 40)
		batch := encodeBatchAt(recs, base)
		encoded[string(batch)] = wantRecords(recs, base)
		f.Add(batch)
		f.Add(batch[:len(batch)-1-rng.IntN(len(batch)-1)]) // torn
	}
	f.Add([]byte{})
	f.Add(make([]byte, batchHeaderSize))
	f.Add(encodeBatchAt([]storage.Record{{}}, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input over 1 MiB")
		}
		recs, err := readPathDecode(data)
		if want, ok := encoded[string(data)]; ok {
			if err != nil {
				t.Fatalf("encoded batch does not decode: %v", err)
			}
			sameRecords(t, recs, want)
		}
		if err == nil {
			checkDecoded(t, data, recs)
		}
		if resealed := withCRC(data); resealed != nil {
			// Past the CRC, as if the damage had kept it matching.
			if recs, err := readPathDecode(resealed); err == nil {
				checkDecoded(t, resealed, recs)
			}
		}
		recs = scriptRecords(data)
		base := int64(binary.BigEndian.Uint64(append(bytes.Clone(data), make([]byte, 8)...))) >> 2
		got, err := readPathDecode(encodeBatchAt(recs, base))
		if err != nil {
			t.Fatalf("encoded batch of %d records does not decode: %v", len(recs), err)
		}
		sameRecords(t, got, wantRecords(recs, base))
	})
}

// readPathDecode decodes b the way the read path does: framing, then CRC,
// then records. It checks what the scanner relies on from the framing.
func readPathDecode(b []byte) ([]storage.Record, error) {
	info, err := parseBatchHeader(b)
	if errors.Is(err, errIncomplete) && len(b) >= lengthFieldEnd && info.size <= len(b) {
		panic(fmt.Sprintf("errIncomplete for a %d byte batch in %d bytes: the scanner would loop", info.size, len(b)))
	}
	if err != nil {
		return nil, fmt.Errorf("framing: %w", err)
	}
	if info.size < batchHeaderSize || info.size > len(b) || info.lastOffset < info.baseOffset {
		panic(fmt.Sprintf("framing accepted %+v in %d bytes", info, len(b)))
	}
	batch := b[:info.size]
	if err := checkCRC(batch); err != nil {
		return nil, err
	}
	return decodeBatch(nil, batch, math.MinInt64)
}

// withCRC returns a copy of the batch framed at the start of b with its
// CRC recomputed, or nil when b does not hold a well-framed batch.
func withCRC(b []byte) []byte {
	info, err := parseBatchHeader(b)
	if err != nil {
		return nil
	}
	batch := bytes.Clone(b[:info.size])
	binary.BigEndian.PutUint32(batch[crcOffset:], crc32.Checksum(batch[crcCoveredFrom:], castagnoli))
	return batch
}

// checkDecoded checks records decoded from a batch that passed its CRC:
// no more than the header announces, and they survive a round trip
// through encodeBatch.
func checkDecoded(t *testing.T, batch []byte, recs []storage.Record) {
	t.Helper()
	if n := int32(binary.BigEndian.Uint32(batch[57:])); len(recs) > int(max(n, 0)) {
		t.Fatalf("decoded %d records from a batch of %d", len(recs), n)
	}
	if len(recs) == 0 {
		return // the engine never writes an empty batch
	}
	for i := range recs {
		if recs[i].Timestamp.IsZero() {
			return // a zero timestamp means "now" to encodeBatch
		}
	}
	again, err := readPathDecode(encodeBatchAt(recs, 0))
	if err != nil {
		t.Fatalf("decoded records do not encode again: %v", err)
	}
	sameRecords(t, again, wantRecords(recs, 0))
}

// encodeBatchAt encodes recs as the engine does and gives the batch its
// first offset as the committer does.
func encodeBatchAt(recs []storage.Record, base int64) []byte {
	batch := encodeBatch(make([]byte, 0, batchSizeHint(recs)), recs, fuzzNow)
	binary.BigEndian.PutUint64(batch, uint64(base))
	return batch
}

// wantRecords is what reading back recs, stored from offset base, gives.
func wantRecords(recs []storage.Record, base int64) []storage.Record {
	want := make([]storage.Record, len(recs))
	for i, r := range recs {
		r.Offset = base + int64(i)
		r.Timestamp = time.UnixMilli(recordMillis(&r, fuzzNow))
		want[i] = r
	}
	return want
}

// sameRecords requires got to be want exactly: offsets, millisecond
// timestamps, keys and values (nil apart from empty) and headers.
func sameRecords(t testing.TB, got, want []storage.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if err := sameRecord(got[i], want[i]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func sameRecord(g, w storage.Record) error {
	switch {
	case g.Offset != w.Offset:
		return fmt.Errorf("offset %d, want %d", g.Offset, w.Offset)
	case g.Timestamp.UnixMilli() != w.Timestamp.UnixMilli():
		return fmt.Errorf("offset %d: timestamp %d ms, want %d", w.Offset, g.Timestamp.UnixMilli(), w.Timestamp.UnixMilli())
	case !sameBytes(g.Key, w.Key):
		return fmt.Errorf("offset %d: key %q (nil %v), want %q (nil %v)", w.Offset, g.Key, g.Key == nil, w.Key, w.Key == nil)
	case !sameBytes(g.Value, w.Value):
		return fmt.Errorf("offset %d: value %q (nil %v), want %q (nil %v)", w.Offset, g.Value, g.Value == nil, w.Value, w.Value == nil)
	case len(g.Headers) != len(w.Headers):
		return fmt.Errorf("offset %d: %d headers, want %d", w.Offset, len(g.Headers), len(w.Headers))
	}
	for j := range w.Headers {
		if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
			return fmt.Errorf("offset %d: header %d is %q=%q, want %q=%q", w.Offset, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
		}
	}
	return nil
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// randomRecords returns n records with nil, empty and filled keys, values
// and headers, some with a zero timestamp (stored as "now").
func randomRecords(rng *rand.Rand, n, maxLen int) []storage.Record {
	recs := make([]storage.Record, n)
	for i := range recs {
		r := &recs[i]
		r.Key, r.Value = randomBytes(rng, maxLen), randomBytes(rng, maxLen)
		for h := rng.IntN(3); h > 0; h-- {
			r.Headers = append(r.Headers, kmsg.Header{Key: fmt.Sprintf("h%d", rng.IntN(100)), Value: randomBytes(rng, maxLen)})
		}
		if rng.IntN(4) > 0 {
			r.Timestamp = fuzzNow.Add(time.Duration(rng.Int64N(1e6)-5e5) * time.Millisecond)
		}
	}
	return recs
}

func randomBytes(rng *rand.Rand, maxLen int) []byte {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, rng.IntN(maxLen))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// scriptRecords builds 1 to 8 records from fuzz bytes, so the fuzzer
// explores what encodeBatch must round-trip: nil, empty and long keys and
// values (long ones widen the record's length varint), headers, and
// timestamps from far past to far future, or zero.
func scriptRecords(data []byte) []storage.Record {
	s := &script{data: data}
	recs := make([]storage.Record, 1+s.byte()%8)
	for i := range recs {
		flags := s.byte()
		r := &recs[i]
		r.Key, r.Value = s.bytes(flags&3), s.bytes(flags>>2&3)
		for h := flags >> 4 & 3; h > 0; h-- {
			r.Headers = append(r.Headers, kmsg.Header{Key: string(s.bytes(2)), Value: s.bytes(s.byte() & 3)})
		}
		if flags&0x40 == 0 {
			r.Timestamp = time.UnixMilli(int64(s.uint64()) >> 14) // ±2^49 ms
		}
	}
	return recs
}

// script reads fuzz bytes as instructions; past the end it reads zeros.
type script struct {
	data []byte
	pos  int
}

func (s *script) byte() int {
	if s.pos >= len(s.data) {
		return 0
	}
	s.pos++
	return int(s.data[s.pos-1])
}

func (s *script) uint64() uint64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(s.byte())
	}
	return v
}

// bytes returns nil (mode 0), empty (1), short (2) or long (3) bytes.
func (s *script) bytes(mode int) []byte {
	switch mode {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	n := s.byte()
	if mode == 3 {
		n *= 37 // up to 9 KiB: 1, 2 and 3 byte length varints
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(s.byte())
	}
	return b
}

// recoveryFixture is a disk holding topic "t" with one partition whose
// only segment holds a few batches appended by the engine.
type recoveryFixture struct {
	disk    *faultfs.MemFS
	seg     []byte           // the segment file as the engine wrote it
	recs    []storage.Record // the records appended, at their offsets
	batches []batchAt        // the batches of seg
}

type batchAt struct {
	pos  int64
	info batchInfo
}

const fuzzSegPath = "/data/topics/t/0/00000000000000000000.log"

func fuzzOptions(fsys vfs.FS) Options {
	return Options{FS: fsys, RetentionInterval: -1, Now: func() time.Time { return fuzzNow }}
}

func newRecoveryFixture(tb testing.TB) *recoveryFixture {
	tb.Helper()
	fx := &recoveryFixture{disk: faultfs.New()}
	e, err := Open("/data", fuzzOptions(fx.disk))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := e.CreateTopic(ctx, "t", storage.TopicConfig{Partitions: 1}); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 6; i++ {
		recs := randomRecords(rng, 1+i%3, 12)
		bases, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: 0, Records: recs}})
		if err != nil {
			tb.Fatal(err)
		}
		fx.recs = append(fx.recs, wantRecords(recs, bases[0])...)
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
	fx.seg = readWhole(tb, fx.disk, fuzzSegPath)
	fx.batches = walkBatches(fx.seg)
	if len(fx.batches) != 6 {
		tb.Fatalf("fixture segment holds %d batches, want 6", len(fx.batches))
	}
	return fx
}

// walkBatches lists the well-framed batches at the start of seg.
func walkBatches(seg []byte) []batchAt {
	var out []batchAt
	for pos := int64(0); pos < int64(len(seg)); {
		info, err := parseBatchHeader(seg[pos:])
		if err != nil {
			break
		}
		out = append(out, batchAt{pos, info})
		pos += int64(info.size)
	}
	return out
}

func readWhole(tb testing.TB, fsys vfs.FS, path string) []byte {
	tb.Helper()
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		tb.Fatal(err)
	}
	return b
}

func writeWhole(tb testing.TB, fsys vfs.FS, path string, data []byte) {
	tb.Helper()
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		tb.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// Ways FuzzSegmentRecovery damages the fixture's segment.
const (
	segReplace = iota // the segment is the fuzz bytes
	segTail           // the engine's segment cut at a position, then the fuzz bytes
	segXor            // the engine's segment, fuzz bytes XORed in at a position
	segModes
)

// mutate returns the segment to recover and how many of the fixture's
// records lie in batches that are still byte for byte where they were.
func (fx *recoveryFixture) mutate(mode uint8, at uint32, data []byte) (seg []byte, intact int64) {
	switch mode % segModes {
	case segReplace:
		seg = bytes.Clone(data)
	case segTail:
		seg = append(bytes.Clone(fx.seg[:at%uint32(len(fx.seg)+1)]), data...)
	case segXor:
		seg = bytes.Clone(fx.seg)
		for i, x := range data[:min(len(data), len(seg))] {
			seg[(int(at%uint32(len(seg)))+i)%len(seg)] ^= x
		}
	}
	same := 0
	for same < min(len(seg), len(fx.seg)) && seg[same] == fx.seg[same] {
		same++
	}
	for _, b := range fx.batches {
		if b.pos+int64(b.info.size) <= int64(same) {
			intact = b.info.lastOffset + 1
		}
	}
	return seg, intact
}

// FuzzSegmentRecovery opens the engine over a partition whose only segment
// is arbitrary bytes, the engine's own segment cut at a fuzzed position and
// followed by arbitrary bytes, or the engine's segment with bytes flipped
// at a fuzzed position. Open must not panic or fail. Every Read from the
// start to the end offset returns records or an error wrapping
// storage.ErrCorrupt, and the records have offsets in [start, end),
// increasing; a record whose batch is still byte for byte in place reads
// back exactly as appended. An append either fails with
// storage.ErrUnavailable (the partition failed closed) or gets the end
// offset, and a second Open agrees with the first. One damaged byte before
// the last batch is never cut as a torn tail.
func FuzzSegmentRecovery(f *testing.F) {
	fx := newRecoveryFixture(f)
	last := fx.batches[len(fx.batches)-1]
	// Seeds are kept small: the fuzzer minimizes every new input it
	// finds, which takes time quadratic in its length.
	first := fx.seg[:fx.batches[1].pos]
	end := uint32(len(fx.seg))
	f.Add(uint8(segReplace), uint32(0), []byte{})
	f.Add(uint8(segReplace), uint32(0), make([]byte, 100))
	f.Add(uint8(segReplace), uint32(0), []byte("not a batch, not zeros"))
	f.Add(uint8(segReplace), uint32(0), first)
	f.Add(uint8(segReplace), uint32(0), first[:len(first)/2])
	f.Add(uint8(segTail), end, []byte{})
	f.Add(uint8(segTail), uint32(last.pos+7), []byte{}) // torn
	f.Add(uint8(segTail), uint32(last.pos+lengthFieldEnd), make([]byte, 20))
	f.Add(uint8(segTail), end, make([]byte, 7))
	f.Add(uint8(segTail), end, make([]byte, 300))
	f.Add(uint8(segTail), end, []byte("not a batch, not zeros"))
	f.Add(uint8(segTail), end, first) // a batch at the wrong offset
	gap := fx.seg[fx.batches[3].pos:fx.batches[4].pos]
	f.Add(uint8(segTail), uint32(fx.batches[2].pos), gap) // a batch missing
	next := bytes.Clone(first)
	binary.BigEndian.PutUint64(next, uint64(last.info.lastOffset+1))
	f.Add(uint8(segTail), end, next)               // a valid next batch
	f.Add(uint8(segTail), end, next[:len(next)/2]) // half of it
	for _, field := range []int64{0, 7, 9, 11, 12, 16, 17, 22, 26, 34, 57, 61, 70} {
		for _, b := range []batchAt{fx.batches[0], fx.batches[2], last} {
			f.Add(uint8(segXor), uint32(b.pos+field), []byte{0x01})
			f.Add(uint8(segXor), uint32(b.pos+field), []byte{0x80})
		}
	}
	f.Add(uint8(segXor), uint32(fx.batches[3].pos), []byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, mode uint8, at uint32, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input over 1 MiB")
		}
		seg, intact := fx.mutate(mode, at, data)
		disk := fx.disk.Clone()
		writeWhole(t, disk, fuzzSegPath, seg)
		end, appended, size := checkRecovery(t, disk, fx, intact, true)
		if mode%segModes == segXor && len(data) == 1 && int64(at%uint32(len(seg))) < last.pos && size != int64(len(seg)) {
			// One damaged byte before the last batch is damage to
			// acknowledged data, never a torn tail.
			t.Fatalf("recovery cut the segment from %d to %d bytes", len(seg), size)
		}
		if appended {
			end++
		}
		if again, _, _ := checkRecovery(t, disk, fx, intact, false); again != end {
			t.Fatalf("reopened with end offset %d, want %d", again, end)
		}
	})
}

// checkRecovery opens the engine on disk and checks what FuzzSegmentRecovery
// promises. It returns the end offset, whether an append was made, and the
// segment's size after Open.
func checkRecovery(t *testing.T, disk vfs.FS, fx *recoveryFixture, intact int64, tryAppend bool) (end int64, appended bool, size int64) {
	t.Helper()
	e, err := Open("/data", fuzzOptions(disk))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer e.Close()
	size = int64(len(readWhole(t, disk, fuzzSegPath)))
	ctx := context.Background()
	start, end, err := e.Offsets(ctx, "t", 0)
	if err != nil || start != 0 || end < intact {
		t.Fatalf("offsets %d to %d (%v); %d records are intact", start, end, err, intact)
	}
	for o := start; o < end && o < start+256; o++ {
		checkReadAt(t, e, o, end, fx, intact)
	}
	for _, o := range []int64{end, end + 1} {
		recs, err := e.Read(ctx, "t", 0, o, 10, 1<<20)
		if len(recs) > 0 || (err != nil && !errors.Is(err, storage.ErrCorrupt) && !errors.Is(err, storage.ErrOffsetOutOfRange)) {
			t.Fatalf("read at %d (end %d): %d records, %v", o, end, len(recs), err)
		}
	}
	if !tryAppend {
		return end, false, size
	}
	v := []byte(fmt.Sprintf("after %d", end))
	bases, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{{Value: v}}}})
	if err != nil {
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("append failed with %v, want storage.ErrUnavailable", err)
		}
		return end, false, size
	}
	if bases[0] != end {
		t.Fatalf("append at offset %d, want the end offset %d", bases[0], end)
	}
	recs, err := e.Read(ctx, "t", 0, end, 10, 1<<20)
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Value, v) {
		t.Fatalf("reading the append back: %v %v", recs, err)
	}
	return end, true, size
}

func checkReadAt(t *testing.T, e *Engine, o, end int64, fx *recoveryFixture, intact int64) {
	t.Helper()
	for _, maxN := range []int{1, 1000} {
		recs, err := e.Read(context.Background(), "t", 0, o, maxN, 1<<20)
		if err != nil {
			if !errors.Is(err, storage.ErrCorrupt) || o < intact {
				t.Fatalf("read at %d (%d intact): %v", o, intact, err)
			}
			continue
		}
		if len(recs) == 0 || len(recs) > maxN {
			t.Fatalf("read %d at %d (end %d): %d records and no error", maxN, o, end, len(recs))
		}
		for i, r := range recs {
			if r.Offset < o || r.Offset >= end || (i > 0 && r.Offset <= recs[i-1].Offset) {
				t.Fatalf("read at %d (end %d): record %d has offset %d", o, end, i, r.Offset)
			}
			if r.Offset < intact {
				if err := sameRecord(r, fx.recs[r.Offset]); err != nil {
					t.Fatalf("read at %d: intact record changed: %v", o, err)
				}
			}
		}
		if o < intact && recs[0].Offset != o {
			t.Fatalf("read at %d: first record has offset %d", o, recs[0].Offset)
		}
	}
}
