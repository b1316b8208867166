package log

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

func TestOpen_SecondEngineOnOneDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(dir, Options{RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{RetentionInterval: -1}); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second open: %v, want the directory locked", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(dir, Options{RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	e2.Close()
}

func TestAppend_RacingDeleteTopicNeverHangs(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		e, err := Open(t.TempDir(), Options{RetentionInterval: -1, Sync: SyncNone})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.CreateTopic(ctx, "t", storage.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					if _, err := appendTo(e, "t"); err != nil {
						return // the topic is gone: an error, never a hang
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		if err := e.DeleteTopic(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("appends still blocked 10s after DeleteTopic returned")
		}
		e.Close()
	}
}

func appendTo(e *Engine, topic string) (int64, error) {
	bases, err := e.Append(context.Background(), topic, []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{rec("k", "v")}}})
	if err != nil {
		return 0, err
	}
	return bases[0], nil
}

// A read, wait or append that picked a topic's partition just before the
// topic was deleted answers storage.ErrUnknownTopic, as one a moment
// later does: storage.ErrClosed says the engine was closed, and callers
// take it for that (the embedded client reports itself closed). Once the
// engine is closed, they answer storage.ErrClosed.
func TestDeleteTopic_ReadsAndAppendsCaughtInItAnswerUnknownTopic(t *testing.T) {
	e, err := Open(t.TempDir(), Options{RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	// caught picks topic name's partition 0 and encodes an append to it,
	// and returns what reading, time lookup and appending then answer.
	caught := func(name string) func() map[string]error {
		if err := e.CreateTopic(ctx, name, storage.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := appendTo(e, name); err != nil {
			t.Fatal(err)
		}
		tp, err := e.topic(name)
		if err != nil {
			t.Fatal(err)
		}
		p := tp.parts[0]
		req, err := tp.encode([]storage.PartitionRecords{{Partition: 0, Records: []storage.Record{rec("k", "v")}}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return func() map[string]error {
			_, rerr := p.read(0, 10, 1<<20)
			_, _, oerr := p.offsets()
			_, terr := p.offsetForTime(0)
			return map[string]error{"read": rerr, "offsets": oerr, "time lookup": terr, "append": tp.submit(ctx, req)}
		}
	}
	inDeleted, inClosed := caught("t"), caught("u")
	if err := e.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for what, err := range inDeleted() {
		if !errors.Is(err, storage.ErrUnknownTopic) || errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s caught in the topic's deletion: %v; want storage.ErrUnknownTopic", what, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for what, err := range inClosed() {
		if !errors.Is(err, storage.ErrClosed) || errors.Is(err, storage.ErrUnknownTopic) {
			t.Errorf("%s caught in Close: %v; want storage.ErrClosed", what, err)
		}
	}
}

func TestCreateTopic_RacingCloseLeavesNoTopicRunning(t *testing.T) {
	ctx := context.Background()
	e, err := Open(t.TempDir(), Options{RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				e.CreateTopic(ctx, "t"+string(rune('a'+i))+string(rune('a'+j)), storage.TopicConfig{Partitions: 1})
			}
		}()
	}
	time.Sleep(2 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	e.mu.RLock()
	defer e.mu.RUnlock()
	for name, tp := range e.topics {
		select {
		case <-tp.stopped:
		default:
			t.Fatalf("topic %s still running after Close", name)
		}
	}
}

func TestRoll_TinyRetentionDoesNotRollEveryGroup(t *testing.T) {
	e, err := Open(t.TempDir(), Options{RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1, RetentionAge: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Microsecond)
		if _, err := appendTo(e, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.topics["t"].parts[0].segs); n > 2 {
		t.Fatalf("%d segments after 50 appends with 1ms retention", n)
	}
}

// A topic directory without topic.json is a creation that never finished
// and is removed, unless its partitions hold records: then topic.json was
// lost to damage, and Open refuses rather than delete the records.
func TestOpen_TopicWithRecordsButNoMetadataIsRefusedNotDeleted(t *testing.T) {
	fsys := faultfs.New()
	opts := Options{FS: fsys, RetentionInterval: -1}
	e, err := Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"full", "empty"} {
		if err := e.CreateTopic(context.Background(), name, storage.TopicConfig{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := appendTo(e, "full"); err != nil {
		t.Fatal(err)
	}
	e.Close()
	for _, name := range []string{"full", "empty"} {
		if err := fsys.Remove("/data/topics/" + name + "/topic.json"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Open("/data", opts)
	if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "/data/topics/full/topic.json") || !strings.Contains(err.Error(), "herald repair") {
		t.Fatalf("open: %v; want storage.ErrCorrupt naming the missing topic.json and pointing to herald repair", err)
	}
	if _, err := fsys.Stat("/data/topics/full/0/00000000000000000000.log"); err != nil {
		t.Fatalf("the records were touched: %v", err)
	}
	writeWhole(t, fsys, "/data/topics/full/topic.json", []byte("{"))
	if _, err := Open("/data", opts); !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "herald repair") {
		t.Fatalf("open with a garbled topic.json: %v", err)
	}
}

// A partition that topic.json lists but whose directory or segment files
// are gone lost its records to damage (a partition's files are durable
// before the topic.json that lists it). Open refuses rather than start it
// again at offset 0, which would give new events the offsets of lost
// ones; herald check reports it and herald repair makes it empty.
func TestOpen_PartitionWithoutSegmentsIsRefusedNotStartedAgain(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(fsys *faultfs.MemFS) error
	}{
		{"directory removed", func(fsys *faultfs.MemFS) error { return fsys.RemoveAll("/data/topics/t/1") }},
		{"segment removed", func(fsys *faultfs.MemFS) error {
			return fsys.Remove("/data/topics/t/1/00000000000000000000.log")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := faultfs.New()
			opts := Options{FS: fsys, RetentionInterval: -1}
			e, err := Open("/data", opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := appendOne(e, 1, "v"); err != nil {
					t.Fatal(err)
				}
			}
			e.Close()
			if err := c.damage(fsys); err != nil {
				t.Fatal(err)
			}
			rep, err := Check("/data", CheckOptions{FS: fsys})
			if err != nil || rep.OK() {
				t.Fatalf("check: %v %v, want the missing partition reported", err, rep)
			}
			e, err = Open("/data", opts)
			if err == nil {
				_, end, _ := e.Offsets(context.Background(), "t", 1)
				e.Close()
				t.Fatalf("open started the damaged partition again (end offset %d); want it refused", end)
			}
			if !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), "/data/topics/t/1") || !strings.Contains(err.Error(), "herald repair") {
				t.Fatalf("open: %v; want storage.ErrCorrupt naming the partition and pointing to herald repair", err)
			}
			if _, err := Repair("/data", RepairOptions{FS: fsys}); err != nil {
				t.Fatalf("repair: %v", err)
			}
			e, err = Open("/data", opts)
			if err != nil {
				t.Fatalf("open after repair: %v", err)
			}
			e.Close()
		})
	}
}

// A creation that fails after topic.json is written removes what it made.
// A power cut in the middle of that removal, which a file system may have
// carried out in part without a directory fsync, must not leave
// topic.json without its partitions: Herald would refuse to start. So the
// directory is moved aside first, as a deletion moves it.
func TestCreateTopic_APowerCutWhileAFailedCreationIsRemovedLeavesNoHalfTopic(t *testing.T) {
	mem := faultfs.New()
	var fsys vfs.FS
	inject := func(op faultfs.Op, path string) error {
		switch {
		case op == faultfs.OpSyncDir && strings.HasSuffix(path, "/"+topicsDir):
			// It fails, though what it was to make durable reached the disk.
			if err := mem.SyncDir(path); err != nil {
				t.Fatal(err)
			}
			return errors.New("injected: the directory fsync fails")
		case op == faultfs.OpRemoveAll && strings.Contains(path, "orders"):
			// The power goes while the files are removed: the partitions
			// are gone durably, the rest is not.
			for _, p := range []string{"0", "1"} {
				if err := mem.RemoveAll(path + "/" + p); err != nil {
					t.Fatal(err)
				}
			}
			if err := mem.SyncDir(path); err != nil {
				t.Fatal(err)
			}
			return errors.New("injected: the power went")
		}
		return nil
	}
	fsys = faultfs.Wrap(mem, inject)
	e, err := Open("/data", Options{FS: fsys, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(context.Background(), "orders", storage.TopicConfig{Partitions: 2}); err == nil {
		t.Fatal("the creation succeeded though its directory fsync failed")
	}
	e2, err := Open("/data", Options{FS: mem.Crash(faultfs.CrashOptions{}), RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open after a power cut in the removal of a failed creation: %v", err)
	}
	defer e2.Close()
	if _, err := e2.Topic(context.Background(), "orders"); !errors.Is(err, storage.ErrUnknownTopic) {
		t.Fatalf("the failed creation's topic: %v, want it unknown", err)
	}
}
