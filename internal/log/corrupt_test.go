package log

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Tests of what the engine does with damaged files: damage to
// acknowledged data is reported with its file and byte position and never
// cut or served; a torn tail is cut; indexes are rebuilt.

// testDisk is a file system the corruption tests run on.
type testDisk struct {
	name string
	make func(t *testing.T) (vfs.FS, string) // the file system and a data directory
}

var testDisks = []testDisk{
	{"os", func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() }},
	{"mem", func(t *testing.T) (vfs.FS, string) { return faultfs.New(), "/data" }},
}

// corruptEnv is one engine's data directory with topic "t" of one
// partition, and the records appended to it.
type corruptEnv struct {
	t    *testing.T
	fs   vfs.FS
	dir  string
	opts Options
	recs []storage.Record // at their offsets
}

var corruptEpoch = time.UnixMilli(1_700_000_000_000)

func newCorruptEnv(t *testing.T, d testDisk, opts Options) *corruptEnv {
	c := &corruptEnv{t: t, opts: opts}
	c.fs, c.dir = d.make(t)
	c.opts.FS, c.opts.RetentionInterval = c.fs, -1
	// The clock agrees with the records' timestamps, or every append would
	// roll the segment by age.
	c.opts.Now = func() time.Time { return corruptEpoch.Add(time.Hour) }
	e := c.open()
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *corruptEnv) open() *Engine {
	c.t.Helper()
	e, err := Open(c.dir, c.opts)
	if err != nil {
		c.t.Fatalf("open: %v", err)
	}
	c.t.Cleanup(func() { e.Close() })
	return e
}

func (c *corruptEnv) reopen(e *Engine) *Engine {
	c.t.Helper()
	if err := e.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.open()
}

// fill appends batches of perBatch records each, one append a batch. Each
// record has its own timestamp, 10 ms after the one before.
func (c *corruptEnv) fill(e *Engine, batches, perBatch int) {
	c.t.Helper()
	for b := 0; b < batches; b++ {
		recs := make([]storage.Record, perBatch)
		for i := range recs {
			o := len(c.recs) + i
			recs[i] = storage.Record{
				Key:       []byte(fmt.Sprintf("key-%04d", o)),
				Value:     []byte(fmt.Sprintf("value-%04d-%s", o, strings.Repeat("x", 24))),
				Headers:   []kmsg.Header{{Key: "ce_id", Value: []byte(fmt.Sprint(o))}},
				Timestamp: corruptEpoch.Add(time.Duration(o) * 10 * time.Millisecond),
			}
		}
		bases, err := e.Append(context.Background(), "t", []storage.PartitionRecords{{Partition: 0, Records: recs}})
		if err != nil {
			c.t.Fatal(err)
		}
		for i := range recs {
			recs[i].Offset = bases[0] + int64(i)
		}
		c.recs = append(c.recs, recs...)
	}
}

func (c *corruptEnv) partDir() string { return filepath.Join(c.dir, topicsDir, "t", "0") }

func (c *corruptEnv) segPath(base int64) string {
	return filepath.Join(c.partDir(), segmentName(base)+".log")
}

// segments returns the base offsets of the partition's segment files.
func (c *corruptEnv) segments() []int64 {
	c.t.Helper()
	p := &partition{dir: c.partDir(), opts: &Options{FS: c.fs}}
	bases, err := p.listSegments()
	if err != nil {
		c.t.Fatal(err)
	}
	return bases
}

func (c *corruptEnv) batches(base int64) []batchAt {
	return walkBatches(readWhole(c.t, c.fs, c.segPath(base)))
}

func (c *corruptEnv) size(path string) int64 {
	c.t.Helper()
	st, err := c.fs.Stat(path)
	if err != nil {
		c.t.Fatal(err)
	}
	return st.Size()
}

