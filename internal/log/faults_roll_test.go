package log

// Failed writes and directory fsyncs in the middle of a roll, a topic's
// deletion or its change leave nothing that loses an acknowledged append
// or serves wrong data; and retention, compaction and reads at once, or
// retention cut by a power failure, serve every record at its offset.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// rollFaultEnv is faultEnv with a clock, for retention, and a topic "t"
// of the given settings.
type rollFaultEnv struct {
	*faultEnv
	clock *testClock
}

func newRollFaultEnv(t *testing.T, segmentBytes int64, cfg storage.TopicConfig) *rollFaultEnv {
	r := &rollFaultEnv{faultEnv: &faultEnv{t: t, mem: faultfs.New(), fault: &diskFault{}}, clock: newTestClock()}
	r.opts = Options{FS: faultfs.Wrap(r.mem, r.fault.inject), RetentionInterval: -1, SegmentBytes: segmentBytes, Now: r.clock.Now}
	r.e = r.open()
	if err := r.e.CreateTopic(context.Background(), "t", cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rollFaultEnv) reopen() {
	r.t.Helper()
	if err := r.e.Close(); err != nil {
		r.t.Fatalf("close: %v", err)
	}
	r.e = r.open()
}

func (r *rollFaultEnv) mustAppend(p int, v string) int64 {
	r.t.Helper()
	base, err := appendOne(r.e, p, v)
	if err != nil {
		r.t.Fatalf("append %s: %v", v, err)
	}
	return base
}

// readAt returns "offset=value" of every record Read returns from offset.
func (r *rollFaultEnv) readAt(p int, offset int64) (string, error) {
	recs, err := r.e.Read(context.Background(), "t", p, offset, 100, 1<<20)
	var out []string
	for _, rec := range recs {
		out = append(out, fmt.Sprintf("%d=%s", rec.Offset, rec.Value))
	}
	return strings.Join(out, ","), err
}

func isPath(want string) func(string) bool { return func(p string) bool { return p == want } }

// A retention pass rolls an aged active segment, and the directory fsync
// after creating the next segment fails: the roll fails with the old
// segment's index and the new, empty segment already on disk. The next
// append rolls before it writes (with a retention under minRollAge it
// would not otherwise), so the old segment never grows past its index:
// after a restart every acknowledged record is served and no offset is
// given twice.
func TestFaults_AFailedRollKeepsTheAppendsAfterItAcrossARestart(t *testing.T) {
	r := newRollFaultEnv(t, 1<<20, storage.TopicConfig{Partitions: 1, RetentionAge: 10 * time.Second})
	r.mustAppend(0, "a")
	r.clock.advance(20 * time.Second)
	r.fault.arm(faultfs.OpSyncDir, syscall.EIO, isPath("/data/topics/t/0"))
	if err := r.e.EnforceRetention(); err == nil || r.fault.hit() == 0 {
		t.Fatalf("retention: %v (fault met %d times), want the injected error", err, r.fault.hit())
	}
	r.fault.disarm()
	if b, c := r.mustAppend(0, "b"), r.mustAppend(0, "c"); b != 1 || c != 2 {
		t.Fatalf("acknowledged at %d and %d", b, c)
	}
	before, err := r.readAt(0, 0)
	t.Logf("before restart: %s (%v)", before, err)
	r.reopen()
	after, err := r.readAt(0, 0)
	t.Logf("after restart:  %s (%v)", after, err)
	_, end, _ := r.e.Offsets(context.Background(), "t", 0)
	next, aerr := appendOne(r.e, 0, "d")
	t.Logf("end offset %d; next append got offset %d (%v)", end, next, aerr)
	if after != before || end != 3 || next != 3 {
		t.Fatalf("acknowledged records lost or offsets reused: before %q, after %q, end %d, next %d", before, after, end, next)
	}
}

// After such a failed roll, a later roll's directory fsync does not make
// a segment that overlaps its neighbours durable: a read from an offset
// past the failed roll serves every acknowledged record.
func TestFaults_AFailedRollLeavesNoSegmentThatMakesReadsSkipRecords(t *testing.T) {
	r := newRollFaultEnv(t, 200, storage.TopicConfig{Partitions: 1, RetentionAge: 10 * time.Second})
	r.mustAppend(0, "a") // offset 0
	r.clock.advance(20 * time.Second)
	r.fault.arm(faultfs.OpSyncDir, syscall.EIO, isPath("/data/topics/t/0"))
	if err := r.e.EnforceRetention(); err == nil {
		t.Fatal("retention: want the injected error")
	}
	r.fault.disarm()
	r.mustAppend(0, "b") // offset 1, into the old segment
	r.mustAppend(0, "c") // offset 2; the segment is now over 200 bytes
	r.mustAppend(0, "d") // offset 3: rolls (segment 3 created, directory synced)
	r.e.Close()
	if rep, err := Check("/data", CheckOptions{FS: r.mem}); err == nil {
		t.Logf("herald check before restart: %d finding(s) %v", len(rep.Findings), rep.Findings)
	}
	r.e = r.open()
	got, err := r.readAt(0, 1)
	t.Logf("read from offset 1 after restart: %q (%v)", got, err)
	if err != nil || !strings.HasPrefix(got, "1=b,2=c") {
		t.Fatalf("read from offset 1: %q, %v; want 1=b,2=c,3=d", got, err)
	}
}

// DeleteTopic renames the topic directory, then fsyncs the topics
// directory. When that fsync fails, DeleteTopic reports failure and puts
// the directory back: the appends it goes on acknowledging are there
// after a restart, not in a .deleted- directory the next Open removes.
func TestFaults_AFailedDeleteTopicLeavesTheTopicWhole(t *testing.T) {
	r := newRollFaultEnv(t, 1<<20, storage.TopicConfig{Partitions: 1})
	r.mustAppend(0, "a")
	r.fault.arm(faultfs.OpSyncDir, syscall.EIO, isPath("/data/topics"))
	if err := r.e.DeleteTopic(context.Background(), "t"); err == nil {
		t.Fatal("delete: want the injected error")
	}
	r.fault.disarm()
	if _, err := r.e.Topic(context.Background(), "t"); err != nil {
		t.Fatalf("after a failed delete the topic should still be there: %v", err)
	}
	r.mustAppend(0, "b") // acknowledged
	r.reopen()
	if _, err := r.e.Topic(context.Background(), "t"); err != nil {
		t.Fatalf("after restart: %v; the topic, with the acknowledged append b, is gone", err)
	}
}

// UpdateTopic opens the new partitions before it writes topic.json. When
// the metadata write fails, it closes them again: no append to them is
// acknowledged that a restart (which reads the old partition count) would
// lose.
func TestFaults_AFailedUpdateTopicLeavesNoNewPartition(t *testing.T) {
	r := newRollFaultEnv(t, 1<<20, storage.TopicConfig{Partitions: 1})
	r.fault.arm(faultfs.OpRename, syscall.EIO, isPath("/data/topics/t/topic.json.tmp"))
	if err := r.e.UpdateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err == nil {
		t.Fatal("update: want the injected error")
	}
	r.fault.disarm()
	info, _ := r.e.Topic(context.Background(), "t")
	base, err := appendOne(r.e, 1, "x")
	t.Logf("topic reports %d partition(s); append to partition 1: offset %d, err %v", info.Config.Partitions, base, err)
	if err != nil {
		return // refused: fine
	}
	r.reopen()
	if _, _, err := r.e.Offsets(context.Background(), "t", 1); err != nil {
		t.Fatalf("acknowledged append to partition 1 lost after restart: %v", err)
	}
}

// An append that picks a partition UpdateTopic has just opened, while
// the metadata write that would make it part of the topic fails, is
// refused with ErrUnknownPartition once UpdateTopic closes the partition
// again; the committer does not panic on the closed partition.
func TestFaults_AnAppendToAPartitionAFailedUpdateTopicClosedIsRefused(t *testing.T) {
	r := newRollFaultEnv(t, 1<<20, storage.TopicConfig{Partitions: 1})
	appended := make(chan error, 1)
	r.fault.arm(faultfs.OpRename, syscall.EIO, func(path string) bool {
		if path != "/data/topics/t/topic.json.tmp" {
			return false
		}
		// Partition 1 is open: an append picks it and waits for the
		// committer, which waits for UpdateTopic to let go of the topic.
		go func() {
			_, err := appendOne(r.e, 1, "x")
			appended <- err
		}()
		time.Sleep(100 * time.Millisecond)
		return true
	})
	if err := r.e.UpdateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err == nil {
		t.Fatal("update: want the injected error")
	}
	r.fault.disarm()
	if err := <-appended; !errors.Is(err, storage.ErrUnknownPartition) {
		t.Fatalf("append to the partition the failed update added: %v, want storage.ErrUnknownPartition", err)
	}
	if v := r.mustAppend(0, "a"); v != 0 {
		t.Fatalf("append to partition 0 after the failed update: offset %d", v)
	}
}

// Appends, reads of every third offset from the start, retention and
// compaction all at once: run with -race. Every record a read returns must
// be the one appended at its offset.
func TestRetention_CompactionAndReadsAtOnceServeEveryRecordAtItsOffset(t *testing.T) {
	e, err := Open("/data", Options{FS: faultfs.New(), RetentionInterval: -1, SegmentBytes: 400, Now: newTestClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if err := e.CreateTopic(ctx, "t", storage.TopicConfig{Partitions: 2, Compact: true, RetentionBytes: 4000}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	// untilStopped runs step over and over until stop closes or step fails.
	untilStopped := func(step func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for p := 0; p < 2; p++ {
		i := 0
		untilStopped(func() error {
			r := rec(fmt.Sprint("k", i%7), fmt.Sprint(p, ":", i)) // the i-th append of p is at offset i
			i++
			_, err := e.Append(ctx, "t", []storage.PartitionRecords{{Partition: p, Records: []storage.Record{r}}})
			return err
		})
		untilStopped(func() error {
			start, end, err := e.Offsets(ctx, "t", p)
			if err != nil {
				return err
			}
			for o := start; o < end; o += 3 {
				recs, err := e.Read(ctx, "t", p, o, 10, 1<<20)
				if errors.Is(err, storage.ErrOffsetOutOfRange) {
					return nil // retention moved the start
				}
				if err != nil {
					return fmt.Errorf("read %d at %d: %w", p, o, err)
				}
				for _, r := range recs {
					if r.Offset < o || string(r.Value) != fmt.Sprint(p, ":", r.Offset) {
						return fmt.Errorf("partition %d read at %d: offset %d holds %q", p, o, r.Offset, r.Value)
					}
				}
			}
			return nil
		})
	}
	untilStopped(func() error {
		if err := e.EnforceRetention(); err != nil {
			return err
		}
		return e.Compact()
	})
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A power cut at any write of appends with retention by size running
// every few of them loses no acknowledged append that retention kept.
func TestPowerCut_DuringRetentionLosesNothingAcknowledged(t *testing.T) {
	cutAtEveryWrite(t, func(fsys vfs.FS) (bool, map[[2]int64]string) {
		return appendWorkload(fsys, storage.TopicConfig{Partitions: 2, RetentionBytes: 700}, 30, 4)
	})
}
