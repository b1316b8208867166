package log

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// In modes interval and none, the writes made after the last fsync can
// reach the disk in any order: a power cut can leave zeros between later
// writes. Each partition's sync mark says how far its active segment was
// fsynced; what is bad past it is cut on open like a torn tail, so the
// partition takes writes again. Everything up to the mark is kept.
func TestSyncMark_AHoleAPowerCutLeftAfterTheLastFsyncIsCutAndThePartitionTakesWrites(t *testing.T) {
	for _, mode := range []SyncMode{SyncNone, SyncInterval} {
		for _, reopenIn := range []SyncMode{mode, SyncAlways} {
			t.Run(fmt.Sprintf("%v/reopen_%v", mode, reopenIn), func(t *testing.T) {
				mem := faultfs.New()
				opts := Options{FS: mem, Sync: mode, SyncInterval: time.Hour, SegmentBytes: 600, RetentionInterval: -1}
				e, err := Open("/data", opts)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				want := syncModeWorkload(t, e)
				tp, err := e.topic("t")
				if err != nil {
					t.Fatal(err)
				}
				sealed := map[int]int{}
				for p, part := range tp.partitions() {
					sealed[p] = int(part.active().base)
				}
				cut := 0
				for seed := range uint64(40) {
					after := mem.Crash(faultfs.CrashOptions{Holes: true, Rand: rand.New(rand.NewPCG(seed, 3))})
					opts := opts
					opts.FS, opts.Sync = after, reopenIn
					e2, err := Open("/data", opts)
					if err != nil {
						t.Fatalf("seed %d: open after the power cut: %v", seed, err)
					}
					for p := range 2 {
						got := values(t, e2, p)
						if len(got) < sealed[p] || !reflect.DeepEqual(got, want[p][:len(got)]) {
							t.Fatalf("seed %d partition %d: %v, want at least the %d fsynced events of %v", seed, p, got, sealed[p], want[p])
						}
						if len(got) < len(want[p]) {
							cut++
						}
						off, err := appendOne(e2, p, "after")
						if err != nil || off != int64(len(got)) {
							t.Fatalf("seed %d partition %d: append after the power cut: offset %d, %v; want offset %d", seed, p, off, err, len(got))
						}
					}
					if err := e2.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if cut == 0 {
					t.Fatal("no power cut lost an event: the holes missed the unsynced writes")
				}
			})
		}
	}
}

// The mark never makes damage to fsynced data look like a lost write:
// damage before it is reported and not cut, in every mode.
func TestSyncMark_DamageBeforeTheMarkIsReportedNotCut(t *testing.T) {
	for _, mode := range []SyncMode{SyncNone, SyncInterval, SyncAlways} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			c := newCorruptEnv(t, testDisks[1], Options{Sync: mode, SyncInterval: time.Hour})
			e := c.open()
			c.fill(e, 7, 2)
			if err := e.Close(); err != nil { // fsyncs, and marks the whole segment
				t.Fatal(err)
			}
			path := c.segPath(0)
			size := c.size(path)
			victim := c.batches(0)[3]
			c.flip(path, victim.pos+int64(victim.info.size)-3, 0x40)

			e = c.open()
			if got := c.size(path); got != size {
				t.Fatalf("segment is %d bytes after reopen, was %d: recovery cut fsynced data", got, size)
			}
			c.wantRecords(e, 0, victim.info.baseOffset)
			_, err := c.append(e, "refused")
			wantCorruptAt(t, "append", err, path, victim.pos, true)
		})
	}
}

