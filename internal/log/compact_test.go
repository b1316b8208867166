package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Engine-level tests of compaction: what the conformance suite cannot see
// (files, formats, the background trigger). Crash safety is in
// powercut_compact_test.go.

// testClock is a settable engine clock.
type testClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// warnings is a slog handler that keeps the messages of warnings and
// errors.
type warnings struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// compactEnv is an engine on an in-memory disk with topic "t": one
// compacted partition whose segments roll every few appends.
type compactEnv struct {
	t     *testing.T
	disk  *faultfs.MemFS
	clock *testClock
	warn  *warnings
	opts  Options
	e     *Engine
	all   []storage.Record // every record appended, at its offset
}

func newCompactEnv(t *testing.T, opts Options) *compactEnv {
	c := &compactEnv{t: t, disk: faultfs.New(), clock: newTestClock(), warn: &warnings{}}
	opts.FS, opts.Now, opts.Logger = c.disk, c.clock.Now, slog.New(c.warn)
	opts.RetentionInterval = -1
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = 200
	}
	c.opts = opts
	c.e = c.open()
	if err := c.e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *compactEnv) open() *Engine {
	c.t.Helper()
	e, err := Open("/data", c.opts)
	if err != nil {
		c.t.Fatalf("open: %v", err)
	}
	c.t.Cleanup(func() { e.Close() })
	return e
}

func (c *compactEnv) reopen() {
	c.t.Helper()
	if err := c.e.Close(); err != nil {
		c.t.Fatal(err)
	}
	c.e = c.open()
}

// put appends one record per key, in one append; an empty key is a nil
// key.
func (c *compactEnv) put(value string, keys ...string) {
	c.t.Helper()
	recs := make([]storage.Record, len(keys))
	for i, k := range keys {
		recs[i] = rec(k, fmt.Sprintf("%s-%s", k, value))
		if k == "" {
			recs[i].Key = nil
		}
	}
	c.append(recs...)
}

// del appends a tombstone of key.
func (c *compactEnv) del(key string) { c.append(storage.Record{Key: []byte(key)}) }

func (c *compactEnv) append(recs ...storage.Record) {
	c.t.Helper()
	bases, err := c.e.Append(context.Background(), "t", []storage.PartitionRecords{{Partition: 0, Records: recs}})
	if err != nil {
		c.t.Fatal(err)
	}
	for i := range recs {
		recs[i].Offset, recs[i].Timestamp = bases[0]+int64(i), c.clock.Now()
	}
	c.all = append(c.all, recs...)
}

// survivors is what a compaction now must leave: every record of the
// active segment, and in sealed ones the records without a key and each
// key's newest record (no tombstone has expired in these tests).
func (c *compactEnv) survivors() []int64 {
	segs := c.segments()
	active := segs[len(segs)-1]
	newest := map[string]int64{}
	for _, r := range c.all {
		if r.Key != nil {
			newest[string(r.Key)] = r.Offset
		}
	}
	var keep []int64
	for _, r := range c.all {
		if r.Offset >= active || r.Key == nil || newest[string(r.Key)] == r.Offset {
			keep = append(keep, r.Offset)
		}
	}
	return keep
}

func (c *compactEnv) compact() {
	c.t.Helper()
	if err := c.e.Compact(); err != nil {
		c.t.Fatalf("compact: %v", err)
	}
}

func (c *compactEnv) part() *partition { return c.e.topics["t"].parts[0] }

func (c *compactEnv) partDir() string { return filepath.Join("/data", topicsDir, "t", "0") }

func (c *compactEnv) segments() []int64 {
	c.t.Helper()
	p := &partition{dir: c.partDir(), opts: &Options{FS: c.disk}}
	bases, err := p.listSegments()
	if err != nil {
		c.t.Fatal(err)
	}
	return bases
}