// flip XORs mask into the bytes at pos of path, behind the engine's back.
func (c *corruptEnv) flip(path string, pos int64, mask ...byte) {
	c.t.Helper()
	f, err := c.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, len(mask))
	if _, err := f.ReadAt(b, pos); err != nil {
		c.t.Fatal(err)
	}
	for i := range b {
		b[i] ^= mask[i]
	}
	if _, err := f.WriteAt(b, pos); err != nil {
		c.t.Fatal(err)
	}
}

func (c *corruptEnv) read(e *Engine, offset int64, maxN int) ([]storage.Record, error) {
	return e.Read(context.Background(), "t", 0, offset, maxN, 1<<20)
}

func (c *corruptEnv) append(e *Engine, value string) (int64, error) {
	bases, err := e.Append(context.Background(), "t", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{{Value: []byte(value)}}}})
	if err != nil {
		return 0, err
	}
	return bases[0], nil
}

// wantOffsets requires the partition to hold [start, end).
func (c *corruptEnv) wantOffsets(e *Engine, start, end int64) {
	c.t.Helper()
	s, en, err := e.Offsets(context.Background(), "t", 0)
	if err != nil || s != start || en != end {
		c.t.Fatalf("offsets %d to %d (%v), want %d to %d", s, en, err, start, end)
	}
}

// wantRecords requires a read from offset to return exactly the appended
// records [offset, until).
func (c *corruptEnv) wantRecords(e *Engine, offset, until int64) {
	c.t.Helper()
	got, err := c.read(e, offset, 10000)
	if err != nil {
		c.t.Fatalf("read at %d: %v", offset, err)
	}
	sameRecords(c.t, got, c.recs[offset:until])
}

// wantCorruptAt requires err to wrap storage.ErrCorrupt (or, for an
// append, storage.ErrUnavailable) and to name path and byte pos.
func wantCorruptAt(t *testing.T, what string, err error, path string, pos int64, orUnavailable bool) {
	t.Helper()
	ok := errors.Is(err, storage.ErrCorrupt) || (orUnavailable && errors.Is(err, storage.ErrUnavailable))
	if !ok || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", pos)) {
		t.Fatalf("%s: got %v; want storage.ErrCorrupt naming %s at byte %d", what, err, path, pos)
	}
}

// damageIn returns where in a segment to damage a batch and the bytes to
// XOR in there.
type damageIn func(b batchAt, seg []byte) (int64, []byte)

func fieldBit(field int64, mask byte) damageIn {
	return func(b batchAt, _ []byte) (int64, []byte) { return b.pos + field, []byte{mask} }
}

// lengthBit finds the lowest set bit of the batch's Length field (to
// shrink it), or the lowest clear one that makes the batch run past the
// end of the file (to grow it).
func lengthBit(shrink bool) damageIn {
	return func(b batchAt, seg []byte) (int64, []byte) {
		l := binary.BigEndian.Uint32(seg[b.pos+8:])
		for k := 0; k < 24; k++ {
			set := l>>k&1 == 1
			pastEnd := b.pos+lengthFieldEnd+int64(l|1<<k) > int64(len(seg))
			if shrink && set || !shrink && !set && pastEnd {
				return b.pos + 11 - int64(k/8), []byte{byte(1) << (k % 8)}
			}
		}
		panic("no such bit")
	}
}

// lengthToEnd makes the batch's Length run exactly to the end of the file.
func lengthToEnd(b batchAt, seg []byte) (int64, []byte) {
	mask := binary.BigEndian.AppendUint32(nil, uint32(int64(len(seg))-b.pos-lengthFieldEnd))
	for i := range mask {
		mask[i] ^= seg[b.pos+8+int64(i)]
	}
	return b.pos + 8, mask
}

func valueBit(b batchAt, _ []byte) (int64, []byte) {
	return b.pos + int64(b.info.size) - 4, []byte{0x10}
}

