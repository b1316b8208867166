package log

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// syncCounter counts fsyncs of segment files.
type syncCounter struct{ n atomic.Int64 }

func (c *syncCounter) inject(op faultfs.Op, path string) error {
	if op == faultfs.OpSync && strings.HasSuffix(path, ".log") {
		c.n.Add(1)
	}
	return nil
}

func syncModeEngine(t *testing.T, mode SyncMode, interval time.Duration) (*Engine, *syncCounter) {
	t.Helper()
	c := &syncCounter{}
	opts := Options{FS: faultfs.Wrap(faultfs.New(), c.inject), Sync: mode, SyncInterval: interval, RetentionInterval: -1}
	return openWithTopic(t, opts, storage.TopicConfig{Partitions: 1}), c
}

// openWithTopic opens an engine on "/data" of opts.FS, closed when the
// test ends, with topic "t" of cfg made.
func openWithTopic(t *testing.T, opts Options, cfg storage.TopicConfig) *Engine {
	t.Helper()
	e, err := Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.CreateTopic(context.Background(), "t", cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSyncMode_AlwaysFsyncsBeforeEachAcknowledgement(t *testing.T) {
	e, c := syncModeEngine(t, SyncAlways, 0)
	for i := 0; i < 10; i++ {
		before := c.n.Load()
		if _, err := appendOne(e, 0, "x"); err != nil {
			t.Fatal(err)
		}
		if c.n.Load() == before {
			t.Fatalf("append %d was acknowledged without an fsync", i)
		}
	}
}

func TestSyncMode_NoneFsyncsOnlyOnClose(t *testing.T) {
	e, c := syncModeEngine(t, SyncNone, 0)
	for i := 0; i < 10; i++ {
		if _, err := appendOne(e, 0, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.n.Load(); n != 0 {
		t.Fatalf("%d fsyncs in mode none", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if c.n.Load() == 0 {
		t.Fatal("close did not fsync")
	}
}

// Sync fsyncs a topic's appends when asked, in the modes that do not
// before acknowledging them, and only then; in mode always there is nothing
// left to fsync. After it, the topic is still written to and closed whole.
func TestSyncMode_SyncFsyncsATopicOnlyWhereAppendsDidNot(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			e, c := syncModeEngine(t, mode, time.Hour)
			if _, err := appendOne(e, 0, "x"); err != nil {
				t.Fatal(err)
			}
			before := c.n.Load()
			if err := e.Sync(context.Background(), "t"); err != nil {
				t.Fatal(err)
			}
			if synced := c.n.Load() > before; synced != (mode != SyncAlways) {
				t.Fatalf("Sync fsynced: %v, want %v", synced, mode != SyncAlways)
			}
			if _, err := appendOne(e, 0, "y"); err != nil {
				t.Fatal(err)
			}
			if err := e.Sync(context.Background(), "nope"); !errors.Is(err, storage.ErrUnknownTopic) {
				t.Fatalf("Sync of a topic that does not exist: %v, want ErrUnknownTopic", err)
			}
		})
	}
}

func TestSyncMode_IntervalFsyncsInTheBackground(t *testing.T) {
	e, c := syncModeEngine(t, SyncInterval, 10*time.Millisecond)
	for i := 0; i < 10; i++ {
		if _, err := appendOne(e, 0, "x"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.n.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background fsync within 5s at a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseSyncMode(t *testing.T) {
	for in, want := range map[string]SyncMode{"always": SyncAlways, "": SyncAlways, "interval": SyncInterval, "none": SyncNone} {
		if got, err := ParseSyncMode(in); err != nil || got != want {
			t.Errorf("ParseSyncMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSyncMode("sometimes"); err == nil || !strings.Contains(err.Error(), "always, interval or none") {
		t.Errorf("bad mode error: %v", err)
	}
}

// syncModeWorkload appends 40 events, one at a time, alternately to the
// two partitions of topic "t" on small segments, so both roll several
// times. It returns the values of each partition in offset order.
func syncModeWorkload(t *testing.T, e *Engine) map[int][]string {
	t.Helper()
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for i := 0; i < 40; i++ {
		p, v := i%2, fmt.Sprintf("v%d", i)
		if _, err := appendOne(e, p, v); err != nil {
			t.Fatal(err)
		}
		want[p] = append(want[p], v)
	}
	return want
}

// valuesAfter opens fsys as Herald would after a crash and returns the
// values each partition of "t" holds, in offset order from offset 0.
func valuesAfter(t *testing.T, fsys vfs.FS) map[int][]string {
	t.Helper()
	e, err := Open("/data", Options{FS: fsys, SegmentBytes: 600, RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer e.Close()
	got := map[int][]string{}
	for p := 0; p < 2; p++ {
		recs, err := e.Read(context.Background(), "t", p, 0, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: offset %d at index %d", p, r.Offset, i)
			}
			got[p] = append(got[p], string(r.Value))
		}
	}
	return got
}

// In mode interval an append is acknowledged once it is written: a crash
// of the process loses none, and a power cut none acknowledged before the
// last background fsync, in every partition and across segment rolls.
func TestSyncMode_IntervalLosesNothingToACrashAndNothingFsyncedToAPowerCut(t *testing.T) {
	mem, c := faultfs.New(), &syncCounter{}
	e, err := Open("/data", Options{FS: faultfs.Wrap(mem, c.inject), Sync: SyncInterval, SyncInterval: 20 * time.Millisecond,
		SegmentBytes: 600, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := syncModeWorkload(t, e)
	if got := valuesAfter(t, mem.Clone()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a process crash:\n got %v\nwant %v", got, want)
	}
	// Two rounds over both partitions: at least one began after the last append.
	before := c.n.Load()
	deadline := time.Now().Add(5 * time.Second)
	for c.n.Load() < before+4 {
		if time.Now().After(deadline) {
			t.Fatal("no background fsync of both partitions within 5s at a 20ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := valuesAfter(t, mem.Crash(faultfs.CrashOptions{})); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a power cut that followed a background fsync:\n got %v\nwant %v", got, want)
	}
}

// In mode none a power cut keeps every segment a roll sealed (the roll
// fsyncs it) and may take the rest; after a clean close it takes nothing.
func TestSyncMode_NoneKeepsRolledSegmentsAndAfterACloseEverything(t *testing.T) {
	mem := faultfs.New()
	e, err := Open("/data", Options{FS: mem, Sync: SyncNone, SegmentBytes: 600, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := syncModeWorkload(t, e)
	tp, err := e.topic("t")
	if err != nil {
		t.Fatal(err)
	}
	got := valuesAfter(t, mem.Crash(faultfs.CrashOptions{}))
	for p, part := range tp.partitions() {
		sealed := int(part.active().base)
		if sealed == 0 {
			t.Fatalf("partition %d never rolled", p)
		}
		if len(got[p]) < sealed || !reflect.DeepEqual(got[p], want[p][:len(got[p])]) {
			t.Fatalf("partition %d after a power cut: %v, want at least the %d sealed events of %v", p, got[p], sealed, want[p])
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if got := valuesAfter(t, mem.Crash(faultfs.CrashOptions{})); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a power cut that followed a close:\n got %v\nwant %v", got, want)
	}
}

// With fsync always, no reader sees an append before its fsync returns:
// until then a power cut could take it back.
func TestSyncMode_AlwaysShowsReadersNothingBeforeItsFsyncReturns(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var holding atomic.Bool
	inject := func(op faultfs.Op, path string) error {
		if op == faultfs.OpSync && strings.HasSuffix(path, ".log") && holding.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
		return nil
	}
	e := openWithTopic(t, Options{FS: faultfs.Wrap(faultfs.New(), inject), RetentionInterval: -1}, storage.TopicConfig{Partitions: 1})
	ctx := context.Background()
	if _, err := appendOne(e, 0, "a"); err != nil {
		t.Fatal(err)
	}
	holding.Store(true)
	appended := make(chan error, 1)
	go func() {
		_, err := appendOne(e, 0, "b")
		appended <- err
	}()
	<-held // b is written; its fsync has not returned
	if _, end, err := e.Offsets(ctx, "t", 0); err != nil || end != 1 {
		t.Errorf("during the fsync the partition ends at %d (%v), want 1", end, err)
	}
	if got := strings.Join(values(t, e, 0), ","); got != "a" {
		t.Errorf("during the fsync readers see %s, want a", got)
	}
	select {
	case err := <-appended:
		t.Errorf("the append was answered (%v) before its fsync returned", err)
	default:
	}
	close(release)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(values(t, e, 0), ","); got != "a,b" {
		t.Fatalf("after the fsync readers see %s, want a,b", got)
	}
}

// In mode interval a background fsync that fails stops the partition as
// a failed fsync of a publish does: it is not tried again and trusted.
func TestSyncMode_IntervalFailedBackgroundFsyncStopsThePartition(t *testing.T) {
	var failing atomic.Bool
	inject := func(op faultfs.Op, path string) error {
		if failing.Load() && op == faultfs.OpSync && strings.Contains(path, "/t/0/") {
			return syscall.EIO
		}
		return nil
	}
	e := openWithTopic(t, Options{FS: faultfs.Wrap(faultfs.New(), inject), Sync: SyncInterval, SyncInterval: 10 * time.Millisecond, RetentionInterval: -1}, storage.TopicConfig{Partitions: 2})
	if _, err := appendOne(e, 0, "a"); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := appendOne(e, 0, "b")
		if errors.Is(err, storage.ErrUnavailable) && strings.Contains(err.Error(), "fsync") {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("appends after a failed background fsync: %v, want storage_unavailable naming the fsync", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	failing.Store(false)
	time.Sleep(50 * time.Millisecond) // background fsyncs that now succeed change nothing
	if _, err := appendOne(e, 0, "c"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("the partition took writes again after a failed fsync: %v", err)
	}
	if _, err := appendOne(e, 1, "other"); err != nil {
		t.Fatalf("the other partition stopped too: %v", err)
	}
}