// readAll reads the partition from its start, following gaps.
func (c *compactEnv) readAll() []storage.Record {
	c.t.Helper()
	start, end, err := c.e.Offsets(context.Background(), "t", 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []storage.Record
	for o := start; o < end; {
		recs, err := c.e.Read(context.Background(), "t", 0, o, 1000, 1<<20)
		if err != nil {
			c.t.Fatalf("read at %d: %v", o, err)
		}
		if len(recs) == 0 {
			break
		}
		out = append(out, recs...)
		o = recs[len(recs)-1].Offset + 1
	}
	return out
}

// want requires the partition to hold exactly the appended records at
// offsets keep.
func (c *compactEnv) want(keep ...int64) {
	c.t.Helper()
	var want []storage.Record
	for _, o := range keep {
		want = append(want, c.all[o])
	}
	sameRecords(c.t, c.readAll(), want)
}

func TestCompact_ActiveSegmentRecordsSupersedeSealedOnes(t *testing.T) {
	c := newCompactEnv(t, Options{})
	c.put("old", "a", "b")
	c.put("x", "c", "d", "e", "f") // rolls the first segment
	c.put("new", "a")
	if n := len(c.segments()); n != 2 {
		t.Fatalf("%d segments, want the first sealed and the active one", n)
	}
	c.compact()
	c.want(1, 2, 3, 4, 5, 6) // a-old (offset 0) is superseded by a-new in the active segment
}

func TestCompact_EmptiedSegmentsGoButTheFirstStays(t *testing.T) {
	c := newCompactEnv(t, Options{})
	for i := 0; i < 12; i++ {
		c.put(fmt.Sprint(i), "a", "b", "c")
	}
	c.put("last", "a", "b", "c")
	before := c.segments()
	if len(before) < 5 {
		t.Fatalf("%d segments, want 5 or more", len(before))
	}
	c.compact()
	end := int64(len(c.all))
	c.want(end-3, end-2, end-1)
	after := c.segments()
	if len(after) != 2 || after[0] != 0 || after[1] != before[len(before)-1] {
		t.Fatalf("segments %v after compaction, want the first and the active one of %v", after, before)
	}
	if start, e, err := c.e.Offsets(context.Background(), "t", 0); start != 0 || e != end || err != nil {
		t.Fatalf("offsets %d to %d (%v), want 0 to %d", start, e, err, end)
	}
	c.reopen()
	c.want(end-3, end-2, end-1)
	if w := c.warn.list(); len(w) > 0 {
		t.Fatalf("reopening a compacted partition logged %q; its indexes should have been sound", w)
	}
	c.put("more", "a")
	if got := c.all[len(c.all)-1].Offset; got != end {
		t.Fatalf("append after compaction at offset %d, want %d", got, end)
	}
}

// Every batch of a compacted segment starts where the one before it ended:
// gaps are inside batches, so the scanner's continuity check stays exact.
func TestCompact_RewrittenSegmentsKeepBatchesContiguous(t *testing.T) {
	c := newCompactEnv(t, Options{SegmentBytes: 2000})
	for i := 0; i < 20; i++ {
		c.put(fmt.Sprint(i), fmt.Sprint("k", i%3), fmt.Sprint("u", i), "")
	}
	keep := c.survivors()
	c.compact()
	segs := c.segments()
	for i, base := range segs[:len(segs)-1] {
		bs := walkBatches(readWhole(t, c.disk, filepath.Join(c.partDir(), segmentName(base)+".log")))
		next := base
		for _, b := range bs {
			if b.info.baseOffset != next {
				t.Fatalf("segment %d: batch at byte %d starts at offset %d, want %d", base, b.pos, b.info.baseOffset, next)
			}
			next = b.info.lastOffset + 1
		}
		if next != segs[i+1] {
			t.Fatalf("segment %d: batches end at %d, the next segment starts at %d", base, next, segs[i+1])
		}
	}
	c.want(keep...)
}

// A damaged FirstOffset in a compacted segment is still found: the index
// is rebuilt by scanning, and the scanner's continuity check catches it.
func TestCompact_DamagedFirstOffsetInACompactedSegmentIsReported(t *testing.T) {
	c := newCompactEnv(t, Options{SegmentBytes: 64 << 10})
	for i := 0; i < 60; i++ {
		big := rec(fmt.Sprint("u", i), strings.Repeat("x", 2000))
		c.append(rec("k", fmt.Sprint(i)), big)
	}
	c.compact()
	c.e.Close()
	seg := filepath.Join(c.partDir(), segmentName(0)+".log")
	bs := walkBatches(readWhole(t, c.disk, seg))
	if len(bs) < 3 {
		t.Fatalf("compacted segment holds %d batches, want 3 or more", len(bs))
	}
	victim := bs[len(bs)/2]
	data := readWhole(t, c.disk, seg)
	data[victim.pos+7] ^= 0x01
	writeWhole(t, c.disk, seg, data)
	offPath, timPath := (&segment{path: seg}).indexPaths()
	for _, p := range []string{offPath, timPath} {
		if err := c.disk.Remove(p); err != nil {
			t.Fatal(err)
		}
	}

	c.e = c.open()
	recs, err := c.e.Read(context.Background(), "t", 0, victim.info.baseOffset, 100, 1<<20)
	if len(recs) > 0 || !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", victim.pos)) {
		t.Fatalf("read at the damaged batch: %d records, %v; want ErrCorrupt at byte %d", len(recs), err, victim.pos)
	}
}

