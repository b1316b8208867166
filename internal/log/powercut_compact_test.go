package log

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Power cuts during compaction: whatever point the power goes at, the
// log that Open recovers holds every key's newest acknowledged record at
// its offset (or, for a tombstone past its retention, nothing of the key
// at all), and nothing that was not appended.

// compactRun is what a compaction workload did before the power went.
type compactRun struct {
	created bool
	acked   []storage.Record  // acknowledged records, in offset order
	tried   map[string]string // id (ce_id header) of every record appended or attempted → its key
	compact int               // mutating ops done before the first compaction started
}

func compactPowerOptions(fsys vfs.FS, clock *testClock) Options {
	return Options{FS: fsys, Now: clock.Now, SegmentBytes: 350, RetentionInterval: -1}
}

// compactScript is what compactWorkload appends, one record an append:
// a key ("" for none) and whether the record is a tombstone. The first
// phase deletes k1 and k3 after three rounds of updates, so that the first
// segments hold nothing but superseded records (they empty out and go) and
// two tombstones are the newest records of their keys in a sealed segment;
// the second brings k1 back and deletes k0.
var compactScript = [2][]struct {
	key  string
	tomb bool
}{{
	{"k0", false}, {"k1", false}, {"k2", false}, {"k3", false},
	{"k0", false}, {"k1", false}, {"k2", false}, {"k3", false},
	{"k0", false}, {"k1", false}, {"k2", false}, {"k3", false},
	{"", false}, {"k1", true}, {"k3", true},
	{"k0", false}, {"k2", false}, {"k4", false}, {"k5", false}, {"", false},
	{"k6", false}, {"k7", false}, {"k8", false}, {"k9", false}, {"k10", false},
	{"k11", false}, {"k12", false}, {"k13", false},
}, {
	{"k1", false}, {"k0", true},
	{"k14", false}, {"k15", false}, {"k16", false}, {"k17", false}, {"k18", false},
	{"k19", false}, {"k20", false}, {"k21", false}, {"k22", false}, {"k23", false},
}}

// compactWorkload appends the first phase of compactScript to a compacted
// topic, lets its tombstones expire and compacts, then does the same with
// the second phase. It stops at the first error: that is where the power
// went.
func compactWorkload(fsys vfs.FS, count *faultfs.Counter) (run compactRun) {
	run.tried = map[string]string{}
	clock := newTestClock()
	e, err := Open("/data", compactPowerOptions(fsys, clock))
	if err != nil {
		return run
	}
	defer e.Close()
	ctx := context.Background()
	cfg := storage.TopicConfig{Partitions: 1, Compact: true, TombstoneRetention: time.Minute}
	if err := e.CreateTopic(ctx, "t", cfg); err != nil {
		return run
	}
	run.created = true
	i := 0
	for phase, script := range compactScript {
		for _, step := range script {
			r := rec(step.key, fmt.Sprint("v", i))
			r.Timestamp = clock.Now()
			if step.key == "" {
				r.Key = nil
			}
			if step.tomb {
				r.Value = nil
			}
			i++
			run.tried[string(r.Headers[0].Value)] = string(r.Key)
			bases, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{r}}})
			if err != nil {
				return run
			}
			r.Offset = bases[0]
			run.acked = append(run.acked, r)
		}
		clock.advance(2 * time.Minute)
		if count != nil && phase == 0 {
			run.compact = count.Mutating()
		}
		if e.Compact() != nil {
			return run
		}
	}
	return run
}

func TestPowerCut_CompactionNeverLosesANewestValueOrRevivesADeletedKey(t *testing.T) {
	var count faultfs.Counter
	full := compactWorkload(faultfs.Wrap(faultfs.New(), count.Inject), &count)
	if want := len(compactScript[0]) + len(compactScript[1]); len(full.acked) != want {
		t.Fatalf("the workload acknowledged %d appends without faults, want %d", len(full.acked), want)
	}
	total := count.Mutating()
	t.Logf("compaction runs from mutating op %d to %d", full.compact, total)
	for k := full.compact; k <= total; k++ {
		for _, torn := range []bool{false, true} {
			t.Run(fmt.Sprintf("cut=%d/torn=%v", k, torn), func(t *testing.T) {
				mem := faultfs.New()
				run := compactWorkload(faultfs.Wrap(mem, faultfs.CutAfter(k)), nil)
				after := mem.Crash(faultfs.CrashOptions{TornWrites: torn, Rand: rand.New(rand.NewPCG(uint64(k), 11))})
				checkCompactedAfterCut(t, after, run)
			})
		}
	}
}

