package log

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Table tests of damage at every byte: a bit flipped at each position of
// a sealed segment, the active segment, and a sealed segment's .index and
// .timeindex, and each of those files truncated to each shorter length.
// For each: the engine opens; no read ever returns a record other than
// the one appended at its offset; segment damage is caught (a read fails
// with storage.ErrCorrupt naming the file and the damaged batch's
// position) or cut as a torn tail (only the active segment's last batch),
// or is harmless (PartitionLeaderEpoch, the one field neither the CRC nor
// any check covers, and which Herald never reads); index damage changes no
// answer. Check reports the damage before the engine opens, and after
// Repair, Check passes and every record outside the damaged batch reads
// back as appended.

// damageFixture is a partition of four or more segments, closed, with the
// answers every read and time lookup gave before any damage.
type damageFixture struct {
	env    *corruptEnv
	mem    *faultfs.MemFS
	before indexAnswers
	sealed int64 // base of the sealed segment damaged
	active int64 // base of the active segment
}

func newDamageFixture(t *testing.T) *damageFixture {
	c, e := sealedEnv(t, testDisks[1], Options{IndexInterval: 100})
	fx := &damageFixture{env: c, mem: c.fs.(*faultfs.MemFS), before: c.answers(e)}
	e.Close()
	segs := c.segments()
	fx.sealed, fx.active = segs[1], segs[len(segs)-1]
	return fx
}

// clone returns an environment over a copy of the fixture's disk.
func (fx *damageFixture) clone(t *testing.T) *corruptEnv {
	c := *fx.env
	c.t = t
	c.fs = fx.mem.Clone()
	c.opts.FS = c.fs
	return &c
}

// segmentVictim says, for a position in a segment, which batch holds it.
func (fx *damageFixture) batchAt(base, pos int64) batchAt {
	for _, b := range fx.env.batches(base) {
		if pos >= b.pos && pos < b.pos+int64(b.info.size) {
			return b
		}
	}
	fx.env.t.Fatalf("no batch of segment %d holds byte %d", base, pos)
	return batchAt{}
}

// ple reports whether a batch's byte is in PartitionLeaderEpoch.
func ple(b batchAt, pos int64) bool { return pos-b.pos >= 12 && pos-b.pos < 16 }

func TestDamage_EveryFlippedSegmentByteIsCaughtCutAsTornOrHarmless(t *testing.T) {
	fx := newDamageFixture(t)
	for _, base := range []int64{fx.sealed, fx.active} {
		size := fx.env.size(fx.env.segPath(base))
		for pos := int64(0); pos < size; pos++ {
			victim := fx.batchAt(base, pos)
			t.Run(fmt.Sprintf("segment_%d/byte_%d", base, pos), func(t *testing.T) {
				c := fx.clone(t)
				path := c.segPath(base)
				c.flip(path, pos, 1<<(pos%8))
				harmless := ple(victim, pos)
				findings := fx.checkFinds(c, path, victim, harmless)
				e := c.open()
				fx.wantNoWrongRecord(c, e, path, victim, harmless)
				e.Close()
				fx.wantRepaired(c, findings, victim, pos-victim.pos < 8)
			})
		}
	}
}

// checkFinds runs Check before the engine opens the damaged directory and
// requires it to report the damage at the damaged batch (or nothing, for
// harmless damage). It returns what Check found.
func (fx *damageFixture) checkFinds(c *corruptEnv, path string, victim batchAt, harmless bool) []Finding {
	c.t.Helper()
	rep, err := Check(c.dir, CheckOptions{FS: c.fs})
	if err != nil {
		c.t.Fatalf("check: %v", err)
	}
	if harmless {
		if !rep.OK() {
			c.t.Fatalf("check reports harmless damage: %v", rep.Findings)
		}
		return nil
	}
	rel := strings.TrimPrefix(path, c.dir+"/")
	for _, f := range rep.Findings {
		if f.File == rel && f.Byte == victim.pos {
			return rep.Findings
		}
	}
	c.t.Fatalf("check found %v; want a finding in %s at byte %d", rep.Findings, rel, victim.pos)
	return nil
}

