package log

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/storage"
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
	e, err := Open("/data", Options{FS: faultfs.Wrap(faultfs.New(), c.inject), Sync: mode, SyncInterval: interval, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return e, c
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