// checkCompactedAfterCut opens the crashed disk, checks the partition,
// compacts it and checks it again, then appends.
func checkCompactedAfterCut(t *testing.T, fsys vfs.FS, run compactRun) {
	t.Helper()
	clock := newTestClock()
	clock.advance(time.Hour) // every tombstone has expired
	e, err := Open("/data", compactPowerOptions(fsys, clock))
	if err != nil {
		t.Fatalf("open after power cut: %v", err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.Topic(ctx, "t"); err != nil {
		if run.created {
			t.Fatalf("acknowledged topic lost: %v", err)
		}
		return
	}
	end := checkCompactedLog(t, e, run, "after reopen")
	if err := e.Compact(); err != nil {
		t.Fatalf("compact after reopen: %v", err)
	}
	if again := checkCompactedLog(t, e, run, "after compacting the recovered log"); again != end {
		t.Fatalf("compaction moved the end offset from %d to %d", end, again)
	}
	bases, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{rec("k", "new")}}})
	if err != nil || bases[0] != end {
		t.Fatalf("append after cut got %v, %v; want offset %d", bases, err, end)
	}
}

// checkCompactedLog reads the whole partition and checks it against the
// run. It returns the end offset.
func checkCompactedLog(t *testing.T, e *Engine, run compactRun, when string) int64 {
	t.Helper()
	ctx := context.Background()
	start, end, err := e.Offsets(ctx, "t", 0)
	if err != nil || start != 0 {
		t.Fatalf("%s: offsets %d to %d (%v), want the start at 0", when, start, end, err)
	}
	acked := map[int64]storage.Record{}
	lastAcked := int64(-1)
	for _, r := range run.acked {
		acked[r.Offset], lastAcked = r, r.Offset
	}
	if lastAcked >= end {
		t.Fatalf("%s: acknowledged offset %d lost (end %d)", when, lastAcked, end)
	}
	present := map[int64]storage.Record{}
	newestOfKey := map[string]int64{} // of the records present
	for o := start; o < end; {
		recs, err := e.Read(ctx, "t", 0, o, 1000, 1<<20)
		if err != nil {
			t.Fatalf("%s: read at %d: %v", when, o, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Offset < o || r.Offset >= end {
				t.Fatalf("%s: read at %d returned offset %d (end %d)", when, o, r.Offset, end)
			}
			o = r.Offset + 1
			checkAppended(t, when, r, run, acked, lastAcked)
			present[r.Offset] = r
			if r.Key != nil {
				newestOfKey[string(r.Key)] = r.Offset
			}
		}
	}
	checkNewest(t, when, run, present, newestOfKey)
	return end
}

// checkAppended fails the test unless r was appended: an acknowledged
// record at its own offset, or an attempted one after every acknowledged
// offset.
func checkAppended(t *testing.T, when string, r storage.Record, run compactRun, acked map[int64]storage.Record, lastAcked int64) {
	t.Helper()
	if len(r.Headers) != 1 {
		t.Fatalf("%s: offset %d holds a record that was never appended: %+v", when, r.Offset, r)
	}
	id := string(r.Headers[0].Value)
	if key, ok := run.tried[id]; !ok || key != string(r.Key) {
		t.Fatalf("%s: offset %d holds %s (key %q), which was never appended", when, r.Offset, id, r.Key)
	}
	if a, ok := acked[r.Offset]; ok {
		if err := sameRecord(r, a); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	} else if r.Offset <= lastAcked {
		t.Fatalf("%s: offset %d holds %s, but %s was acknowledged there", when, r.Offset, id, acked[r.Offset].Headers[0].Value)
	}
}

// checkNewest fails the test unless, for every key, its newest
// acknowledged record is present, or a newer attempted one is, or it is a
// tombstone and nothing of the key is left. Every keyless record
// acknowledged must be present.
func checkNewest(t *testing.T, when string, run compactRun, present map[int64]storage.Record, newestOfKey map[string]int64) {
	t.Helper()
	newest := map[string]storage.Record{}
	for _, r := range run.acked {
		if r.Key == nil {
			if _, ok := present[r.Offset]; !ok {
				t.Fatalf("%s: keyless record %s at offset %d is gone", when, r.Headers[0].Value, r.Offset)
			}
			continue
		}
		newest[string(r.Key)] = r
	}
	for key, r := range newest {
		got, ok := newestOfKey[key]
		switch {
		case ok && got > r.Offset: // an unacknowledged append survived the cut
		case r.Value == nil && ok:
			if _, here := present[r.Offset]; !here {
				t.Fatalf("%s: key %s's tombstone (offset %d) is gone but its record at offset %d is back", when, key, r.Offset, got)
			}
		case r.Value == nil:
		case got != r.Offset:
			t.Fatalf("%s: key %s's newest acknowledged record (offset %d) is gone; newest present: %d (%v)", when, key, r.Offset, got, ok)
		}
	}
}