var midBatchDamage = []struct {
	name   string
	damage damageIn
}{
	{"record value", valueBit},
	{"first record's header", fieldBit(batchHeaderSize+1, 0x01)},
	{"CRC field", fieldBit(crcOffset+2, 0x40)},
	{"attributes", fieldBit(crcCoveredFrom+1, 0x01)},
	{"num records", fieldBit(60, 0x02)},
	{"first offset", fieldBit(7, 0x01)},
	{"magic", fieldBit(16, 0x04)},
	{"length shrinks", lengthBit(true)},
	{"length grows past the end of the file", lengthBit(false)},
	{"length runs to the end of the file", lengthToEnd},
}

func TestRecovery_MidSegmentCorruptionIsReportedNotCut(t *testing.T) {
	for _, d := range testDisks {
		for _, dmg := range midBatchDamage {
			t.Run(d.name+"/"+dmg.name, func(t *testing.T) {
				c := newCorruptEnv(t, d, Options{})
				e := c.open()
				c.fill(e, 7, 2)
				e.Close()
				path := c.segPath(0)
				seg := readWhole(t, c.fs, path)
				victim := c.batches(0)[3]
				at, mask := dmg.damage(victim, seg)
				c.flip(path, at, mask...)

				e = c.open()
				if got := c.size(path); got != int64(len(seg)) {
					t.Fatalf("segment is %d bytes after reopen, was %d: recovery cut acknowledged data", got, len(seg))
				}
				bad := victim.info.baseOffset
				c.wantOffsets(e, 0, bad)
				_, err := c.append(e, "refused")
				wantCorruptAt(t, "append", err, path, victim.pos, true)
				c.wantRecords(e, 0, bad)
				for _, o := range []int64{bad, bad + 1, int64(len(c.recs)) - 1} {
					recs, err := c.read(e, o, 100)
					if len(recs) > 0 {
						t.Fatalf("read at %d served %d records past the damage", o, len(recs))
					}
					wantCorruptAt(t, fmt.Sprintf("read at %d", o), err, path, victim.pos, false)
				}
				e.Close()
				if got := c.size(path); got != int64(len(seg)) {
					t.Fatalf("segment is %d bytes after close, was %d", got, len(seg))
				}
			})
		}
	}
}

// The last batch of the active segment may be an unfinished write, so
// damage there is cut, unless the batch is provably whole: its CRC matches
// and only its framing is off.
func TestRecovery_LastBatchIsCutOnlyWhenItCouldBeTorn(t *testing.T) {
	for _, d := range testDisks {
		for _, c := range []struct {
			name   string
			damage damageIn
			cut    bool
		}{
			{"record value", valueBit, true},
			{"CRC field", fieldBit(crcOffset+2, 0x40), true},
			{"length grows past the end of the file", lengthBit(false), false},
			{"first offset", fieldBit(7, 0x01), false},
		} {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				env := newCorruptEnv(t, d, Options{})
				e := env.open()
				env.fill(e, 4, 2)
				e.Close()
				path := env.segPath(0)
				seg := readWhole(t, env.fs, path)
				last := env.batches(0)[3]
				at, mask := c.damage(last, seg)
				env.flip(path, at, mask...)

				e = env.open()
				bad := last.info.baseOffset
				env.wantOffsets(e, 0, bad)
				env.wantRecords(e, 0, bad)
				size := env.size(path)
				base, err := env.append(e, "next")
				if c.cut {
					if size != last.pos || err != nil || base != bad {
						t.Fatalf("segment is %d bytes, append at %d: %v; want the last batch cut to %d bytes and appends at %d", size, base, err, last.pos, bad)
					}
					return
				}
				if size != int64(len(seg)) {
					t.Fatalf("segment is %d bytes after reopen, was %d: recovery cut a whole batch", size, len(seg))
				}
				wantCorruptAt(t, "append", err, path, last.pos, true)
			})
		}
	}
}