func TestCompact_UnfinishedCompactionFilesAreRemovedOnOpen(t *testing.T) {
	c := newCompactEnv(t, Options{})
	for i := 0; i < 6; i++ {
		c.put(fmt.Sprint(i), "a", "b")
	}
	c.e.Close()
	stem := filepath.Join(c.partDir(), segmentName(0))
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		writeWhole(t, c.disk, stem+ext+compactingSuffix, []byte("half a compaction"))
	}
	c.e = c.open()
	ents, err := c.disk.ReadDir(c.partDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), compactingSuffix) {
			t.Fatalf("%s is still there after open", e.Name())
		}
	}
	sameRecords(t, c.readAll(), c.all)
}

func TestCompact_BackgroundPassRunsOnlyWhenSomethingChanged(t *testing.T) {
	c := newCompactEnv(t, Options{})
	c.e.Close()
	var count faultfs.Counter
	c.opts.FS = faultfs.Wrap(c.disk, count.Inject)
	c.e = c.open()
	pass := func() int { // the reads and writes of one background pass
		before := count.Count(faultfs.OpRead) + count.Mutating()
		if err := c.e.compact(false); err != nil {
			t.Fatal(err)
		}
		return count.Count(faultfs.OpRead) + count.Mutating() - before
	}
	fill := func() {
		for i := 0; i < 6; i++ {
			c.put(fmt.Sprint(i), "a", "b")
		}
	}
	c.put("1", "a", "b")
	if n := pass(); n != 0 {
		t.Fatalf("a pass with nothing sealed did %d reads and writes", n)
	}
	fill()
	if n := pass(); n == 0 {
		t.Fatal("a pass after segments were sealed did nothing")
	}
	if n := pass(); n != 0 {
		t.Fatalf("a second pass with nothing new did %d reads and writes", n)
	}
	c.del("c")
	fill()
	if n := pass(); n == 0 {
		t.Fatal("a pass after the tombstone's segment was sealed did nothing")
	}
	if n := pass(); n != 0 {
		t.Fatalf("a pass before the tombstone expired did %d reads and writes", n)
	}
	c.clock.advance(defaultTombstoneRetention + time.Second)
	if n := pass(); n == 0 {
		t.Fatal("a pass after the tombstone expired did nothing")
	}
	for _, r := range c.readAll() {
		if string(r.Key) == "c" {
			t.Fatalf("the expired tombstone is still there at offset %d", r.Offset)
		}
	}
	if n := pass(); n != 0 {
		t.Fatalf("a pass after the tombstone was removed did %d reads and writes", n)
	}
}