// wantNoWrongRecord reads every offset and looks up every time: no read
// returns a record other than the one appended at its offset. Damage that
// is not harmless is reported by a read naming the file and the damaged
// batch's position, or (the active segment's last batch) cut as a torn
// tail; harmless damage changes no answer.
func (fx *damageFixture) wantNoWrongRecord(c *corruptEnv, e *Engine, path string, victim batchAt, harmless bool) {
	c.t.Helper()
	_, end, err := e.Offsets(context.Background(), "t", 0)
	if err != nil {
		c.t.Fatal(err)
	}
	caught := false
	for o := int64(0); o < int64(len(c.recs)); o++ {
		recs, err := c.read(e, o, 3)
		switch {
		case o >= end && len(recs) > 0:
			c.t.Fatalf("read at %d, at or past the end offset %d, served %v", o, end, recs)
		case errors.Is(err, storage.ErrOffsetOutOfRange) && o > end, err == nil && o == end:
		case err != nil:
			wantCorruptAt(c.t, fmt.Sprintf("read at %d", o), err, path, victim.pos, false)
			caught = true
		default:
			if len(recs) == 0 || recs[0].Offset != o {
				c.t.Fatalf("read at %d returned %d records, first at %v", o, len(recs), recs)
			}
			sameRecords(c.t, recs, c.recs[o:o+int64(len(recs))])
		}
	}
	torn := end == victim.info.baseOffset && victim.info.lastOffset == int64(len(c.recs))-1
	switch {
	case harmless:
		fx.env.sameAnswers(c.answersWhere(e, end), fx.before)
	case !caught && !torn:
		c.t.Fatalf("damage at batch %d (byte %d) went unnoticed: end offset %d", victim.info.baseOffset, victim.pos, end)
	}
}

// answersWhere is answers for an engine whose end offset may have moved.
func (c *corruptEnv) answersWhere(e *Engine, end int64) indexAnswers {
	if end != int64(len(c.recs)) {
		c.t.Fatalf("end offset %d, want %d", end, len(c.recs))
	}
	return c.answers(e)
}

// wantRepaired runs Repair and requires Check to pass after it, the engine
// to open, and every record outside the damaged batch to read back; all
// of them when only the batch's FirstOffset was damaged (firstOffset).
func (fx *damageFixture) wantRepaired(c *corruptEnv, findings []Finding, victim batchAt, firstOffset bool) {
	c.t.Helper()
	rep, err := Repair(c.dir, RepairOptions{FS: c.fs, IndexInterval: 100})
	if err != nil {
		c.t.Fatalf("repair: %v", err)
	}
	for _, f := range findings {
		if f.FixedBy == fixedByRepair && len(rep.Actions) == 0 {
			c.t.Fatalf("repair did nothing about %v", f)
		}
	}
	if after, err := Check(c.dir, CheckOptions{FS: c.fs}); err != nil || !after.OK() {
		c.t.Fatalf("check after repair: %v %v (repair did %+v)", err, after.Findings, rep.Actions)
	}
	mended := false // a damaged FirstOffset put right: nothing is lost
	for _, a := range rep.Actions {
		mended = mended || a.Action == "mended"
		if a.Lost != nil && (a.Lost.First < victim.info.baseOffset || a.Lost.Known && a.Lost.Last > victim.info.lastOffset) {
			c.t.Fatalf("repair lost %s, beyond the damaged batch's offsets %d to %d", a.Lost, victim.info.baseOffset, victim.info.lastOffset)
		}
	}
	if firstOffset && !mended && !torn(c, victim) {
		c.t.Fatalf("repair did %+v; want the batch's FirstOffset put right", rep.Actions)
	}
	e := c.open()
	defer e.Close()
	for o := int64(0); o < int64(len(c.recs)); o++ {
		if !mended && o >= victim.info.baseOffset && o <= victim.info.lastOffset {
			continue // the damaged batch's records may be gone
		}
		recs, err := c.read(e, o, 1)
		if err != nil || len(recs) != 1 || recs[0].Offset != o {
			c.t.Fatalf("after repair, read at %d: %v %v (repair did %+v)", o, recs, err, rep.Actions)
		}
		sameRecords(c.t, recs, c.recs[o:o+1])
	}
	if _, err := c.append(e, "after repair"); err != nil {
		c.t.Fatalf("append after repair: %v", err)
	}
}

func TestDamage_EveryTruncatedSegmentLengthIsCaughtOrCutAsTorn(t *testing.T) {
	fx := newDamageFixture(t)
	segs := fx.env.segments()
	for i, base := range []int64{fx.sealed, fx.active} {
		next := int64(len(fx.env.recs)) // where the offsets the cut can reach end
		if i == 0 {
			next = segs[2]
		}
		size := fx.env.size(fx.env.segPath(base))
		for length := int64(0); length < size; length++ {
			victim := fx.batchAt(base, length)
			t.Run(fmt.Sprintf("segment_%d/length_%d", base, length), func(t *testing.T) {
				c := fx.clone(t)
				path := c.segPath(base)
				truncate(t, c.fs, path, length)
				rep, err := Check(c.dir, CheckOptions{FS: c.fs})
				if err != nil {
					t.Fatal(err)
				}
				if base == fx.active && length == victim.pos {
					if !rep.OK() { // a last segment cut between batches is a log that ends sooner
						t.Fatalf("check: %v", rep.Findings)
					}
				} else if rep.OK() {
					t.Fatalf("check found nothing wrong with %s cut to %d bytes", path, length)
				}
				cut := truncation{path: path, active: base == fx.active, first: victim.info.baseOffset, next: next, pos: victim.pos}
				e := c.open()
				cut.wantReads(c, e, true)
				e.Close()
				rep2, err := Repair(c.dir, RepairOptions{FS: c.fs, IndexInterval: 100})
				if err != nil {
					t.Fatalf("repair: %v", err)
				}
				if after, err := Check(c.dir, CheckOptions{FS: c.fs}); err != nil || !after.OK() {
					t.Fatalf("check after repair: %v %v (repair did %+v)", err, after.Findings, rep2.Actions)
				}
				e = c.open()
				cut.wantReads(c, e, false)
				e.Close()
			})
		}
	}
}