// sealedEnv fills a partition whose segments roll every three batches.
func sealedEnv(t *testing.T, d testDisk, opts Options) (*corruptEnv, *Engine) {
	one := encodeBatch(nil, []storage.Record{{Key: []byte("key-0000"), Value: []byte("value-0000-" + strings.Repeat("x", 24)),
		Headers: []kmsg.Header{{Key: "ce_id", Value: []byte("0")}}}, {}}, corruptEpoch)
	opts.SegmentBytes = int64(3 * len(one))
	c := newCorruptEnv(t, d, opts)
	e := c.open()
	c.fill(e, 12, 2)
	if n := len(c.segments()); n < 4 {
		t.Fatalf("%d segments, want at least 4", n)
	}
	return c, e
}

func TestRecovery_SealedSegmentCorruptionIsContained(t *testing.T) {
	for _, d := range testDisks {
		for _, indexLost := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/index_lost=%v", d.name, indexLost), func(t *testing.T) {
				c, e := sealedEnv(t, d, Options{})
				e.Close()
				sealed := c.segments()[1]
				path := c.segPath(sealed)
				bs := c.batches(sealed)
				victim := bs[1]
				at, mask := valueBit(victim, nil)
				c.flip(path, at, mask...)
				if indexLost {
					offPath, timPath := (&segment{path: path}).indexPaths()
					c.fs.Remove(offPath)
					c.fs.Remove(timPath)
				}
				size := c.size(path)

				e = c.open()
				end := int64(len(c.recs))
				c.wantOffsets(e, 0, end)
				if got := c.size(path); got != size {
					t.Fatalf("sealed segment is %d bytes after reopen, was %d", got, size)
				}
				bad := victim.info.baseOffset
				c.wantRecords(e, 0, bad) // stops before the damage
				recs, err := c.read(e, bad, 100)
				if len(recs) > 0 {
					t.Fatalf("read at %d served %d records of the damaged batch", bad, len(recs))
				}
				wantCorruptAt(t, fmt.Sprintf("read at %d", bad), err, path, victim.pos, false)
				next := c.segments()[2]
				c.wantRecords(e, next, end)
				off, err := e.OffsetForTime(context.Background(), "t", 0, c.recs[next+1].Timestamp)
				if err != nil || off != next+1 {
					t.Fatalf("offset for a later segment's time: %d %v, want %d", off, err, next+1)
				}
				if base, err := c.append(e, "goes on"); err != nil || base != end {
					t.Fatalf("append: %d %v, want offset %d", base, err, end)
				}
				if recs, err := c.read(e, end, 1); err != nil || len(recs) != 1 || string(recs[0].Value) != "goes on" {
					t.Fatalf("reading the append: %v %v", recs, err)
				}
			})
		}
	}
}

func TestRead_DataDamagedUnderARunningEngineFailsItsCRC(t *testing.T) {
	for _, d := range testDisks {
		for _, where := range []string{"active", "sealed"} {
			t.Run(d.name+"/"+where, func(t *testing.T) {
				c, e := sealedEnv(t, d, Options{})
				segs := c.segments()
				base := segs[len(segs)-1]
				if where == "sealed" {
					base = segs[1]
				}
				bs := c.batches(base)
				if len(bs) < 2 {
					t.Fatalf("segment %d holds %d batches, want 2 or more", base, len(bs))
				}
				victim := bs[1]
				path := c.segPath(base)
				c.wantRecords(e, victim.info.baseOffset, int64(len(c.recs))) // good before
				at, mask := valueBit(victim, nil)
				c.flip(path, at, mask...)
				bad := victim.info.baseOffset
				recs, err := c.read(e, bad, 100)
				if len(recs) > 0 {
					t.Fatalf("read at %d served %d records of the damaged batch", bad, len(recs))
				}
				wantCorruptAt(t, fmt.Sprintf("read at %d", bad), err, path, victim.pos, false)
				c.wantRecords(e, base, bad) // a read that reaches the damage stops before it
			})
		}
	}
}

