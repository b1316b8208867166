package log

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// powerWorkload creates a topic and appends to it one call at a time,
// returning the value stored at each acknowledged (partition, offset). It
// stops at the first error: that is where the power went.
func powerWorkload(fsys vfs.FS) (created bool, acked map[[2]int64]string) {
	return appendWorkload(fsys, storage.TopicConfig{Partitions: 2}, 24, 0)
}

// appendWorkload is powerWorkload with the topic's settings, the number of
// appends and, when retainEvery is above 0, a retention pass after every
// retainEvery appends.
func appendWorkload(fsys vfs.FS, cfg storage.TopicConfig, appends, retainEvery int) (created bool, acked map[[2]int64]string) {
	acked = map[[2]int64]string{}
	e, err := Open("/data", Options{FS: fsys, SegmentBytes: 600, RetentionInterval: -1})
	if err != nil {
		return false, acked
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTopic(ctx, "t", cfg); err != nil {
		return false, acked
	}
	for i := 0; i < appends; i++ {
		parts := []storage.PartitionRecords{{Partition: i % 2, Records: []storage.Record{rec("k", fmt.Sprintf("v%d", i))}}}
		if i%3 == 0 { // an append across both partitions
			parts = append(parts, storage.PartitionRecords{Partition: 1 - i%2, Records: []storage.Record{rec("k", fmt.Sprintf("w%d", i))}})
		}
		bases, err := e.Append(ctx, "t", parts)
		if err != nil {
			return true, acked
		}
		for j, part := range parts {
			acked[[2]int64{int64(part.Partition), bases[j]}] = string(part.Records[0].Value)
		}
		if retainEvery > 0 && i%retainEvery == retainEvery-1 {
			if err := e.EnforceRetention(); err != nil {
				return true, acked
			}
		}
	}
	return true, acked
}

// cutAtEveryWrite runs workload once to count its writes, then once per
// write with the power cut after it (and once more with the last write
// torn), checking after each cut that every acknowledged append is there.
func cutAtEveryWrite(t *testing.T, workload func(vfs.FS) (bool, map[[2]int64]string)) {
	t.Helper()
	var count faultfs.Counter
	if _, acked := workload(faultfs.Wrap(faultfs.New(), count.Inject)); len(acked) == 0 {
		t.Fatal("the workload acknowledged nothing without faults")
	}
	total := count.Mutating()
	for k := 0; k <= total; k++ {
		for _, torn := range []bool{false, true} {
			t.Run(fmt.Sprintf("cut=%d/torn=%v", k, torn), func(t *testing.T) {
				mem := faultfs.New()
				created, acked := workload(faultfs.Wrap(mem, faultfs.CutAfter(k)))
				after := mem.Crash(faultfs.CrashOptions{TornWrites: torn, Rand: rand.New(rand.NewPCG(uint64(k), 7))})
				checkAfterCut(t, after, created, acked)
			})
		}
	}
}

func TestPowerCut_AcknowledgedAppendsSurviveACutBetweenAnyTwoWrites(t *testing.T) {
	cutAtEveryWrite(t, powerWorkload)
}

// A power cut as a group commit is written can leave zeros inside it with
// its later pages kept. That group was never acknowledged; it lies past
// the sync mark, so open cuts it, every acknowledged append is there and
// the partition takes appends again.
func TestPowerCut_AHoleInTheUnacknowledgedLastGroupIsCutAndAppendsGoOn(t *testing.T) {
	var count faultfs.Counter
	powerWorkload(faultfs.Wrap(faultfs.New(), count.Inject))
	for k := 0; k <= count.Mutating(); k++ {
		t.Run(fmt.Sprintf("cut=%d", k), func(t *testing.T) {
			mem := faultfs.New()
			created, acked := powerWorkload(faultfs.Wrap(mem, faultfs.CutAfter(k)))
			after := mem.Crash(faultfs.CrashOptions{Holes: true, Rand: rand.New(rand.NewPCG(uint64(k), 9))})
			checkAfterCut(t, after, created, acked)
		})
	}
}

// checkAfterCut reopens the crashed disk: every acknowledged record is at
// its offset with its value, every partition reads back whole, and new
// appends continue the log.
func checkAfterCut(t *testing.T, fsys vfs.FS, created bool, acked map[[2]int64]string) {
	t.Helper()
	e, err := Open("/data", Options{FS: fsys, SegmentBytes: 600, RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open after power cut: %v", err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.Topic(ctx, "t"); err != nil {
		if created {
			t.Fatalf("acknowledged topic lost: %v", err)
		}
		return
	}
	for p := 0; p < 2; p++ {
		start, end, err := e.Offsets(ctx, "t", p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := e.Read(ctx, "t", p, start, 1000, 1<<20)
		if err != nil || int64(len(recs)) != end-start {
			t.Fatalf("partition %d: read %d of %d records: %v", p, len(recs), end-start, err)
		}
		for i, r := range recs {
			if r.Offset != start+int64(i) {
				t.Fatalf("partition %d: offset %d at index %d", p, r.Offset, i)
			}
			if want, ok := acked[[2]int64{int64(p), r.Offset}]; ok && string(r.Value) != want {
				t.Fatalf("partition %d offset %d: %q, acknowledged %q", p, r.Offset, r.Value, want)
			}
		}
		for pos := range acked {
			if pos[0] == int64(p) && pos[1] >= end {
				t.Fatalf("partition %d: acknowledged offset %d lost (end %d)", p, pos[1], end)
			}
		}
		bases, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: p, Records: []storage.Record{rec("k", "new")}}})
		if err != nil || bases[0] != end {
			t.Fatalf("partition %d: append after cut got %v, %v; want offset %d", p, bases, err, end)
		}
	}
}