// With fsync mode none, the active segment's records may not be on disk
// yet; compaction must make them durable before it removes the records
// they supersede.
func TestCompact_SyncsSupersedingRecordsFirst(t *testing.T) {
	c := newCompactEnv(t, Options{Sync: SyncNone})
	c.put("old", "a", "b")
	c.put("x", "c", "d", "e", "f")
	c.put("new", "a")
	c.compact()
	after := c.disk.Crash(faultfs.CrashOptions{})
	c.opts.FS = after
	e := c.open()
	c.e = e
	got := c.readAll()
	if len(got) == 0 || string(got[len(got)-1].Value) != "a-new" {
		t.Fatalf("after a crash right after compaction the partition holds %v; a-new must survive", got)
	}
}

func TestEncodeSpan_KeepsOffsetsAndTimestampsAndCoversTheSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	recs := randomRecords(rng, 5, 40)
	offsets := []int64{1000, 1001, 1007, 1500, 1_000_000}
	for i := range recs {
		recs[i].Offset = offsets[i]
		recs[i].Timestamp = fuzzNow.Add(time.Duration(i-2) * time.Hour)
	}
	for _, c := range []struct {
		name        string
		recs        []storage.Record
		first, last int64
	}{
		{"records with gaps", recs, 1000, 1_000_000},
		{"a leading and a trailing gap, the longest span", recs, 990, 990 + math.MaxInt32},
		{"no records", nil, 7, 7 + math.MaxInt32},
	} {
		t.Run(c.name, func(t *testing.T) {
			batch := encodeSpan(nil, c.recs, c.first, c.last)
			info, err := parseBatchHeader(batch)
			if err != nil || info.size != len(batch) || info.baseOffset != c.first || info.lastOffset != c.last {
				t.Fatalf("header %+v, %v; want offsets %d to %d in %d bytes", info, err, c.first, c.last, len(batch))
			}
			got, err := readPathDecode(batch)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, c.recs)
			if len(c.recs) == 0 && info.maxTime != -1 {
				t.Fatalf("an empty batch has MaxTimestamp %d, want -1", info.maxTime)
			}
		})
	}
}

// A gap longer than one batch can span (LastOffsetDelta is an int32) is
// covered by several batches; the batches stay contiguous to the end.
func TestSegmentWriter_CoversGapsLongerThanABatchCanSpan(t *testing.T) {
	disk := faultfs.New()
	if err := disk.MkdirAll("/p", 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{FS: disk}.withDefaults()
	p := &partition{dir: "/p", opts: &opts}
	const base, end = int64(100), int64(100 + 1<<32 - 1)
	w, err := newSegmentWriter(p, &segment{base: base, path: "/p/" + segmentName(base) + ".log"})
	if err != nil {
		t.Fatal(err)
	}
	recs := randomRecords(rand.New(rand.NewPCG(1, 1)), 4, 30)
	for i, o := range []int64{base + 5, base + 6, base + 3<<30, end - 10} {
		recs[i].Offset, recs[i].Timestamp = o, fuzzNow
		if err := w.add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(end); err != nil {
		t.Fatal(err)
	}
	seg := readWhole(t, disk, w.paths[0])
	next := base
	for _, b := range walkBatches(seg) {
		if b.info.baseOffset != next {
			t.Fatalf("batch at byte %d starts at offset %d, want %d", b.pos, b.info.baseOffset, next)
		}
		next = b.info.lastOffset + 1
	}
	if next != end {
		t.Fatalf("batches end at offset %d, want %d", next, end)
	}
	var got []storage.Record
	for _, b := range walkBatches(seg) {
		got, err = decodeBatch(got, seg[b.pos:b.pos+int64(b.info.size)], 0)
		if err != nil {
			t.Fatal(err)
		}
	}
	sameRecords(t, got, recs)
}
