package log

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
)

// PartitionBytes is what the partition's .log files hold, across segments
// and after a reopen, without reading the disk; a partition the topic
// lacks is an error.
func TestEngine_PartitionBytesIsTheSizeOfTheSegmentFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{SegmentBytes: 4096, RetentionInterval: -1}
	e, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(ctx, "orders", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.PartitionBytes("orders", 0); err != nil || n != 0 {
		t.Fatalf("empty partition: %d bytes, %v; want 0", n, err)
	}
	for i := range 300 {
		if _, err := e.Append(ctx, "orders", []storage.PartitionRecords{{Partition: 0, Records: []storage.Record{rec("k", fmt.Sprint(i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	onDisk := func() int64 {
		t.Helper()
		logs, err := filepath.Glob(filepath.Join(dir, topicsDir, "orders", "0", "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, l := range logs {
			fi, err := os.Stat(l)
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		if len(logs) < 3 {
			t.Fatalf("%d segment files, want several", len(logs))
		}
		return n
	}
	check := func(e *Engine) {
		t.Helper()
		n, err := e.PartitionBytes("orders", 0)
		if want := onDisk(); err != nil || n != want {
			t.Fatalf("PartitionBytes %d, %v; the .log files hold %d", n, err, want)
		}
		if n, err := e.PartitionBytes("orders", 1); err != nil || n != 0 {
			t.Fatalf("untouched partition: %d bytes, %v; want 0", n, err)
		}
		if _, err := e.PartitionBytes("orders", 2); !errors.Is(err, storage.ErrUnknownPartition) {
			t.Fatalf("partition 2: %v, want ErrUnknownPartition", err)
		}
		if _, err := e.PartitionBytes("nope", 0); !errors.Is(err, storage.ErrUnknownTopic) {
			t.Fatalf("unknown topic: %v, want ErrUnknownTopic", err)
		}
	}
	check(e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	check(e)
}