func TestRecovery_TornTailIsCutAndAppendsContinue(t *testing.T) {
	for _, d := range testDisks {
		for _, keep := range []int{0, 5, lengthFieldEnd, 30, batchHeaderSize, -1} {
			t.Run(fmt.Sprintf("%s/keep=%d", d.name, keep), func(t *testing.T) {
				c := newCorruptEnv(t, d, Options{})
				e := c.open()
				c.fill(e, 5, 3)
				e.Close()
				path := c.segPath(0)
				last := c.batches(0)[4]
				cut := last.pos + int64(keep)
				if keep < 0 {
					cut = last.pos + int64(last.info.size) + int64(keep)
				}
				truncate(t, c.fs, path, cut)

				e = c.open()
				if got := c.size(path); got != last.pos {
					t.Fatalf("segment is %d bytes after reopen, want %d (the torn batch cut)", got, last.pos)
				}
				c.wantOffsets(e, 0, last.info.baseOffset)
				c.wantRecords(e, 0, last.info.baseOffset)
				if base, err := c.append(e, "next"); err != nil || base != last.info.baseOffset {
					t.Fatalf("append after the cut: %d %v, want offset %d", base, err, last.info.baseOffset)
				}
				e = c.reopen(e)
				c.wantOffsets(e, 0, last.info.baseOffset+1)
			})
		}
	}
}

func TestRecovery_TrailingZerosAreCutLikeATornTail(t *testing.T) {
	for _, d := range testDisks {
		for _, zeros := range []int{1, lengthFieldEnd - 1, lengthFieldEnd, batchHeaderSize, 4096, scanChunk + 100} {
			t.Run(fmt.Sprintf("%s/zeros=%d", d.name, zeros), func(t *testing.T) {
				c := newCorruptEnv(t, d, Options{})
				e := c.open()
				c.fill(e, 4, 2)
				e.Close()
				path := c.segPath(0)
				size := c.size(path)
				truncate(t, c.fs, path, size+int64(zeros)) // the file system's zeros

				e = c.open()
				if got := c.size(path); got != size {
					t.Fatalf("segment is %d bytes after reopen, want %d", got, size)
				}
				end := int64(len(c.recs))
				c.wantOffsets(e, 0, end)
				c.wantRecords(e, 0, end)
				if base, err := c.append(e, "next"); err != nil || base != end {
					t.Fatalf("append after the cut: %d %v, want offset %d", base, err, end)
				}
			})
		}
	}
}

func truncate(t *testing.T, fsys vfs.FS, path string, size int64) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// indexDamage damages one index file of a sealed segment.
type indexDamage func(t *testing.T, fsys vfs.FS, path string, rng *rand.Rand)

func rewrite(change func(b []byte, rng *rand.Rand) []byte) indexDamage {
	return func(t *testing.T, fsys vfs.FS, path string, rng *rand.Rand) {
		writeWhole(t, fsys, path, change(readWhole(t, fsys, path), rng))
	}
}