// truncation is a segment cut at byte pos, in the batch whose first
// offset is first; offsets [first, next) were in the part cut off.
type truncation struct {
	path        string
	active      bool
	first, next int64
	pos         int64
}

// wantReads requires the records outside [first, next) to read back as
// appended, and the cut-off offsets to serve nothing wrong: before repair
// a read there fails naming the file (sealed) or finds the log's end
// (active, the cut being a torn tail); after repair it returns the
// records after the cut, if any.
func (cut truncation) wantReads(c *corruptEnv, e *Engine, beforeRepair bool) {
	c.t.Helper()
	for o := int64(0); o < int64(len(c.recs)); o++ {
		recs, err := c.read(e, o, 1)
		lost := o >= cut.first && o < cut.next
		switch {
		case !lost && (err != nil || len(recs) != 1 || recs[0].Offset != o):
			c.t.Fatalf("read at %d: %v %v", o, recs, err)
		case lost && beforeRepair && !cut.active:
			if len(recs) > 0 {
				c.t.Fatalf("read at %d, cut off, served %v", o, recs)
			}
			wantCorruptAt(c.t, fmt.Sprintf("read at %d", o), err, cut.path, cut.pos, false)
		case lost && cut.active && len(recs) > 0:
			c.t.Fatalf("read at %d, cut off the last segment, served %v", o, recs)
		case lost && err != nil && !errors.Is(err, storage.ErrOffsetOutOfRange):
			c.t.Fatalf("read at %d: %v", o, err)
		}
		if len(recs) > 0 {
			sameRecords(c.t, recs, c.recs[recs[0].Offset:recs[0].Offset+1])
		}
	}
}

func TestDamage_EveryFlippedOrTruncatedIndexByteChangesNoAnswer(t *testing.T) {
	fx := newDamageFixture(t)
	offPath, timPath := (&segment{path: fx.env.segPath(fx.sealed)}).indexPaths()
	for _, path := range []string{offPath, timPath} {
		size := fx.env.size(path)
		for pos := int64(0); pos < 2*size; pos++ {
			name := fmt.Sprintf("%s/flip_byte_%d", filepath.Ext(path), pos)
			if pos >= size {
				name = fmt.Sprintf("%s/length_%d", filepath.Ext(path), pos-size)
			}
			t.Run(name, func(t *testing.T) {
				c := fx.clone(t)
				if pos < size {
					c.flip(path, pos, 1<<(pos%8))
				} else {
					truncate(t, c.fs, path, pos-size)
				}
				rep, err := Check(c.dir, CheckOptions{FS: c.fs})
				if err != nil || len(rep.Findings) != 1 || rep.Findings[0].Kind != kindIndexMismatch || rep.Findings[0].FixedBy != fixedByOpen {
					t.Fatalf("check: %v %+v; want one index_mismatch that Open fixes", err, rep.Findings)
				}
				e := c.open()
				fx.env.sameAnswers(c.answers(e), fx.before)
				e.Close()
				if rep, err := Check(c.dir, CheckOptions{FS: c.fs}); err != nil || !rep.OK() {
					t.Fatalf("check after the engine opened: %v %+v; want the index rebuilt", err, rep.Findings)
				}
			})
		}
	}
}

// An index damaged while the engine runs (after its checksum was checked)
// must not make a read start at the wrong batch: a read checks the entry
// it starts from and reads from the segment's start if it is wrong.
func TestRead_IndexDamagedUnderARunningEngineChangesNoAnswer(t *testing.T) {
	fx := newDamageFixture(t)
	offPath, _ := (&segment{path: fx.env.segPath(fx.sealed)}).indexPaths()
	size := fx.env.size(offPath)
	if size < 2*offsetEntrySize {
		t.Fatalf("index of %d bytes; want two entries or more", size)
	}
	for pos := int64(0); pos < size; pos++ {
		t.Run(fmt.Sprintf("byte_%d", pos), func(t *testing.T) {
			c := fx.clone(t)
			e := c.open()
			c.flip(offPath, pos, 1<<(pos%8))
			fx.env.sameAnswers(c.answers(e), fx.before)
		})
	}
}

// torn reports whether the engine cut the victim as a torn tail when it
// opened the directory (before repair ran).
func torn(c *corruptEnv, victim batchAt) bool {
	segs := c.segments()
	return victim.pos == c.size(c.segPath(segs[len(segs)-1])) && victim.info.lastOffset == int64(len(c.recs))-1
}