// In mode always the background tick marks what the group commits
// fsynced, without an fsync of the segment of its own.
func TestSyncMark_ModeAlwaysMarksWhatItsGroupCommitsFsynced(t *testing.T) {
	mem, c := faultfs.New(), &syncCounter{}
	e := openWithTopic(t, Options{FS: faultfs.Wrap(mem, c.inject), SyncInterval: 5 * time.Millisecond, SegmentBytes: 1 << 20, RetentionInterval: -1}, storage.TopicConfig{Partitions: 1})
	for i := range 5 {
		if _, err := appendOne(e, 0, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	fsyncs := c.n.Load()
	dir := filepath.Join("/data", topicsDir, "t", "0")
	size := int64(len(readWhole(t, mem, filepath.Join(dir, segmentName(0)+".log"))))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m, ok := readSyncMark(mem.Crash(faultfs.CrashOptions{}), dir); ok && m.base == 0 && m.length == size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no durable mark of the 5 appends within 5s at a 5ms tick")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := c.n.Load(); n != fsyncs {
		t.Fatalf("the tick fsynced the segment %d times; its appends had fsynced it already", n-fsyncs)
	}
}

// herald check tells a lost write past the mark (Herald cuts it on open)
// from damage (which takes herald repair).
func TestSyncMark_CheckSaysOpenCutsWhatIsBadPastTheMark(t *testing.T) {
	mem := faultfs.New()
	e, err := Open("/data", Options{FS: mem, Sync: SyncNone, SegmentBytes: 1 << 20, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	syncModeWorkload(t, e)
	for seed := range uint64(20) {
		after := mem.Crash(faultfs.CrashOptions{Holes: true, Rand: rand.New(rand.NewPCG(seed, 5))})
		rep, err := Check("/data", CheckOptions{FS: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rep.Findings {
			if f.Kind != kindTornTail || f.FixedBy != fixedByOpen {
				t.Fatalf("seed %d: finding %+v, want only torn tails that Herald cuts on open", seed, f)
			}
			if !strings.Contains(f.Detail, "after the last fsync") {
				t.Fatalf("seed %d: finding %q does not say the write came after the last fsync", seed, f.Detail)
			}
		}
		if len(rep.Findings) == 0 {
			continue
		}
		return
	}
	t.Fatal("no power cut left a hole for check to find")
}

// In mode interval the background fsync moves the mark: after it, a power
// cut keeps every event it covered, however the writes after it are lost.
func TestSyncMark_TheBackgroundFsyncMovesTheMark(t *testing.T) {
	mem := faultfs.New()
	opts := Options{FS: mem, Sync: SyncInterval, SyncInterval: 5 * time.Millisecond, SegmentBytes: 1 << 20, RetentionInterval: -1}
	e, err := Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := syncModeWorkload(t, e)
	dir := filepath.Join("/data", topicsDir, "t", "0")
	size := readWhole(t, mem, filepath.Join(dir, segmentName(0)+".log"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m, ok := readSyncMark(mem.Crash(faultfs.CrashOptions{}), dir); ok && m.base == 0 && m.length == int64(len(size)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no durable mark of the whole segment within 5s at a 5ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 6 {
		if _, err := appendOne(e, 0, fmt.Sprintf("late%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	after := mem.Crash(faultfs.CrashOptions{Holes: true, Rand: rand.New(rand.NewPCG(1, 1))})
	opts.FS = after
	e2, err := Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	got := values(t, e2, 0)
	if len(got) < len(want[0]) || !reflect.DeepEqual(got[:len(want[0])], want[0]) {
		t.Fatalf("after the power cut partition 0 holds %v, want the %d marked events %v first", got, len(want[0]), want[0])
	}
	if _, err := appendOne(e2, 0, "again"); err != nil {
		t.Fatalf("append after the power cut: %v", err)
	}
}

// An fsync the engine makes for a caller (Sync, which orders a dead letter
// before the record that its event is done) or before compaction moves
// the mark too: damage to what it made durable is reported, not cut with
// everything after it as a write a power cut lost.
func TestSyncMark_DamageToWhatAnFsyncOnRequestCoveredIsReportedNotCut(t *testing.T) {
	fsyncs := map[string]func(*Engine) error{
		"Sync":    func(e *Engine) error { return e.Sync(context.Background(), "t") },
		"Compact": func(e *Engine) error { return e.Compact() },
	}
	for name, fsync := range fsyncs {
		t.Run(name, func(t *testing.T) {
			mem := faultfs.New()
			opts := Options{FS: mem, Sync: SyncNone, RetentionInterval: -1}
			e := openWithTopic(t, opts, storage.TopicConfig{Partitions: 1, Compact: true})
			for i := range 7 {
				if _, err := appendOne(e, 0, fmt.Sprintf("v%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := fsync(e); err != nil {
				t.Fatal(err)
			}
			after := mem.Crash(faultfs.CrashOptions{}) // everything was fsynced: nothing is lost
			path := filepath.Join("/data", topicsDir, "t", "0", segmentName(0)+".log")
			seg := readWhole(t, after, path)
			victim := walkBatches(seg)[3]
			c := &corruptEnv{t: t, fs: after}
			c.flip(path, victim.pos+int64(victim.info.size)-3, 0x40)

			opts.FS = after
			e2, err := Open("/data", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			if got := c.size(path); got != int64(len(seg)) {
				t.Fatalf("segment is %d bytes after reopen, was %d: recovery cut data an fsync had made durable", got, len(seg))
			}
			_, err = appendOne(e2, 0, "refused")
			wantCorruptAt(t, "append", err, path, victim.pos, true)
		})
	}
}

// A deleted topic's directory is gone when its partitions close: there is
// no mark to write, and no warning that writing it failed.
func TestSyncMark_DeletingATopicWarnsOfNoMark(t *testing.T) {
	for _, mode := range []SyncMode{SyncNone, SyncInterval} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			var logs strings.Builder
			mem := faultfs.New()
			e := openWithTopic(t, Options{FS: mem, Sync: mode, SyncInterval: time.Hour, RetentionInterval: -1,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, storage.TopicConfig{Partitions: 2})
			ctx := context.Background()
			if _, err := appendOne(e, 0, "v"); err != nil {
				t.Fatal(err)
			}
			if err := e.DeleteTopic(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			if logs.Len() > 0 {
				t.Fatalf("deleting a topic logged:\n%s", logs.String())
			}
		})
	}
}

// After a clean close the mark covers everything, so the next open writes
// and fsyncs nothing for it; after a crash of the process it fsyncs what
// the page cache may still hold, and marks it.
func TestSyncMark_AnOpenAfterACleanCloseWritesNothing(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNone} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			mem := faultfs.New()
			opts := Options{FS: mem, Sync: mode, SyncInterval: time.Hour, RetentionInterval: -1}
			e, err := Open("/data", opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := appendOne(e, 0, "v"); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			var writes []string
			opts.FS = faultfs.Wrap(mem, func(op faultfs.Op, path string) error {
				if (op == faultfs.OpWrite || op == faultfs.OpSync) && strings.Contains(path, "/topics/") {
					writes = append(writes, fmt.Sprint(op, " ", path))
				}
				return nil
			})
			e, err = Open("/data", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if len(writes) > 0 {
				t.Fatalf("open after a clean close wrote or fsynced %v", writes)
			}
		})
	}
}

// A partition whose last segment is damaged when it opens is read-only
// and not fsynced at open: what lies before the damage may be in the page
// cache only, left by a process that crashed. In mode always the tick
// must not mark it durable, or a power cut that then lost it would leave
// a hole before the mark, reported as damage instead of cut.
func TestSyncMark_ModeAlwaysNeverMarksAPartitionThatOpenedDamaged(t *testing.T) {
	mem := faultfs.New()
	e := openWithTopic(t, Options{FS: mem, Sync: SyncNone, RetentionInterval: -1}, storage.TopicConfig{Partitions: 1})
	for i := range 4 {
		if _, err := appendOne(e, 0, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.Clone() // the process died: its writes are in the page cache, none fsynced
	dir := filepath.Join("/data", topicsDir, "t", "0")
	if err := crashed.Remove(filepath.Join(dir, syncMarkFile)); err != nil { // as a data directory from before sync marks
		t.Fatal(err)
	}
	path := filepath.Join(dir, segmentName(0)+".log")
	victim := walkBatches(readWhole(t, crashed, path))[2]
	(&corruptEnv{t: t, fs: crashed}).flip(path, victim.pos+int64(victim.info.size)-3, 0x40)

	e2, err := Open("/data", Options{FS: crashed, SyncInterval: time.Millisecond, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if _, err := appendOne(e2, 0, "refused"); err == nil {
		t.Fatal("a partition whose last segment is damaged took an append")
	}
	time.Sleep(50 * time.Millisecond) // 50 ticks
	after := crashed.Crash(faultfs.CrashOptions{})
	durable := int64(len(readWhole(t, after, path)))
	if m, ok := readSyncMark(after, dir); ok && m.base == 0 && m.length > durable {
		t.Fatalf("the sync mark says %d bytes were fsynced; %d are on disk", m.length, durable)
	}
}

// In mode always the tick writes its marks without the topic's write
// lock, so a deletion can rename the topic's directory between the tick
// taking a partition's mark and writing it. The deletion is no reason to
// warn that the mark cannot be written.
func TestSyncMark_DeletingATopicUnderTheModeAlwaysTickWarnsOfNoMark(t *testing.T) {
	var (
		logs         strings.Builder
		armed, fired atomic.Bool
		once         sync.Once
		renamed      = make(chan struct{})
		deleted      = make(chan error, 1)
		e            *Engine
	)
	fsys := faultfs.Wrap(faultfs.New(), func(op faultfs.Op, path string) error {
		switch {
		case op == faultfs.OpCreate && strings.HasSuffix(path, syncMarkFile) && armed.Load() && fired.CompareAndSwap(false, true):
			go func() { deleted <- e.DeleteTopic(context.Background(), "t") }()
			select { // the tick took its mark before the deletion renamed the directory, and writes it after
			case <-renamed:
			case <-time.After(200 * time.Millisecond): // or the deletion waits for it
			}
		case op == faultfs.OpSyncDir && path == filepath.Join("/data", topicsDir) && fired.Load():
			once.Do(func() { close(renamed) }) // buryTopic renamed the directory and makes that durable
		}
		return nil
	})
	e = openWithTopic(t, Options{FS: fsys, SyncInterval: time.Millisecond, RetentionInterval: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, storage.TopicConfig{Partitions: 1})
	armed.Store(true)
	if _, err := appendOne(e, 0, "v"); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if logs.Len() > 0 {
		t.Fatalf("deleting a topic logged:\n%s", logs.String())
	}
}