var (
	oddSize = rewrite(func(b []byte, _ *rand.Rand) []byte {
		if len(b) >= 3 {
			return b[:len(b)-3]
		}
		return append(b, 1, 2, 3)
	})
	zeroed = rewrite(func(b []byte, _ *rand.Rand) []byte { return make([]byte, len(b)) })
	random = rewrite(func(b []byte, rng *rand.Rand) []byte {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	})
	deleted indexDamage = func(t *testing.T, fsys vfs.FS, path string, _ *rand.Rand) {
		if err := fsys.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
)

// indexAnswers is what reads and time lookups return, to compare before
// and after damage.
type indexAnswers struct {
	reads [][]storage.Record
	times []int64
}

func (c *corruptEnv) answers(e *Engine) indexAnswers {
	c.t.Helper()
	var a indexAnswers
	for o := range c.recs {
		recs, err := c.read(e, int64(o), 3)
		if err != nil {
			c.t.Fatalf("read at %d: %v", o, err)
		}
		a.reads = append(a.reads, recs)
	}
	ctx := context.Background()
	first := c.recs[0].Timestamp
	for ms := int64(-20); ms <= int64(len(c.recs))*10+20; ms += 5 {
		off, err := e.OffsetForTime(ctx, "t", 0, first.Add(time.Duration(ms)*time.Millisecond))
		if err != nil {
			c.t.Fatalf("offset for time %d ms: %v", ms, err)
		}
		a.times = append(a.times, off)
	}
	return a
}

func (c *corruptEnv) sameAnswers(got, want indexAnswers) {
	c.t.Helper()
	for o := range want.reads {
		if err := func() error {
			if len(got.reads[o]) != len(want.reads[o]) {
				return fmt.Errorf("%d records, want %d", len(got.reads[o]), len(want.reads[o]))
			}
			for i := range want.reads[o] {
				if err := sameRecord(got.reads[o][i], want.reads[o][i]); err != nil {
					return err
				}
			}
			return nil
		}(); err != nil {
			c.t.Fatalf("read at %d: %v", o, err)
		}
	}
	for i := range want.times {
		if got.times[i] != want.times[i] {
			c.t.Fatalf("offset for time %d ms: %d, want %d", i*5-20, got.times[i], want.times[i])
		}
	}
}

func TestRecovery_DamagedIndexFilesAreRebuilt(t *testing.T) {
	for _, d := range testDisks {
		for _, c := range []struct {
			name     string
			off, tim indexDamage // nil: left alone
		}{
			{"both truncated to an odd size", oddSize, oddSize},
			{"index truncated to an odd size", oddSize, nil},
			{"timeindex truncated to an odd size", nil, oddSize},
			{"both zeroed", zeroed, zeroed},
			{"index zeroed", zeroed, nil},
			{"timeindex zeroed", nil, zeroed},
			{"both deleted", deleted, deleted},
			{"index deleted", deleted, nil},
			{"timeindex deleted", nil, deleted},
			{"both random", random, random},
			{"index random", random, nil},
			{"timeindex random", nil, random},
		} {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				env, e := sealedEnv(t, d, Options{IndexInterval: 100})
				before := env.answers(e)
				e.Close()
				segs := env.segments()
				rng := rand.New(rand.NewPCG(5, 6))
				orig := map[string][]byte{}
				for _, base := range segs[:len(segs)-1] {
					offPath, timPath := (&segment{path: env.segPath(base)}).indexPaths()
					for path, damage := range map[string]indexDamage{offPath: c.off, timPath: c.tim} {
						orig[path] = readWhole(t, env.fs, path)
						if damage != nil {
							damage(t, env.fs, path, rng)
						}
					}
				}
				if n := len(orig[filepath.Join(env.partDir(), segmentName(segs[1])+".index")]); n < 2*offsetEntrySize {
					t.Fatalf("a sealed segment's index has %d bytes; want two entries or more", n)
				}

				e = env.open()
				env.sameAnswers(env.answers(e), before)
				for path, want := range orig {
					if got := readWhole(t, env.fs, path); !bytes.Equal(got, want) {
						t.Errorf("%s was not rebuilt: %x, want %x", path, got, want)
					}
				}
			})
		}
	}
}

// A read at the end offset holds no segment afterwards: segments dropped by
// retention must close their files.
func TestRead_AtTheEndReleasesItsSegments(t *testing.T) {
	c := newCorruptEnv(t, testDisks[1], Options{})
	e := c.open()
	c.fill(e, 2, 1)
	for i := 0; i < 3; i++ {
		if recs, err := c.read(e, int64(len(c.recs)), 10); err != nil || len(recs) != 0 {
			t.Fatalf("read at the end: %v %v", recs, err)
		}
	}
	p := e.topics["t"].parts[0]
	if refs := p.active().refs.Load(); refs != 1 {
		t.Fatalf("active segment holds %d references after reads at the end, want 1", refs)
	}
}
