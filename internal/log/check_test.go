package log

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// What the engine leaves on disk in normal operation (compaction's gaps
// and emptied segments, tombstones, retention, leftovers of a crash that
// Open cleans up) is not a problem for Check, and Repair leaves it alone.
func TestCheck_PassesOnWhatTheEngineWrites(t *testing.T) {
	c := newCompactEnv(t, Options{})
	for i := 0; i < 12; i++ {
		c.put(fmt.Sprint(i), "a", "b", "c")
	}
	c.put("last", "a", "b", "c")
	c.compact() // empties and deletes the segments after the first
	c.put("nil key", "")
	c.del("b")
	for i := 0; i < 12; i++ {
		c.put(fmt.Sprint(i), "a", "c")
	}
	c.compact()
	ctx := context.Background()
	if err := c.e.CreateTopic(ctx, "plain", storage.TopicConfig{Partitions: 3, RetentionBytes: 400}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if _, err := c.e.Append(ctx, "plain", []storage.PartitionRecords{{Partition: i % 3, Records: []storage.Record{rec("k", fmt.Sprint(i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.e.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if err := c.e.CreateTopic(ctx, "gone", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	c.e.Close()
	// Leftovers of a crash, which Open removes: a deletion and a compaction
	// that did not finish, a creation that never wrote its topic.json.
	for _, path := range []string{"/data/topics/.deleted-1-old/0/00000000000000000000.log", "/data/topics/t/0/00000000000000000000.log.compacting"} {
		if err := c.disk.MkdirAll(path[:len(path)-len("/00000000000000000000.log")], 0o755); err != nil {
			t.Fatal(err)
		}
		writeWhole(t, c.disk, path, []byte("junk"))
	}
	if err := c.disk.Remove("/data/topics/gone/topic.json"); err != nil {
		t.Fatal(err)
	}

	rep, err := Check("/data", CheckOptions{FS: c.disk})
	if err != nil || !rep.OK() {
		t.Fatalf("check: %v %+v", err, rep.Findings)
	}
	if rep.Topics != 2 || rep.Partitions != 4 || rep.Records == 0 {
		t.Fatalf("check counted %d topics, %d partitions, %d records", rep.Topics, rep.Partitions, rep.Records)
	}
	fixed, err := Repair("/data", RepairOptions{FS: c.disk})
	if err != nil || len(fixed.Actions) != 0 || fixed.Report != "" {
		t.Fatalf("repair of a sound directory: %v %+v", err, fixed)
	}
}

// An index whose checksum holds but whose entries disagree with the
// segment (which only a bug could write) is found by Check and written
// anew by Repair.
func TestCheck_FindsAnIndexThatDisagreesWithItsSegment(t *testing.T) {
	c, e := sealedEnv(t, testDisks[1], Options{IndexInterval: 100})
	e.Close()
	seg := c.segPath(c.segments()[1])
	offPath, timPath := (&segment{path: seg}).indexPaths()
	var entries []indexEntry // one a batch, each a byte off
	maxTime := int64(-1)
	for i, b := range c.batches(c.segments()[1]) {
		if i > 0 {
			entries = append(entries, indexEntry{rel: uint32(b.info.baseOffset - c.segments()[1]), pos: uint32(b.pos) + 1, maxBefore: maxTime})
		}
		maxTime = max(maxTime, b.info.maxTime)
	}
	off, tim := encodeIndexes(entries, maxTime, uint32(c.segments()[2]-c.segments()[1]), c.size(seg))
	writeWhole(t, c.fs, offPath, off)
	writeWhole(t, c.fs, timPath, tim)

	rep, err := Check(c.dir, CheckOptions{FS: c.fs})
	if err != nil || len(rep.Findings) != 1 || rep.Findings[0].Kind != kindIndexMismatch || rep.Findings[0].FixedBy != fixedByRepair {
		t.Fatalf("check: %v %+v; want one index_mismatch for repair", err, rep.Findings)
	}
	if _, err := Repair(c.dir, RepairOptions{FS: c.fs, IndexInterval: 100}); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(c.dir, CheckOptions{FS: c.fs}); err != nil || !rep.OK() {
		t.Fatalf("check after repair: %v %+v", err, rep.Findings)
	}
}

// A repair that sets nothing aside still makes its quarantine directory,
// and so its report, durable: a power cut right after it keeps both the
// repair and the report of it.
func TestRepair_ReportSurvivesAPowerCutWhenNothingWasSetAside(t *testing.T) {
	fsys := faultfs.New()
	e, err := Open("/data", Options{FS: fsys, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if err := fsys.RemoveAll("/data/topics/t/1"); err != nil {
		t.Fatal(err)
	}
	rep, err := Repair("/data", RepairOptions{FS: fsys})
	if err != nil || rep.Report == "" {
		t.Fatalf("repair: %v, report %q", err, rep.Report)
	}
	after := fsys.Crash(faultfs.CrashOptions{})
	if _, err := after.Stat(filepath.Join("/data", rep.Report)); err != nil {
		t.Fatalf("the repair's report after a power cut: %v", err)
	}
	e, err = Open("/data", Options{FS: after, RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open after repair and a power cut: %v", err)
	}
	e.Close()
}
